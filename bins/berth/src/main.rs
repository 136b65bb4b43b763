//! `berth`: docker's verbs and flags against the Docker Engine API, and `berth daemon`.
#![forbid(unsafe_code)]

mod cli;
mod daemon;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "berth", version, about = "Run, build and ship containers")]
struct Cli {
    #[command(flatten)]
    global: cli::GlobalOpts,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the Berth daemon (Docker Engine API on a unix socket)
    Daemon(daemon::DaemonArgs),
    #[command(flatten)]
    Client(cli::commands::Command),
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => std::process::exit(cli::usage_error(e)),
    };
    let result = match cli.command {
        Command::Daemon(args) => daemon::run(args),
        Command::Client(cmd) => std::process::exit(cli::main(cli.global, cmd)),
    };
    if let Err(e) = result {
        eprintln!("berth: {e:#}");
        std::process::exit(1);
    }
}
