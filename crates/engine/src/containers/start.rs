//! `start`: mount the rootfs, write the OCI bundle, start a monitor that creates the container,
//! connect waiting attach clients, then `RUNTIME start`.

use super::attach::AttachTarget;
use super::{Container, ContainerRecord, Status};
use crate::containers::logs::LogOptions;
use crate::error::{Error, Result};
use crate::monitor::{MonitorFiles, MonitorSpec};
use crate::Engine;
use std::sync::Arc;
use std::time::Duration;

impl Engine {
    /// Starts a created or stopped container.
    pub async fn container_start(&self, key: &str) -> Result<()> {
        let c = self.containers.find(key)?;
        let _op = c.op.lock().await;
        self.start_locked(&c).await
    }

    /// Starts `c`; the caller holds `c.op`.
    pub(crate) async fn start_locked(&self, c: &Arc<Container>) -> Result<()> {
        let rec = c.record();
        match rec.state.status {
            Status::Running => return Err(Error::NotModified("container already started".into())),
            Status::Paused => {
                return Err(Error::Conflict(
                    "cannot start a paused container, try unpause instead".into(),
                ))
            }
            Status::Removing | Status::Dead => {
                return Err(Error::Conflict(format!(
                    "container {} is marked for removal and cannot be started",
                    rec.id
                )))
            }
            _ => {}
        }
        match self.launch(c, &rec).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.cleanup_run(&rec).await;
                let msg = e.to_string();
                let code = if msg.contains("executable file not found")
                    || msg.contains("no such file or directory")
                {
                    127
                } else if msg.contains("permission denied") {
                    126
                } else {
                    128
                };
                let _ = c.update(self, |r| {
                    r.state.error = msg.clone();
                    r.state.exit_code = code;
                    r.state.pid = 0;
                    if r.state.status == Status::Restarting {
                        r.state.status = Status::Exited;
                    }
                });
                // Clients waiting to attach get EOF.
                c.attach
                    .pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clear();
                if rec.host_config.auto_remove == Some(true) {
                    // Docker removes a `--rm` container whose start failed; `docker run --rm`
                    // waits for that.
                    let engine = self.clone();
                    let id = rec.id.clone();
                    tokio::spawn(async move {
                        let _ = engine.container_remove(&id, true, true).await;
                    });
                }
                Err(e)
            }
        }
    }

    async fn launch(&self, c: &Arc<Container>, rec: &ContainerRecord) -> Result<()> {
        let id = &rec.id;
        let rootfs = self.paths.rootfs(id);
        self.mount_rootfs(rec)?;
        let bundle = self.paths.bundle(id);
        let init_path = if rec.host_config.init == Some(true) {
            let p = self
                .config
                .init_path
                .clone()
                .unwrap_or_else(|| crate::util::sibling_or_path("berth-init"));
            check_init_binary(&p)?;
            Some(p)
        } else {
            None
        };
        let plan = self.network_prepare(rec).await?;
        let shared_files = plan.shared_from.as_ref().map(|other| {
            let dir = self.paths.bundle(other);
            crate::spec::etc_files::EtcFiles {
                hostname: dir.join("hostname"),
                hosts: dir.join("hosts"),
                resolv_conf: dir.join("resolv.conf"),
            }
        });
        let settings = &self.networks.settings;
        let network = crate::spec::NetworkInput {
            join: plan.join.clone(),
            shared_files,
            shared_hostname: plan.shared_hostname.clone(),
            addresses: plan.addresses(),
            embedded_dns: plan.embedded_dns,
            default_dns: settings.dns.iter().map(|d| d.to_string()).collect(),
            default_dns_search: settings.dns_search.clone(),
            default_dns_opts: settings.dns_opts.clone(),
        };
        let args: Vec<String> = std::iter::once(rec.path.clone())
            .chain(rec.args.iter().cloned())
            .collect();
        // Volumes and binds become bind mounts of their host sources.
        let host_config = self.volumes_prepare(rec)?;
        let recursive_readonly =
            crate::spec::recursive_ro::support(&self.config.runtime_path(&rec.runtime)?).await;
        let input = crate::spec::SpecInput {
            id,
            config: &rec.config,
            host_config: &host_config,
            args: &args,
            rootfs: &rootfs,
            etc_dir: &bundle,
            init_path: init_path.as_deref(),
            cgroups_path: super::runtime::cgroups_path(id),
            network,
            recursive_readonly,
        };
        let mut spec = crate::spec::build(&input)?;
        let readonly = spec
            .root()
            .as_ref()
            .and_then(|r| r.readonly())
            .unwrap_or(false);
        spec.set_root(Some(
            oci_spec::runtime::RootBuilder::default()
                .path(&rootfs)
                .readonly(readonly)
                .build()
                .map_err(|e| Error::internal("spec root", e))?,
        ));
        let json = serde_json::to_vec_pretty(&spec)
            .map_err(|e| Error::internal("encoding config.json", e))?;
        crate::util::write_atomic(&bundle.join("config.json"), &json)
            .map_err(|e| Error::internal("writing config.json", e))?;

        let files = MonitorFiles::new(self.paths.run_dir(id));
        let lc = rec.host_config.log_config.clone().unwrap_or_default();
        let log_opts = LogOptions::parse(
            lc.typ.as_deref().unwrap_or("json-file"),
            &lc.config.clone().unwrap_or_default().into_iter().collect(),
        )
        .map_err(Error::InvalidArgument)?;
        let log_path = std::path::PathBuf::from(&rec.log_path);
        let tty = rec.config.tty.unwrap_or(false);
        let stdin = rec.config.open_stdin.unwrap_or(false);
        // A leftover runtime state from a crash would make `create` fail with "exists".
        self.runtime_delete(&rec.runtime, id).await;
        let child = self
            .spawn_monitor(&MonitorSpec {
                container_id: id,
                runtime: &rec.runtime,
                files: &files,
                bundle: Some(&bundle),
                exec_process: None,
                log: (log_opts.driver != "none").then_some((&log_path, &log_opts)),
                tty,
                stdin,
                stdin_once: rec.config.stdin_once.unwrap_or(false),
                attach_wait: false,
            })
            .await?;
        let spawned = child
            .finish()
            .await
            .map_err(|e| Error::Internal(format!("OCI runtime create failed: {e}")))?;
        // No commit here: until the Running record below is committed, a crash is undone by
        // the next daemon from the monitor's own pid file in the run directory (restore.rs),
        // which saves one fsync'd transaction per start.
        self.network_plumb(rec, &plan, spawned.pid as u32).await?;

        // Hand the socket to clients that attached before the start and wait until they are
        // connected.
        let pending: Vec<_> =
            std::mem::take(&mut *c.attach.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let mut waits = Vec::new();
        for tx in pending {
            let (ctx, crx) = tokio::sync::oneshot::channel();
            if tx
                .send(AttachTarget {
                    socket: files.attach_socket(),
                    ctl: files.ctl_socket(),
                    tty,
                    connected: Some(ctx),
                })
                .is_ok()
            {
                waits.push(crx);
            }
        }
        for w in waits {
            let _ = tokio::time::timeout(Duration::from_secs(5), w).await;
        }

        self.runtime_exec(&rec.runtime, &["start", id])
            .await
            .map_err(|e| Error::Internal(format!("OCI runtime start failed: {e}")))?;
        let rec = c.update(self, |r| {
            r.monitor_pid = spawned.monitor_pid;
            r.state.pid = spawned.pid as i64;
            r.state.status = Status::Running;
            r.state.started_at = crate::util::now_rfc3339();
            r.state.finished_at = crate::util::ZERO_TIME.into();
            r.state.exit_code = 0;
            r.state.error.clear();
            r.state.oom_killed = false;
            r.has_been_started = true;
            r.networks.attachments = plan.attachments.clone();
            r.networks.ports = plan.ports.clone();
            r.clone()
        })?;
        self.container_event(&rec, "start");
        self.watch_monitor(c.clone(), spawned.monitor_pid);
        self.health_start(c);
        Ok(())
    }

    /// Mounts the container's snapshot on its rootfs directory, unless it already is.
    pub(crate) fn mount_rootfs(&self, rec: &ContainerRecord) -> Result<()> {
        let rootfs = self.paths.rootfs(&rec.id);
        if crate::util::is_mountpoint(&rootfs) {
            return Ok(());
        }
        std::fs::create_dir_all(&rootfs)
            .map_err(|e| Error::internal(format!("creating {}", rootfs.display()), e))?;
        let mounts = self.images.snapshots().mounts(&rec.snapshot)?;
        berth_image::mount::mount_all(&mounts, &rootfs)?;
        Ok(())
    }

    /// Undoes a run: the runtime's state, the rootfs mount, the monitor's directory.
    pub(crate) async fn cleanup_run(&self, rec: &ContainerRecord) {
        self.runtime_delete(&rec.runtime, &rec.id).await;
        self.network_release(&rec.id).await;
        let rootfs = self.paths.rootfs(&rec.id);
        if crate::util::is_mountpoint(&rootfs) {
            if let Err(e) = berth_image::mount::unmount_path(&rootfs) {
                tracing::warn!(id = %rec.id, "unmounting rootfs: {e}");
            }
        }
        let _ = std::fs::remove_dir_all(self.paths.run_dir(&rec.id));
        self.volumes_release(rec);
    }
}

