//! One module per verb or small group of verbs; `dispatch` maps the parsed command line to
//! them, including docker's management groups (`berth container ls`, `berth image rm`...).

pub mod cp;
pub mod events;
pub mod exec;
pub mod image_ops;
pub mod images;
pub mod inspect;
pub mod lifecycle;
pub mod login;
pub mod logs;
pub mod mounts;
pub mod network;
pub mod port;
pub mod ps;
pub mod publish;
pub mod run;
pub mod stats;
pub mod system;
pub mod volume;

use super::{Ctx, StatusError};
use anyhow::Result;
use clap::Subcommand;

/// Runs `op` on each name: prints what `op` returns, collects the errors, and fails with
/// them all (docker's behaviour for verbs that take several containers or images).
pub async fn each<F, Fut>(names: &[String], op: F) -> Result<()>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<String>>>,
{
    let mut errors = Vec::new();
    for n in names {
        match op(n.clone()).await {
            Ok(Some(line)) => println!("{line}"),
            Ok(None) => {}
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    fail_with(errors)
}

/// Docker's multi-object verbs go on past a failure and only then exit 1, with each failure on
/// its own line.
pub fn fail_with(errors: Vec<String>) -> Result<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(StatusError {
            code: 1,
            message: Some(errors.join("\n")),
        }
        .into())
    }
}

/// How many positional arguments a verb takes (docker's `cli.ExactArgs` and friends).
#[derive(Clone, Copy, Debug)]
pub enum Arity {
    None,
    Exact(usize),
    Min(usize),
    Max(usize),
    Range(usize, usize),
}

impl Arity {
    /// Docker's error for a wrong count: "'berth VERB' requires 1 argument", the usage line,
    /// and exit status 1.
    pub fn check(self, verb: &str, usage: &str, got: usize) -> Result<()> {
        let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
        let (ok, what, see) = match self {
            Arity::None => (got == 0, "accepts no arguments".to_string(), "Run"),
            Arity::Exact(n) => (got == n, format!("requires {n} {}", plural(n)), "Run"),
            Arity::Min(n) => (
                got >= n,
                format!("requires at least {n} {}", plural(n)),
                "See",
            ),
            Arity::Max(n) => (
                got <= n,
                format!("requires at most {n} {}", plural(n)),
                "Run",
            ),
            Arity::Range(lo, hi) => (
                (lo..=hi).contains(&got),
                format!("requires at least {lo} and at most {hi} {}", plural(hi)),
                "Run",
            ),
        };
        if ok {
            return Ok(());
        }
        Err(StatusError {
            code: 1,
            message: Some(format!(
                "berth: 'berth {verb}' {what}\n\nUsage:  berth {verb} {usage}\n\n{see} 'berth {verb} --help' for more information"
            )),
        }
        .into())
    }
}

