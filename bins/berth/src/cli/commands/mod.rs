//! One module per verb or small group of verbs; `dispatch` maps the parsed command line to
//! them, including docker's management groups (`berth container ls`, `berth image rm`...).

pub mod images;
pub mod lifecycle;
pub mod login;
pub mod ps;
pub mod run;
pub mod system;

use super::Ctx;
use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create and run a new container from an image
    Run(run::RunArgs),
    /// Create a new container
    Create(run::CreateArgs),
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
    /// Block until one or more containers stop, then print their exit codes
    Wait(lifecycle::ContainersArgs),
    /// Rename a container
    Rename(lifecycle::RenameArgs),
    /// Pause all processes within one or more containers
    Pause(lifecycle::ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(lifecycle::ContainersArgs),
    /// List images
    Images(images::ImagesArgs),
    /// Download an image from a registry
    Pull(images::PullArgs),
    /// Log in to a registry
    Login(login::LoginArgs),
    /// Log out from a registry
    Logout(login::LogoutArgs),
    /// Show the Berth version information
    Version(system::VersionArgs),
    /// Display system-wide information
    Info(system::InfoArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage Berth
    #[command(subcommand)]
    System(SystemCommand),
}

#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    /// Create and run a new container from an image
    Run(run::RunArgs),
    /// Create a new container
    Create(run::CreateArgs),
    /// Start one or more stopped containers
    Start(lifecycle::StartArgs),
    /// Stop one or more running containers
    Stop(lifecycle::StopArgs),
    /// Restart one or more containers
    Restart(lifecycle::StopArgs),
    /// Kill one or more running containers
    Kill(lifecycle::KillArgs),
    /// Remove one or more containers
    #[command(alias = "remove")]
    Rm(lifecycle::RmArgs),
    /// List containers
    #[command(aliases = ["ps", "list"])]
    Ls(ps::PsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(lifecycle::ContainersArgs),
    /// Rename a container
    Rename(lifecycle::RenameArgs),
    /// Pause all processes within one or more containers
    Pause(lifecycle::ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(lifecycle::ContainersArgs),
    /// Remove all stopped containers
    Prune(lifecycle::PruneArgs),
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// List images
    #[command(alias = "list")]
    Ls(images::ImagesArgs),
    /// Download an image from a registry
    Pull(images::PullArgs),
}

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Display system-wide information
    Info(system::InfoArgs),
}

impl Command {
    /// The verb as docker names it in "Run 'docker VERB --help'".
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Run(_) | Command::Container(ContainerCommand::Run(_)) => "run",
            Command::Create(_) | Command::Container(ContainerCommand::Create(_)) => "create",
            _ => "",
        }
    }
}

pub async fn dispatch(mut ctx: Ctx, cmd: Command) -> Result<()> {
    // `version` prints the client's part even when the daemon is down.
    let cmd = match cmd {
        Command::Version(a) => return system::version(&mut ctx, a).await,
        other => other,
    };
    ctx.client.negotiate().await?;
    let ctx = &ctx;
    match cmd {
        Command::Run(a) | Command::Container(ContainerCommand::Run(a)) => run::run(ctx, a).await,
        Command::Create(a) | Command::Container(ContainerCommand::Create(a)) => {
            run::create(ctx, a).await
        }
        Command::Start(a) | Command::Container(ContainerCommand::Start(a)) => {
            lifecycle::start(ctx, a).await
        }
        Command::Stop(a) | Command::Container(ContainerCommand::Stop(a)) => {
            lifecycle::stop(ctx, a, "stop").await
        }
        Command::Restart(a) | Command::Container(ContainerCommand::Restart(a)) => {
            lifecycle::stop(ctx, a, "restart").await
        }
        Command::Kill(a) | Command::Container(ContainerCommand::Kill(a)) => {
            lifecycle::kill(ctx, a).await
        }
        Command::Rm(a) | Command::Container(ContainerCommand::Rm(a)) => lifecycle::rm(ctx, a).await,
        Command::Ps(a) | Command::Container(ContainerCommand::Ls(a)) => ps::run(ctx, a).await,
        Command::Wait(a) | Command::Container(ContainerCommand::Wait(a)) => {
            lifecycle::wait(ctx, a).await
        }
        Command::Rename(a) | Command::Container(ContainerCommand::Rename(a)) => {
            lifecycle::rename(ctx, a).await
        }
        Command::Pause(a) | Command::Container(ContainerCommand::Pause(a)) => {
            lifecycle::simple(ctx, a, "pause").await
        }
        Command::Unpause(a) | Command::Container(ContainerCommand::Unpause(a)) => {
            lifecycle::simple(ctx, a, "unpause").await
        }
        Command::Container(ContainerCommand::Prune(a)) => lifecycle::prune(ctx, a).await,
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::run(ctx, a).await,
        // Answered before negotiating, above.
        Command::Version(_) => Ok(()),
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => images::pull(ctx, a).await,
        Command::Login(a) => login::login(ctx, a).await,
        Command::Logout(a) => login::logout(ctx, a).await,
        Command::Info(a) | Command::System(SystemCommand::Info(a)) => system::info(ctx, a).await,
    }
}
