//! `berth`: docker's verbs and flags against the Docker Engine API, and `berth daemon`.
#![forbid(unsafe_code)]

mod daemon;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "berth", version, about = "Run, build and ship containers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the Berth daemon (Docker Engine API on a unix socket)
    Daemon(daemon::DaemonArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Daemon(args) => daemon::run(args),
    };
    if let Err(e) = result {
        eprintln!("berth: {e:#}");
        std::process::exit(1);
    }
}
