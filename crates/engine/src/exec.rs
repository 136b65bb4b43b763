//! Exec sessions (`docker exec`): created with a configuration, started once through a
//! `berth-monitor exec` that runs `RUNTIME exec --detach` and holds the process's stdio, then
//! inspected for the exit code. Sessions live in memory, as in dockerd, and go with their
//! container.

use crate::containers::attach::AttachTarget;
use crate::containers::Status;
use crate::error::{Error, Result};
use crate::monitor::{read_exit, wait_for_exit, MonitorChild, MonitorFiles, MonitorSpec};
use crate::Engine;
use bollard_stubs::models::ExecConfig;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Exec sessions by id.
#[derive(Debug, Default)]
pub struct ExecRegistry {
    by_id: Mutex<HashMap<String, Arc<ExecSession>>>,
}

/// One exec session.
#[derive(Debug)]
pub struct ExecSession {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    state: Mutex<ExecState>,
    done: tokio::sync::watch::Sender<bool>,
}

#[derive(Debug, Default, Clone)]
struct ExecState {
    started: bool,
    running: bool,
    pid: i64,
    exit_code: Option<i64>,
}

/// A started exec: where to attach, and the monitor's report still to collect (after the
/// attach client has connected, when the monitor waits for one).
#[derive(Debug)]
pub struct ExecRun {
    pub target: AttachTarget,
    pub tty: bool,
    child: MonitorChild,
    session: Arc<ExecSession>,
}

/// Ended exec sessions kept per container for inspection.
const KEEP_ENDED_EXECS: usize = 16;

impl ExecRegistry {
    fn get(&self, id: &str) -> Result<Arc<ExecSession>> {
        self.by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("No such exec instance: {id}")))
    }
}

