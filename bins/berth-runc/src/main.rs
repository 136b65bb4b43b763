//! `berth-runc`: runc's command line over `berth-runtime`.
//!
//! Drop-in wherever runc goes: the same verbs, flags, exit codes, `state` JSON, and error
//! reporting (`--log FILE --log-format json` writes `{"level":"error","msg":...}` lines, which
//! containerd's shim and Docker read to show the failure).
#![forbid(unsafe_code)]

mod cli;
mod exec_process;
mod log;
mod output;
mod update_flags;

use anyhow::{Context, Result};
use berth_runtime::{CreateOptions, ExecOptions, Runtime};
use clap::Parser;
use cli::{Cli, Command};

fn main() {
    berth_runtime::trace::mark("main");
    // Re-exec before parsing when the verb is plain to see (parsing costs ~0.3 ms, and would
    // be done twice); the check after parsing below catches any other spelling.
    if enters_container(std::env::args_os().skip(1)) {
        if let Err(e) = berth_runtime::selfexe::ensure_protected() {
            eprintln!("berth-runc: re-executing from a protected copy of the runtime binary: {e}");
            std::process::exit(1);
        }
    }
    let cli = Cli::parse();
    let logger = log::Logger::new(cli.log.clone(), cli.log_format, cli.debug);
    // CVE-2019-5736: everything that enters a container runs from an unwritable copy.
    if matches!(
        cli.command,
        Command::Create(_) | Command::Run(_) | Command::Exec(_)
    ) {
        if let Err(e) = berth_runtime::selfexe::ensure_protected() {
            logger.fatal(&format!(
                "re-executing from a sealed copy of the runtime binary: {e}"
            ));
        }
    }
    berth_runtime::trace::mark("sealed");
    match dispatch(cli, &logger) {
        Ok(code) => std::process::exit(code),
        Err(e) => logger.fatal(&format!("{e:#}")),
    }
}

/// Whether the command line's verb is one whose processes enter a container (create, run,
/// exec), found without the full parser: the first word that is neither a flag nor the value of
/// a global flag.
fn enters_container(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    const VALUED: [&str; 5] = ["--root", "--log", "--log-format", "--criu", "--rootless"];
    let mut skip_value = false;
    for a in args {
        let Some(a) = a.to_str() else { return false };
        if skip_value {
            skip_value = false;
        } else if VALUED.contains(&a) {
            skip_value = true;
        } else if !a.starts_with('-') {
            return matches!(a, "create" | "run" | "exec");
        }
    }
    false
}

fn runtime(cli: &Cli) -> Result<Runtime> {
    let mut rt = Runtime::new(&cli.root);
    rt.systemd_cgroup = cli.systemd_cgroup;
    // Test and benchmark hooks: point the cgroup code at another root or force a version.
    if let Some(root) = std::env::var_os("BERTH_CGROUP_ROOT") {
        rt.cgroup_root = Some(root.into());
    }
    if let Ok(mode) = std::env::var("BERTH_CGROUP_MODE") {
        rt.cgroup_mode = Some(match mode.as_str() {
            "v1" => berth_cgroups::CgroupMode::V1,
            "v2" => berth_cgroups::CgroupMode::V2,
            other => anyhow::bail!("BERTH_CGROUP_MODE: expected v1 or v2, got {other:?}"),
        });
    }
    Ok(rt)
}

fn create_options(c: &cli::CreateArgs) -> CreateOptions {
    CreateOptions {
        bundle: c.bundle.clone(),
        pid_file: c.pid_file.clone(),
        console_socket: c.console_socket.clone(),
        no_pivot: c.no_pivot,
        no_new_keyring: c.no_new_keyring,
        preserve_fds: c.preserve_fds,
    }
}

fn dispatch(cli: Cli, logger: &log::Logger) -> Result<i32> {
    let rt = runtime(&cli)?;
    match &cli.command {
        Command::Create(c) => {
            rt.create(&c.id, &create_options(c))?;
            logger.debug(&format!("created container {}", c.id));
        }
        Command::Run(r) => {
            return Ok(rt.run(&r.create.id, &create_options(&r.create), r.detach)?)
        }
        Command::Start(s) => rt.start(&s.id)?,
        Command::State(s) => {
            let st = rt.state(&s.id)?;
            println!("{}", serde_json::to_string_pretty(&st)?);
        }
        Command::Kill(k) => {
            let sig = berth_sys::signal::parse_signal(&k.signal)
                .with_context(|| format!("invalid signal {:?}", k.signal))?;
            rt.kill(&k.id, sig, k.all)?;
        }
        Command::Delete(d) => rt.delete(&d.id, d.force)?,
        Command::Pause(p) => rt.pause(&p.id)?,
        Command::Resume(p) => rt.resume(&p.id)?,
        Command::Exec(e) => {
            let process = exec_process::build(&rt, e)?;
            let opts = ExecOptions {
                process,
                pid_file: e.pid_file.clone(),
                console_socket: e.console_socket.clone(),
                detach: e.detach,
                preserve_fds: e.preserve_fds,
            };
            return Ok(rt.exec(&e.id, &opts)?);
        }
        Command::Ps(p) => output::ps(&rt, p)?,
        Command::List(l) => output::list(&rt, l)?,
        Command::Spec(s) => output::spec(s)?,
        Command::Features => println!(
            "{}",
            serde_json::to_string_pretty(&berth_runtime::features::features())?
        ),
        Command::Update(u) => {
            let res = update_flags::resources(u)?;
            rt.update(&u.id, &res)?;
        }
        Command::Checkpoint(_) | Command::Restore(_) => {
            anyhow::bail!("checkpoint/restore is not supported by berth-runc")
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::enters_container;

    fn words(s: &str) -> impl Iterator<Item = std::ffi::OsString> + '_ {
        s.split_whitespace().map(std::ffi::OsString::from)
    }

    #[test]
    fn finds_the_verb_past_global_flags() {
        assert!(enters_container(words(
            "--root /run/x --log l.json --log-format json create --bundle b id"
        )));
        assert!(enters_container(words("--debug run id")));
        assert!(enters_container(words("--root=/r exec id sh")));
        assert!(!enters_container(words("--root /run/x state id")));
        assert!(
            !enters_container(words("--root run state id")),
            "`run` here is --root's value"
        );
        assert!(!enters_container(words("--version")));
    }
}
