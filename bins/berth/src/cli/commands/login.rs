//! `login` and `logout`: credentials checked by the daemon (/auth), then kept in config.json
//! as docker keeps them (base64 "user:password" under "auths").

use super::super::{config, Ctx};
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::io::{BufRead, IsTerminal, Read, Write};

#[derive(clap::Args, Debug)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password or Personal Access Token (PAT)
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Take the Password or Personal Access Token (PAT) from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// [SERVER]
    pub server: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct LogoutArgs {
    /// [SERVER]
    pub server: Option<String>,
}

fn prompt(text: &str) -> Result<String> {
    eprint!("{text}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Reads a password from the terminal without echo.
fn prompt_password() -> Result<String> {
    let stdin = std::io::stdin();
    let saved = rustix::termios::tcgetattr(&stdin).ok();
    if let Some(t) = &saved {
        let mut quiet = t.clone();
        quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &quiet);
    }
    let r = prompt("Password: ");
    if let Some(t) = &saved {
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, t);
        eprintln!();
    }
    r
}

pub async fn login(ctx: &Ctx, a: LoginArgs) -> Result<()> {
    let server = a
        .server
        .clone()
        .unwrap_or_else(|| config::DOCKER_HUB.to_string());
    let key = config::server_key(&server);
    if a.password.is_some() && a.password_stdin {
        bail!("--password and --password-stdin are mutually exclusive");
    }
    if a.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let password = if a.password_stdin {
        if a.username.is_none() {
            bail!("Must provide --username with --password-stdin");
        }
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the password from stdin")?;
        Some(s.trim_end_matches(['\r', '\n']).to_string())
    } else {
        a.password.clone()
    };
    let stored = config::credentials(&ctx.config_dir, &key);
    let username = match &a.username {
        Some(u) => u.clone(),
        None if std::io::stdin().is_terminal() => {
            let default = stored.as_ref().map(|(u, _)| u.clone()).unwrap_or_default();
            let shown = if default.is_empty() {
                String::new()
            } else {
                format!(" ({default})")
            };
            let u = prompt(&format!("Username{shown}: "))?;
            if u.is_empty() {
                default
            } else {
                u
            }
        }
        None => match &stored {
            Some((u, _)) if password.is_none() => u.clone(),
            _ => bail!("Error: Cannot perform an interactive login from a non TTY device"),
        },
    };
    if username.is_empty() {
        bail!("Error: Non-null Username Required");
    }
    let password = match password {
        Some(p) => p,
        None if std::io::stdin().is_terminal() => prompt_password()?,
        None => match &stored {
            Some((u, p)) if *u == username => p.clone(),
            _ => bail!("Error: Cannot perform an interactive login from a non TTY device"),
        },
    };
    if password.is_empty() {
        bail!("Error: Password Required");
    }
    let resp = ctx
        .client
        .post_json(
            "/auth",
            Some(&json!({"username": username, "password": password, "serveraddress": key})),
        )
        .await?;
    config::store_credentials(&ctx.config_dir, &key, &username, &password)?;
    eprintln!(
        "WARNING! Your credentials are stored unencrypted in '{}'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n",
        config::config_path(&ctx.config_dir).display()
    );
    println!("{}", resp["Status"].as_str().unwrap_or("Login Succeeded"));
    Ok(())
}

pub async fn logout(ctx: &Ctx, a: LogoutArgs) -> Result<()> {
    let server = a
        .server
        .clone()
        .unwrap_or_else(|| config::DOCKER_HUB.to_string());
    let key = config::server_key(&server);
    if config::remove_credentials(&ctx.config_dir, &key)? {
        println!("Removing login credentials for {key}");
    } else {
        println!("Not logged in to {key}");
    }
    Ok(())
}