impl Engine {
    /// Creates an exec session in a running container.
    pub fn exec_create(&self, key: &str, config: ExecConfig) -> Result<String> {
        let c = self.containers.find(key)?;
        let rec = c.record();
        check_running(&rec)?;
        if config.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(Error::InvalidArgument("No exec command specified".into()));
        }
        let id = crate::util::new_id();
        let s = Arc::new(ExecSession {
            id: id.clone(),
            container_id: rec.id.clone(),
            config: config.clone(),
            state: Mutex::new(ExecState::default()),
            done: tokio::sync::watch::channel(false).0,
        });
        self.execs
            .by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), s);
        // Ended sessions stay inspectable (clients read the exit code after the stream ends),
        // but only the newest few: a container exec'd into all day must not grow without end.
        let forget = self.ended_execs_beyond(&rec.exec_ids, KEEP_ENDED_EXECS);
        for old in &forget {
            self.exec_forget(old);
        }
        c.update(self, |r| {
            r.exec_ids.retain(|e| !forget.contains(e));
            r.exec_ids.push(id.clone());
        })?;
        let mut attrs = HashMap::new();
        attrs.insert("execID".to_string(), id.clone());
        self.container_event_with(
            &rec,
            &format!("exec_create: {}", config.cmd.unwrap_or_default().join(" ")),
            attrs,
        );
        Ok(id)
    }

    /// Starts an exec session. With `attach`, the monitor waits for the caller to connect to
    /// `ExecRun::target` before the process runs; the caller then calls [`Engine::exec_running`].
    pub async fn exec_start(
        &self,
        exec_id: &str,
        attach: bool,
        tty_override: Option<bool>,
    ) -> Result<ExecRun> {
        let s = self.execs.get(exec_id)?;
        {
            let mut st = s.state.lock().unwrap_or_else(|p| p.into_inner());
            if st.started {
                return Err(Error::Conflict(format!(
                    "Error: Exec command {exec_id} has already run"
                )));
            }
            st.started = true;
        }
        let c = self.containers.find(&s.container_id)?;
        let rec = c.record();
        check_running(&rec)?;
        let tty = tty_override.unwrap_or(s.config.tty.unwrap_or(false));
        let process = match self.exec_process(&rec, &s.config, tty) {
            Ok(p) => p,
            Err(e) => {
                // As dockerd: the exec ran and failed (exit code 126), e.g. an unknown user.
                self.exec_finished(&s, 126);
                return Err(Error::ExecFailed(e.to_string()));
            }
        };
        let files = MonitorFiles::new(self.paths.exec_dir(exec_id));
        std::fs::create_dir_all(&files.dir)
            .map_err(|e| Error::internal(format!("creating {}", files.dir.display()), e))?;
        let process_path = files.dir.join("process.json");
        crate::util::write_atomic(
            &process_path,
            &serde_json::to_vec(&process).map_err(|e| Error::internal("encoding process", e))?,
        )
        .map_err(|e| Error::internal("writing process.json", e))?;
        let child = self
            .spawn_monitor(&MonitorSpec {
                container_id: &rec.id,
                runtime: &rec.runtime,
                files: &files,
                bundle: None,
                exec_process: Some(&process_path),
                log: None,
                tty,
                stdin: s.config.attach_stdin.unwrap_or(false),
                stdin_once: s.config.attach_stdin.unwrap_or(false),
                attach_wait: attach,
            })
            .await?;
        let mut attrs = HashMap::new();
        attrs.insert("execID".to_string(), exec_id.to_string());
        self.container_event_with(
            &rec,
            &format!(
                "exec_start: {}",
                s.config.cmd.clone().unwrap_or_default().join(" ")
            ),
            attrs,
        );
        Ok(ExecRun {
            target: AttachTarget {
                socket: files.attach_socket(),
                ctl: files.ctl_socket(),
                tty,
                connected: None,
            },
            tty,
            child,
            session: s,
        })
    }

    /// Waits for the started exec's monitor to report, and watches the process. A failure to
    /// run it (no such executable...) sets Docker's exit code (127, or 126) and is returned.
    pub async fn exec_running(&self, run: ExecRun) -> Result<()> {
        let s = run.session.clone();
        let files = MonitorFiles::new(self.paths.exec_dir(&s.id));
        match run.child.finish().await {
            Ok(spawned) => {
                {
                    let mut st = s.state.lock().unwrap_or_else(|p| p.into_inner());
                    st.running = true;
                    st.pid = spawned.pid as i64;
                }
                let engine = self.clone();
                tokio::spawn(async move {
                    wait_for_exit(spawned.pid).await;
                    // The monitor writes the exit file right after it reaps the process.
                    let mut status = None;
                    for _ in 0..500 {
                        if let Some(x) = read_exit(&files) {
                            status = Some(x);
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                    let code = status.map(|x| x.exit_code).unwrap_or(126);
                    engine.exec_finished(&s, code);
                    let _ = std::fs::remove_dir_all(&files.dir);
                });
                Ok(())
            }
            Err(e) => {
                let msg = e.to_string();
                let code = if msg.contains("executable file not found")
                    || msg.contains("no such file or directory")
                {
                    127
                } else {
                    126
                };
                self.exec_finished(&s, code);
                let _ = std::fs::remove_dir_all(&files.dir);
                Err(Error::Internal(format!("OCI runtime exec failed: {msg}")))
            }
        }
    }

    fn exec_finished(&self, s: &ExecSession, code: i64) {
        {
            let mut st = s.state.lock().unwrap_or_else(|p| p.into_inner());
            st.running = false;
            st.exit_code = Some(code);
        }
        s.done.send_replace(true);
        if let Ok(c) = self.containers.find(&s.container_id) {
            let rec = c.record();
            let mut attrs = HashMap::new();
            attrs.insert("execID".to_string(), s.id.clone());
            attrs.insert("exitCode".to_string(), code.to_string());
            self.container_event_with(&rec, "exec_die", attrs);
        }
    }

    /// Resolves when the exec's process has ended.
    pub async fn exec_wait(&self, exec_id: &str) -> Result<()> {
        let s = self.execs.get(exec_id)?;
        let mut rx = s.done.subscribe();
        while !*rx.borrow() {
            if rx.changed().await.is_err() {
                break;
            }
        }
        Ok(())
    }

    /// `GET /exec/{id}/json` in Docker's shape.
    pub fn exec_inspect(&self, exec_id: &str) -> Result<Value> {
        let s = self.execs.get(exec_id)?;
        let st = s.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let cmd = s.config.cmd.clone().unwrap_or_default();
        Ok(json!({
            "ID": s.id,
            "Running": st.running,
            "ExitCode": st.exit_code,
            "ProcessConfig": {
                "tty": s.config.tty.unwrap_or(false),
                "entrypoint": cmd.first().cloned().unwrap_or_default(),
                "arguments": cmd.iter().skip(1).collect::<Vec<_>>(),
                "privileged": s.config.privileged.unwrap_or(false),
                "user": s.config.user.clone().unwrap_or_default(),
            },
            "OpenStdin": s.config.attach_stdin.unwrap_or(false),
            "OpenStderr": s.config.attach_stderr.unwrap_or(false),
            "OpenStdout": s.config.attach_stdout.unwrap_or(false),
            "CanRemove": !st.running && st.started,
            "ContainerID": s.container_id,
            "DetachKeys": s.config.detach_keys.clone().unwrap_or_default(),
            "Pid": st.pid,
        }))
    }

    /// Resizes the exec's TTY.
    pub fn exec_ctl_socket(&self, exec_id: &str) -> Result<std::path::PathBuf> {
        self.execs.get(exec_id)?;
        Ok(MonitorFiles::new(self.paths.exec_dir(exec_id)).ctl_socket())
    }

    /// The ended sessions among `ids` (oldest first, as the record lists them) beyond the
    /// newest `keep`.
    fn ended_execs_beyond(&self, ids: &[String], keep: usize) -> Vec<String> {
        let map = self.execs.by_id.lock().unwrap_or_else(|p| p.into_inner());
        let ended: Vec<String> = ids
            .iter()
            .filter(|id| {
                map.get(id.as_str()).is_none_or(|s| {
                    let st = s.state.lock().unwrap_or_else(|p| p.into_inner());
                    st.exit_code.is_some()
                })
            })
            .cloned()
            .collect();
        let n = ended.len().saturating_sub(keep);
        ended.into_iter().take(n).collect()
    }

    pub(crate) fn exec_forget(&self, exec_id: &str) {
        self.execs
            .by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(exec_id);
    }

    /// The OCI process of an exec: the container's process with the exec's args, env added,
    /// user, working directory, TTY, and all capabilities when privileged.
    fn exec_process(
        &self,
        rec: &crate::containers::ContainerRecord,
        cfg: &ExecConfig,
        tty: bool,
    ) -> Result<Value> {
        let bundle = self.paths.bundle(&rec.id).join("config.json");
        let spec: Value = serde_json::from_slice(
            &std::fs::read(&bundle)
                .map_err(|e| Error::internal(format!("reading {}", bundle.display()), e))?,
        )
        .map_err(|e| Error::internal("config.json", e))?;
        let mut p = spec["process"].clone();
        p["args"] = json!(cfg.cmd.clone().unwrap_or_default());
        p["terminal"] = json!(tty);
        let mut base: Vec<String> = p["env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        // Docker gives an exec with a terminal TERM=xterm unless the container's env sets TERM.
        if tty && !base.iter().any(|e| e.starts_with("TERM=")) {
            base.push("TERM=xterm".to_string());
        }
        if let Some(env) = &cfg.env {
            crate::spec::merge::replace_or_append_env(&mut base, env);
        }
        p["env"] = json!(base);
        if let Some(w) = cfg.working_dir.as_deref().filter(|w| !w.is_empty()) {
            p["cwd"] = json!(w);
        }
        if let Some(u) = cfg.user.as_deref().filter(|u| !u.is_empty()) {
            let group_add = rec.host_config.group_add.clone().unwrap_or_default();
            let user = crate::spec::user::resolve(&self.paths.rootfs(&rec.id), u, &group_add)?;
            p["user"] = user.to_json();
        }
        if cfg.privileged == Some(true) {
            let all = crate::spec::caps::host_capabilities();
            for k in ["bounding", "effective", "permitted"] {
                p["capabilities"][k] = json!(all);
            }
        }
        if let Some(obj) = p.as_object_mut() {
            obj.remove("consoleSize");
        }
        Ok(p)
    }
}

fn check_running(rec: &crate::containers::ContainerRecord) -> Result<()> {
    match rec.state.status {
        Status::Running => Ok(()),
        Status::Paused => Err(Error::Conflict(format!(
            "Container {} is paused, unpause the container before exec",
            rec.id
        ))),
        _ => Err(Error::Conflict(format!(
            "Container {} is not running",
            rec.id
        ))),
    }
}
