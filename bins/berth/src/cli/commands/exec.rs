//! `exec` and `attach`: hijacked streams into a running container. exec's exit status is the
//! process's (126/127 when it cannot be started, as the daemon reports them).

use super::super::client::{enc, query};
use super::super::stream::{self, End};
use super::super::{exit_code, Ctx, StatusError};
use anyhow::{bail, Result};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::io::IsTerminal;

#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// CONTAINER COMMAND [ARG...]
    #[arg(required = true, num_args = 2.., trailing_var_arg = true, value_name = "CONTAINER COMMAND [ARG...]")]
    pub args: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    /// CONTAINER
    pub container: String,
}

fn env_list(env: &[String], files: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("open {f}: {e}"))?;
        out.extend(
            text.lines()
                .map(str::trim_start)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
    }
    for e in env {
        if e.contains('=') {
            out.push(e.clone());
        } else if let Ok(v) = std::env::var(e) {
            out.push(format!("{e}={v}"));
        }
    }
    Ok(out)
}

pub async fn exec(ctx: &Ctx, a: ExecArgs) -> Result<()> {
    let container = &a.args[0];
    let cmd = &a.args[1..];
    if a.tty && a.interactive && !std::io::stdin().is_terminal() {
        bail!("the input device is not a TTY");
    }
    let keys = stream::detach_keys(a.detach_keys.as_deref())?;
    let attach = !a.detach;
    let mut body = json!({
        "AttachStdin": attach && a.interactive,
        "AttachStdout": attach,
        "AttachStderr": attach,
        "Tty": a.tty,
        "Privileged": a.privileged,
        "Env": env_list(&a.env, &a.env_file)?,
        "Cmd": cmd,
    });
    if let Some(u) = &a.user {
        body["User"] = json!(u);
    }
    if let Some(w) = &a.workdir {
        body["WorkingDir"] = json!(w);
    }
    if let Some(k) = &a.detach_keys {
        body["DetachKeys"] = json!(k);
    }
    let created = ctx
        .client
        .post_json(&format!("/containers/{}/exec", enc(container)), Some(&body))
        .await?;
    let id = created["Id"].as_str().unwrap_or_default().to_string();
    if id.is_empty() {
        bail!("the daemon's exec answer has no Id");
    }
    let start = json!({"Detach": a.detach, "Tty": a.tty});
    if a.detach {
        ctx.client
            .post_json(&format!("/exec/{id}/start"), Some(&start))
            .await?;
        return Ok(());
    }
    let conn = ctx
        .client
        .upgrade(&format!("/exec/{id}/start"), Some(&start))
        .await?;
    let raw = (a.tty && a.interactive).then(stream::RawTerminal::enable);
    if a.tty && std::io::stdout().is_terminal() {
        stream::monitor_size(&ctx.client, format!("/exec/{id}/resize"));
    }
    let end = stream::pump(conn, a.tty, a.interactive, &keys).await?;
    drop(raw);
    if end == End::Detached {
        return Ok(());
    }
    let info = ctx.client.get_json(&format!("/exec/{id}/json")).await?;
    match info["ExitCode"].as_i64() {
        Some(0) | None => Ok(()),
        Some(c) => Err(exit_code(c as i32)),
    }
}

/// Opens the hijacked attach stream of a container that already runs or is about to be
/// started: stdout and stderr always, stdin only when `stdin` (`attach` and `start -a`; `run`
/// asks for the streams its -a flags name instead).
pub async fn attach_output(
    ctx: &Ctx,
    id: &str,
    stdin: bool,
    detach_keys: Option<&str>,
) -> Result<TokioIo<Upgraded>> {
    let mut q = vec![
        ("stream", "1".to_string()),
        ("stdout", "1".to_string()),
        ("stderr", "1".to_string()),
    ];
    if stdin {
        q.push(("stdin", "1".to_string()));
    }
    if let Some(k) = detach_keys {
        q.push(("detachKeys", k.to_string()));
    }
    ctx.client
        .upgrade(
            &format!("/containers/{}/attach{}", enc(id), query(&q)),
            None,
        )
        .await
}

pub async fn attach(ctx: &Ctx, a: AttachArgs) -> Result<()> {
    let info: Value = ctx
        .client
        .get_json(&format!("/containers/{}/json", enc(&a.container)))
        .await?;
    if info["State"]["Running"].as_bool() != Some(true) {
        return Err(StatusError {
            code: 1,
            message: Some("You cannot attach to a stopped container, start it first".into()),
        }
        .into());
    }
    if info["State"]["Paused"].as_bool() == Some(true) {
        bail!("You cannot attach to a paused container, unpause it first");
    }
    let id = info["Id"].as_str().unwrap_or(&a.container).to_string();
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let stdin = !a.no_stdin && info["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    let keys = stream::detach_keys(a.detach_keys.as_deref())?;
    let conn = attach_output(ctx, &id, stdin, a.detach_keys.as_deref()).await?;
    let raw = (tty && stdin).then(stream::RawTerminal::enable);
    if tty && std::io::stdout().is_terminal() {
        stream::monitor_size(&ctx.client, format!("/containers/{}/resize", enc(&id)));
    }
    if a.sig_proxy && !tty {
        super::run::proxy_signals(ctx.client.clone(), id.clone());
    }
    let end = stream::pump(conn, tty, stdin, &keys).await?;
    drop(raw);
    if end == End::Detached {
        return Ok(());
    }
    let state = ctx
        .client
        .get_json(&format!("/containers/{}/json", enc(&id)))
        .await?;
    match state["State"]["ExitCode"].as_i64() {
        Some(0) | None => Ok(()),
        Some(c) => Err(exit_code(c as i32)),
    }
}
