//! The container's Config from its image's config and the user's (moby's `daemon/commit.go`
//! `merge`), and the process args from Entrypoint + Cmd.

use crate::{Error, Result};
use berth_image::config::{ContainerConfig as ImageConfig, HealthConfig as ImageHealth};
use bollard_stubs::models::{ContainerConfig, ContainerCreateBody, HealthConfig};

/// The Config part of a create request (everything but HostConfig and NetworkingConfig).
pub fn config_of_create_body(body: &ContainerCreateBody) -> ContainerConfig {
    ContainerConfig {
        hostname: body.hostname.clone(),
        domainname: body.domainname.clone(),
        user: body.user.clone(),
        attach_stdin: body.attach_stdin,
        attach_stdout: body.attach_stdout,
        attach_stderr: body.attach_stderr,
        exposed_ports: body.exposed_ports.clone(),
        tty: body.tty,
        open_stdin: body.open_stdin,
        stdin_once: body.stdin_once,
        env: body.env.clone(),
        cmd: body.cmd.clone(),
        healthcheck: body.healthcheck.clone(),
        args_escaped: body.args_escaped,
        image: body.image.clone(),
        volumes: body.volumes.clone(),
        working_dir: body.working_dir.clone(),
        entrypoint: body.entrypoint.clone(),
        network_disabled: body.network_disabled,
        on_build: body.on_build.clone(),
        labels: body.labels.clone(),
        stop_signal: body.stop_signal.clone(),
        stop_timeout: body.stop_timeout,
        shell: body.shell.clone(),
    }
}

fn empty(s: &Option<String>) -> bool {
    s.as_deref().unwrap_or_default().is_empty()
}

/// `docker run --entrypoint ""` arrives as `[""]`: an entrypoint given as empty.
fn normalized_entrypoint(e: &Option<Vec<String>>) -> Option<Vec<String>> {
    match e {
        Some(v) if v.len() == 1 && v[0].is_empty() => Some(Vec::new()),
        other => other.clone(),
    }
}

/// Docker's merge of the image's config under the user's: the user's value wins where given;
/// Env is merged by key (user's first, then the image's keys the user did not set); Labels,
/// ExposedPorts and Volumes are unions; an Entrypoint from the user drops the image's Cmd; the
/// Healthcheck is merged field by field.
pub fn merge_image_config(image: &ImageConfig, user: &ContainerConfig) -> ContainerConfig {
    let mut c = user.clone();
    if empty(&c.user) {
        c.user = image.user.clone();
    }
    // ExposedPorts and Volumes: union, user's order first.
    let union =
        |user: &Option<Vec<String>>,
         image: Option<&std::collections::BTreeMap<String, serde_json::Value>>| {
            let mut out: Vec<String> = user.clone().unwrap_or_default();
            for k in image.into_iter().flat_map(|m| m.keys()) {
                if !out.contains(k) {
                    out.push(k.clone());
                }
            }
            (!out.is_empty()).then_some(out)
        };
    c.exposed_ports = union(&user.exposed_ports, image.exposed_ports.as_ref());
    c.volumes = union(&user.volumes, image.volumes.as_ref());

    let user_env = user.env.clone().unwrap_or_default();
    if user_env.is_empty() {
        c.env = image.env.clone();
    } else {
        let mut env = user_env;
        for ie in image.env.iter().flatten() {
            let key = ie.split_once('=').map_or(ie.as_str(), |(k, _)| k);
            let found = env
                .iter()
                .any(|ue| ue.split_once('=').map_or(ue.as_str(), |(k, _)| k) == key);
            if !found {
                env.push(ie.clone());
            }
        }
        c.env = Some(env);
    }

    let mut labels = user.labels.clone().unwrap_or_default();
    for (k, v) in image.labels.iter().flatten() {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    c.labels = Some(labels);

    c.entrypoint = normalized_entrypoint(&user.entrypoint);
    if c.entrypoint.as_ref().is_none_or(|e| e.is_empty()) {
        if c.cmd.as_ref().is_none_or(|v| v.is_empty()) {
            c.cmd = image.cmd.clone();
        }
        if c.entrypoint.is_none() {
            c.entrypoint = image.entrypoint.clone();
        }
    }

    if let Some(ih) = &image.healthcheck {
        c.healthcheck = Some(merge_health(user.healthcheck.as_ref(), ih));
    }
    if empty(&c.working_dir) {
        c.working_dir = image.working_dir.clone();
    }
    if empty(&c.stop_signal) {
        c.stop_signal = image.stop_signal.clone();
    }
    if c.shell.as_ref().is_none_or(|s| s.is_empty()) {
        c.shell = image.shell.clone();
    }
    if c.on_build.as_ref().is_none_or(|s| s.is_empty()) {
        c.on_build = image.on_build.clone();
    }
    c
}

fn merge_health(user: Option<&HealthConfig>, image: &ImageHealth) -> HealthConfig {
    let mut h = user.cloned().unwrap_or_default();
    let zero = |v: Option<i64>| v.unwrap_or(0) == 0;
    if h.test.as_ref().is_none_or(|t| t.is_empty()) {
        h.test = image.test.clone();
    }
    if zero(h.interval) {
        h.interval = image.interval;
    }
    if zero(h.timeout) {
        h.timeout = image.timeout;
    }
    if zero(h.start_period) {
        h.start_period = image.start_period;
    }
    if zero(h.retries) {
        h.retries = image.retries;
    }
    h
}

/// Entrypoint followed by Cmd; Docker's "No command specified" when both are empty.
pub fn process_args(cfg: &ContainerConfig) -> Result<Vec<String>> {
    let mut args = normalized_entrypoint(&cfg.entrypoint).unwrap_or_default();
    args.extend(cfg.cmd.iter().flatten().cloned());
    if args.is_empty() {
        return Err(Error::InvalidArgument("No command specified".into()));
    }
    Ok(args)
}

/// Docker's ReplaceOrAppendEnvValues: `KEY=v` replaces KEY in place or appends it; a bare
/// `KEY` removes it.
pub fn replace_or_append_env(env: &mut Vec<String>, overrides: &[String]) {
    for o in overrides {
        match o.split_once('=') {
            Some((key, _)) => {
                let prefix = format!("{key}=");
                match env.iter_mut().find(|e| e.starts_with(&prefix)) {
                    Some(slot) => *slot = o.clone(),
                    None => env.push(o.clone()),
                }
            }
            None => {
                let prefix = format!("{o}=");
                env.retain(|e| !e.starts_with(&prefix) && e != o);
            }
        }
    }
}