/// The `--init` binary runs inside the container, whose image may have no libc: it must exist
/// and be statically linked (no ELF interpreter), or the container would fail with a bare
/// "No such file or directory" from inside.
fn check_init_binary(path: &std::path::Path) -> Result<()> {
    // The ELF and program headers sit at the start of the file.
    let read_head = |p: &std::path::Path| -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        let mut head = Vec::with_capacity(8192);
        std::fs::File::open(p)?.take(8192).read_to_end(&mut head)?;
        Ok(head)
    };
    let bytes = read_head(path).map_err(|e| {
        Error::Internal(format!(
            "--init: the init binary {} cannot be read: {e} (set \"init-path\" in daemon.json)",
            path.display()
        ))
    })?;
    if has_elf_interpreter(&bytes) {
        return Err(Error::Internal(format!(
            "--init: {} is dynamically linked and cannot run in images without a libc; build it static (scripts/build-release.sh does)",
            path.display()
        )));
    }
    Ok(())
}

/// Whether a 64-bit little-endian ELF file has a PT_INTERP program header.
fn has_elf_interpreter(b: &[u8]) -> bool {
    let u16_at = |o: usize| b.get(o..o + 2).map(|x| u16::from_le_bytes([x[0], x[1]]));
    let u32_at = |o: usize| {
        b.get(o..o + 4)
            .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]))
    };
    let u64_at = |o: usize| {
        b.get(o..o + 8).map(|x| {
            let mut a = [0u8; 8];
            a.copy_from_slice(x);
            u64::from_le_bytes(a)
        })
    };
    if b.get(..4) != Some(b"\x7fELF") || b.get(4) != Some(&2) || b.get(5) != Some(&1) {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    (0..phnum as usize).any(|i| {
        u32_at(phoff as usize + i * phentsize as usize) == Some(3) // PT_INTERP
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_interpreter_is_detected() {
        let me = std::fs::read("/proc/self/exe").expect("read own binary");
        // Test binaries are linked dynamically (they have an interpreter).
        assert!(has_elf_interpreter(&me));
        assert!(!has_elf_interpreter(b"#!/bin/sh\n"));
        assert!(check_init_binary(std::path::Path::new("/nonexistent/berth-init")).is_err());
    }
}
