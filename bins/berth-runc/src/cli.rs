//! The command line: runc's verbs and flags.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Log line format (`--log-format`).
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    /// logrus text: time="..." level=error msg="..."
    Text,
    /// one JSON object per line
    Json,
}

#[derive(Debug, Parser)]
#[command(name = "berth-runc", version = concat!(env!("CARGO_PKG_VERSION"), "\nspec: 1.2.1"), about = "Berth's OCI runtime, with runc's command line")]
pub struct Cli {
    /// Root directory for container state
    #[arg(long, global = true, default_value = berth_runtime::DEFAULT_ROOT, env = "BERTH_RUNC_ROOT")]
    pub root: PathBuf,
    /// Write log lines (and errors) to this file instead of stderr only
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Format of log lines
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log debug messages
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd to manage cgroups (not supported yet: a clear error)
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility; ignored
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
    /// Accepted for runc compatibility (true|false|auto); detection is automatic
    #[arg(long = "rootless", hide = true)]
    pub global_rootless: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container (its process waits for `start`)
    Create(CreateArgs),
    /// Create and start a container, wait for it unless --detach
    Run(RunArgs),
    /// Start a created container
    Start(IdArg),
    /// Print the state of a container as JSON
    State(IdArg),
    /// Send a signal to a container's init (or all its processes)
    Kill(KillArgs),
    /// Delete a container
    Delete(DeleteArgs),
    /// Suspend every process of a container
    Pause(IdArg),
    /// Resume a paused container
    Resume(IdArg),
    /// Run a new process in a running container
    Exec(ExecArgs),
    /// List the processes of a container
    Ps(PsArgs),
    /// List containers
    List(ListArgs),
    /// Write a default config.json
    Spec(SpecArgs),
    /// Print the features this runtime supports (JSON)
    Features,
    /// Change a container's resource limits
    Update(UpdateArgs),
    /// Not supported
    #[command(hide = true)]
    Checkpoint(IdArg),
    /// Not supported
    #[command(hide = true)]
    Restore(IdArg),
}

#[derive(Debug, Args)]
pub struct IdArg {
    /// Container id
    pub id: String,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Bundle directory (holds config.json)
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master of a terminal container
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Write the container's pid to this file
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Do not use pivot_root (for a rootfs on a ramdisk)
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N extra fds (3..3+N) to the container
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Container id
    pub id: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Do not wait for the container
    #[arg(short, long)]
    pub detach: bool,
    /// Accepted for runc compatibility (keep the container after exit: not supported)
    #[arg(long, hide = true)]
    pub keep: bool,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal every process of the container, not just its init
    #[arg(short, long)]
    pub all: bool,
    /// Container id
    pub id: String,
    /// Signal name or number
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kill the container first if it is running
    #[arg(short, long)]
    pub force: bool,
    /// Container id
    pub id: String,
}

#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub struct ExecArgs {
    /// JSON file with the whole process definition
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Set an environment variable (KEY=VALUE)
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// UID[:GID] to run as
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional group ids
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Add a capability (CAP_X)
    #[arg(short, long = "cap")]
    pub cap: Vec<String>,
    /// Set no_new_privs
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Do not wait for the process
    #[arg(short, long)]
    pub detach: bool,
    /// Write the process's pid to this file
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Pass N extra fds (3..3+N)
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// AppArmor profile (ignored on hosts without AppArmor)
    #[arg(long, hide = true)]
    pub apparmor: Option<String>,
    /// SELinux label (ignored on hosts without SELinux)
    #[arg(long = "process-label", hide = true)]
    pub process_label: Option<String>,
    /// Container id
    pub id: String,
    /// Command and arguments
    #[arg(allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub struct PsArgs {
    /// table or json
    #[arg(short, long, default_value = "table")]
    pub format: String,
    /// Container id
    pub id: String,
    /// Options for ps(1) (default -ef)
    #[arg(allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// table or json
    #[arg(short, long, default_value = "table")]
    pub format: String,
    /// Print only ids
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct SpecArgs {
    /// Bundle directory to write config.json into
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// A config for an unprivileged user (user namespace)
    #[arg(long)]
    pub rootless: bool,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// JSON file (or - for stdin) with linux.resources
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    /// Memory limit (bytes, or with k/m/g suffix)
    #[arg(long)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit (-1 for unlimited)
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// CPU shares (relative weight)
    #[arg(long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CPU CFS quota in microseconds (-1 for none)
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU CFS period in microseconds
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPUs allowed (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of pids (-1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO weight (10-1000)
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Container id
    pub id: String,
}