/// Verbs that exist both at the top level and under `berth container`.
#[derive(Subcommand, Debug)]
pub enum ContainerVerb {
    /// Create and run a new container from an image
    Run(Box<run::RunArgs>),
    /// Create a new container
    Create(Box<run::CreateArgs>),
    /// Start one or more stopped containers
    Start(lifecycle::StartArgs),
    /// Stop one or more running containers
    Stop(lifecycle::StopArgs),
    /// Restart one or more containers
    Restart(lifecycle::StopArgs),
    /// Kill one or more running containers
    Kill(lifecycle::KillArgs),
    /// Remove one or more containers
    Rm(lifecycle::RmArgs),
    /// List containers
    Ps(ps::PsArgs),
    /// Fetch the logs of a container
    Logs(logs::LogsArgs),
    /// Execute a command in a running container
    Exec(exec::ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(exec::AttachArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(cp::CpArgs),
    /// Display the running processes of a container
    Top(inspect::TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(stats::StatsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(lifecycle::ContainersArgs),
    /// Rename a container
    Rename(lifecycle::RenameArgs),
    /// Pause all processes within one or more containers
    Pause(lifecycle::ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(lifecycle::ContainersArgs),
    /// Update configuration of one or more containers
    Update(inspect::UpdateArgs),
    /// List port mappings or a specific mapping for the container
    Port(port::PortArgs),
}

/// Verbs that exist both at the top level and under `berth image`.
#[derive(Subcommand, Debug)]
pub enum ImageVerb {
    /// Download an image from a registry
    Pull(images::PullArgs),
    /// Upload an image to a registry
    Push(image_ops::PushArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(image_ops::TagArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(image_ops::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(image_ops::LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(image_ops::ImportArgs),
    /// Show the history of an image
    History(image_ops::HistoryArgs),
}

#[derive(Subcommand, Debug)]
pub enum Command {
    #[command(flatten)]
    Container(ContainerVerb),
    #[command(flatten)]
    Image(ImageVerb),
    /// List images
    Images(images::ImagesArgs),
    /// Remove one or more images
    Rmi(image_ops::RmiArgs),
    /// Return low-level information on Berth objects
    Inspect(inspect::InspectArgs),
    /// Log in to a registry
    Login(login::LoginArgs),
    /// Log out from a registry
    Logout(login::LogoutArgs),
    /// Show the Berth version information
    Version(system::VersionArgs),
    /// Display system-wide information
    Info(system::InfoArgs),
    /// Get real time events from the server
    Events(events::EventsArgs),
    /// Manage containers
    #[command(name = "container", subcommand)]
    ContainerGroup(ContainerCommand),
    /// Manage images
    #[command(name = "image", subcommand)]
    ImageGroup(ImageCommand),
    /// Manage Berth
    #[command(subcommand)]
    System(SystemCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
}

#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    #[command(flatten)]
    Verb(ContainerVerb),
    /// List containers
    #[command(aliases = ["list"])]
    Ls(ps::PsArgs),
    /// Display detailed information on one or more containers
    Inspect(inspect::InspectArgs),
    /// Remove all stopped containers
    Prune(lifecycle::PruneArgs),
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    #[command(flatten)]
    Verb(ImageVerb),
    /// List images
    #[command(alias = "list")]
    Ls(images::ImagesArgs),
    /// Remove one or more images
    #[command(alias = "remove")]
    Rm(image_ops::RmiArgs),
    /// Display detailed information on one or more images
    Inspect(inspect::InspectArgs),
    /// Remove unused images
    Prune(image_ops::ImagePruneArgs),
}

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Display system-wide information
    Info(system::InfoArgs),
    /// Show docker disk usage
    Df(system::DfArgs),
    /// Remove unused data
    Prune(system::SystemPruneArgs),
    /// Get real time events from the server
    Events(events::EventsArgs),
}

impl Command {
    /// The verb as docker names it in "Run 'docker VERB --help'".
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Container(ContainerVerb::Run(_))
            | Command::ContainerGroup(ContainerCommand::Verb(ContainerVerb::Run(_))) => "run",
            Command::Container(ContainerVerb::Create(_))
            | Command::ContainerGroup(ContainerCommand::Verb(ContainerVerb::Create(_))) => "create",
            _ => "",
        }
    }
}

async fn container(ctx: &Ctx, v: ContainerVerb) -> Result<()> {
    match v {
        ContainerVerb::Run(a) => run::run(ctx, *a).await,
        ContainerVerb::Create(a) => run::create(ctx, *a).await,
        ContainerVerb::Start(a) => lifecycle::start(ctx, a).await,
        ContainerVerb::Stop(a) => lifecycle::stop(ctx, a, "stop").await,
        ContainerVerb::Restart(a) => lifecycle::stop(ctx, a, "restart").await,
        ContainerVerb::Kill(a) => lifecycle::kill(ctx, a).await,
        ContainerVerb::Rm(a) => lifecycle::rm(ctx, a).await,
        ContainerVerb::Ps(a) => ps::run(ctx, a).await,
        ContainerVerb::Logs(a) => logs::run(ctx, a).await,
        ContainerVerb::Exec(a) => exec::exec(ctx, a).await,
        ContainerVerb::Attach(a) => exec::attach(ctx, a).await,
        ContainerVerb::Cp(a) => cp::run(ctx, a).await,
        ContainerVerb::Top(a) => inspect::top(ctx, a).await,
        ContainerVerb::Stats(a) => stats::run(ctx, a).await,
        ContainerVerb::Wait(a) => lifecycle::wait(ctx, a).await,
        ContainerVerb::Rename(a) => lifecycle::rename(ctx, a).await,
        ContainerVerb::Pause(a) => lifecycle::simple(ctx, a, "pause").await,
        ContainerVerb::Unpause(a) => lifecycle::simple(ctx, a, "unpause").await,
        ContainerVerb::Update(a) => inspect::update(ctx, a).await,
        ContainerVerb::Port(a) => port::run(ctx, a).await,
    }
}

async fn image(ctx: &Ctx, v: ImageVerb) -> Result<()> {
    match v {
        ImageVerb::Pull(a) => images::pull(ctx, a).await,
        ImageVerb::Push(a) => image_ops::push(ctx, a).await,
        ImageVerb::Tag(a) => image_ops::tag(ctx, a).await,
        ImageVerb::Save(a) => image_ops::save(ctx, a).await,
        ImageVerb::Load(a) => image_ops::load(ctx, a).await,
        ImageVerb::Import(a) => image_ops::import(ctx, a).await,
        ImageVerb::History(a) => image_ops::history(ctx, a).await,
    }
}

pub async fn dispatch(mut ctx: Ctx, cmd: Command) -> Result<()> {
    // `version` prints the client's part even when the daemon is down.
    let cmd = match cmd {
        Command::Version(a) => return system::version(&mut ctx, a).await,
        other => other,
    };
    // Flag values are checked before connecting, as docker does.
    match &cmd {
        Command::Container(ContainerVerb::Run(a))
        | Command::ContainerGroup(ContainerCommand::Verb(ContainerVerb::Run(a))) => {
            run::create_body(&a.opts, a.rm, !a.detach)?;
        }
        Command::Container(ContainerVerb::Create(a))
        | Command::ContainerGroup(ContainerCommand::Verb(ContainerVerb::Create(a))) => {
            run::create_body(&a.opts, a.rm, false)?;
        }
        Command::Network(c) => c.check()?,
        Command::Volume(c) => c.check()?,
        Command::Container(ContainerVerb::Port(a))
        | Command::ContainerGroup(ContainerCommand::Verb(ContainerVerb::Port(a))) => a.check()?,
        _ => {}
    }
    ctx.client.negotiate().await?;
    let ctx = &ctx;
    match cmd {
        Command::Container(v) | Command::ContainerGroup(ContainerCommand::Verb(v)) => {
            container(ctx, v).await
        }
        Command::Image(v) | Command::ImageGroup(ImageCommand::Verb(v)) => image(ctx, v).await,
        Command::ContainerGroup(ContainerCommand::Ls(a)) => ps::run(ctx, a).await,
        Command::ContainerGroup(ContainerCommand::Inspect(a)) => {
            inspect::inspect(ctx, a, Some("container")).await
        }
        Command::ContainerGroup(ContainerCommand::Prune(a)) => lifecycle::prune(ctx, a).await,
        Command::Images(a) | Command::ImageGroup(ImageCommand::Ls(a)) => images::run(ctx, a).await,
        Command::Rmi(a) | Command::ImageGroup(ImageCommand::Rm(a)) => image_ops::rmi(ctx, a).await,
        Command::ImageGroup(ImageCommand::Inspect(a)) => {
            inspect::inspect(ctx, a, Some("image")).await
        }
        Command::ImageGroup(ImageCommand::Prune(a)) => image_ops::prune(ctx, a).await,
        Command::Inspect(a) => inspect::inspect(ctx, a, None).await,
        Command::Login(a) => login::login(ctx, a).await,
        Command::Logout(a) => login::logout(ctx, a).await,
        Command::Info(a) | Command::System(SystemCommand::Info(a)) => system::info(ctx, a).await,
        Command::System(SystemCommand::Df(a)) => system::df(ctx, a).await,
        Command::System(SystemCommand::Prune(a)) => system::prune(ctx, a).await,
        Command::Events(a) | Command::System(SystemCommand::Events(a)) => events::run(ctx, a).await,
        Command::Network(c) => network::dispatch(ctx, c).await,
        Command::Volume(c) => volume::dispatch(ctx, c).await,
        // Answered before negotiating, above.
        Command::Version(_) => Ok(()),
    }
}
