//! berth-runc end to end: real containers from a busybox rootfs, real namespaces and cgroups.
//! Every test checks what it leaves behind (state dirs, cgroups, mounts).

use berth_e2e::{cgroup_dirs, output_via_files, require, stderr, stdout, unique_id, Bundle, Runc};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;

fn ready() -> bool {
    berth_e2e::can_run_containers("berth-runc tests")
}

fn config(args: &[&str]) -> Value {
    berth_e2e::writable_config(args)
}

fn assert_nothing_left(r: &Runc, id: &str, bundle: &Path) {
    assert!(
        !r.root.path().join(id).exists(),
        "state dir of {id} left behind"
    );
    assert_eq!(
        cgroup_dirs(id),
        Vec::<PathBuf>::new(),
        "cgroups of {id} left behind"
    );
    let b = bundle.to_string_lossy().into_owned();
    assert_eq!(
        berth_e2e::mounts_containing(&b),
        Vec::<String>::new(),
        "mounts left behind"
    );
}

#[test]
fn isolation_pid_hostname_mounts() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let b = Bundle::new(&config(&["sh", "-c", "echo pid=$$; hostname; ip -o link show lo | grep -c LOWER_UP; cut -d' ' -f5 /proc/self/mountinfo | tr '\\n' ' '; echo; ls /proc | grep -c '^[0-9]'"]));
    let id = unique_id("iso");
    let (code, out, err) = r.run_bundle(&b, &id);
    assert_eq!(code, 0, "stderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "pid=1", "{out}");
    assert_eq!(lines[1], "berth", "{out}");
    assert_eq!(
        lines[2], "1",
        "lo is up in the new network namespace: {out}"
    );
    let lines = &lines[1..];
    let points: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(points[0], "/", "{out}");
    assert!(
        points.iter().all(|p| *p == "/"
            || p.starts_with("/proc")
            || p.starts_with("/dev")
            || p.starts_with("/sys")),
        "the container sees only its own mounts, none of the host's: {points:?}"
    );
    assert!(
        lines[3].parse::<u32>().expect("count") <= 3,
        "only the container's processes are visible: {out}"
    );
    assert_nothing_left(&r, &id, b.path());
}

#[test]
fn exit_codes_and_signals_are_reported() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let b = Bundle::new(&config(&["sh", "-c", "exit 42"]));
    let id = unique_id("exit");
    assert_eq!(r.run_bundle(&b, &id).0, 42);
    // Signals sent to `run` reach the container (here a shell that traps TERM and exits 5) ...
    b.write_config(&config(&[
        "sh",
        "-c",
        "trap 'exit 5' TERM; echo ready > /ready; sleep 30 & wait",
    ]));
    // `run` in the foreground, in the background of the test.
    let spawn_run = || {
        let mut run = r.cmd();
        run.args(["run", "--bundle", b.path().to_str().expect("utf8"), &id]);
        run.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn run")
    };
    let child = spawn_run();
    let wait_ready = || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !b.rootfs().join("ready").exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(b.rootfs().join("ready").exists(), "container did not start");
        let _ = std::fs::remove_file(b.rootfs().join("ready"));
    };
    wait_ready();
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("signal run");
    let status = child.wait_with_output().expect("wait").status;
    assert_eq!(status.code(), Some(5), "SIGTERM forwarded to the container");
    // ... and a container killed by SIGKILL reports 128+9.
    let child = spawn_run();
    wait_ready();
    r.ok(&["kill", &id, "KILL"]);
    assert_eq!(
        child.wait_with_output().expect("wait").status.code(),
        Some(137)
    );
    // Real-time signals by number (Docker stops systemd containers with SIGRTMIN+3 = 37).
    b.write_config(&config(&[
        "sh",
        "-c",
        "trap 'exit 9' 37; echo ready > /ready; sleep 30 & wait",
    ]));
    let child = spawn_run();
    wait_ready();
    r.ok(&["kill", &id, "37"]);
    assert_eq!(
        child.wait_with_output().expect("wait").status.code(),
        Some(9)
    );
    assert_nothing_left(&r, &id, b.path());
}

#[test]
fn containers_that_exit_at_once_never_hang() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let b = Bundle::new(&config(&["true"]));
    for i in 0..60 {
        let id = format!("{}-{i}", unique_id("fast"));
        let (code, _, err) = r.run_bundle(&b, &id);
        assert_eq!(code, 0, "run {i}: {err}");
    }
}

#[test]
fn memory_limit_kills_with_137() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let mut c = config(&["sh", "-c", "tail /dev/zero"]);
    c["linux"]["resources"]["memory"] =
        json!({"limit": 16 * 1024 * 1024, "swap": 16 * 1024 * 1024});
    let b = Bundle::new(&c);
    let id = unique_id("oom");
    let (code, _, err) = r.run_bundle(&b, &id);
    assert_eq!(code, 137, "the OOM killer ends the container: {err}");
    assert_nothing_left(&r, &id, b.path());
}

#[test]
fn pids_limit_stops_a_fork_loop() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let mut c = config(&[
        "sh",
        "-c",
        "for i in $(seq 1 40); do sleep 3 & done; echo spawned",
    ]);
    c["linux"]["resources"]["pids"] = json!({"limit": 10});
    let b = Bundle::new(&c);
    let id = unique_id("pids");
    let (_, _, err) = r.run_bundle(&b, &id);
    assert!(
        err.contains("can't fork") || err.contains("Resource temporarily unavailable"),
        "forks beyond pids.max fail: {err}"
    );
    assert_nothing_left(&r, &id, b.path());
}

#[test]
fn cpu_quota_and_limits_are_written_to_the_cgroup() {
    if !ready() {
        return;
    }
    if !require(
        Path::new("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").exists(),
        "cgroup v1 cpu controller not mounted",
    ) {
        return;
    }
    let r = Runc::new();
    let mut c = config(&["sleep", "30"]);
    c["linux"]["resources"]["cpu"] = json!({"quota": 50000, "period": 100000, "shares": 512});
    c["linux"]["resources"]["memory"] = json!({"limit": 64 * 1024 * 1024});
    c["linux"]["resources"]["pids"] = json!({"limit": 77});
    let b = Bundle::new(&c);
    let id = unique_id("cpu");
    r.ok(&["create", "--bundle", b.path().to_str().expect("utf8"), &id]);
    let read = |f: &str| {
        std::fs::read_to_string(Path::new("/sys/fs/cgroup").join(f))
            .expect(f)
            .trim()
            .to_string()
    };
    assert_eq!(read(&format!("cpu/{id}/cpu.cfs_quota_us")), "50000");
    assert_eq!(read(&format!("cpu/{id}/cpu.cfs_period_us")), "100000");
    assert_eq!(read(&format!("cpu/{id}/cpu.shares")), "512");
    assert_eq!(
        read(&format!("memory/{id}/memory.limit_in_bytes")),
        (64 * 1024 * 1024).to_string()
    );
    assert_eq!(read(&format!("pids/{id}/pids.max")), "77");
    let pid = r.state(&id)["pid"].as_i64().expect("pid");
    assert!(
        read(&format!("pids/{id}/cgroup.procs"))
            .lines()
            .any(|l| l == pid.to_string()),
        "init is in its cgroup"
    );
    r.ok(&["update", "--pids-limit", "33", "--memory", "96m", &id]);
    assert_eq!(read(&format!("pids/{id}/pids.max")), "33");
    assert_eq!(
        read(&format!("memory/{id}/memory.limit_in_bytes")),
        (96 * 1024 * 1024).to_string()
    );
    r.ok(&["delete", &id]);
    assert_nothing_left(&r, &id, b.path());
}

#[test]
fn dropped_capability_denies_chown() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let b = Bundle::new(&config(&[
        "sh",
        "-c",
        "touch /tmp/f && chown 1000 /tmp/f && echo chowned",
    ]));
    let id = unique_id("cap");
    let (code, out, err) = r.run_bundle(&b, &id);
    assert_ne!(code, 0, "chown must fail without CAP_CHOWN: {out}");
    assert!(err.contains("Operation not permitted"), "{err}");
    let mut c = config(&[
        "sh",
        "-c",
        "touch /tmp/f && chown 1000 /tmp/f && echo chowned",
    ]);
    for set in ["bounding", "effective", "permitted"] {
        c["process"]["capabilities"][set]
            .as_array_mut()
            .expect("caps")
            .push(json!("CAP_CHOWN"));
    }
    b.write_config(&c);
    let (code, out, err) = r.run_bundle(&b, &id);
    assert_eq!((code, out.as_str()), (0, "chowned"), "{err}");
}

#[test]
fn non_root_user_with_groups_and_umask() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let mut c = config(&[
        "sh",
        "-c",
        "id -u; id -g; id -G; umask; grep CapEff /proc/self/status",
    ]);
    c["process"]["user"] =
        json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 27], "umask": 63});
    let nbs = json!(["CAP_NET_BIND_SERVICE"]);
    c["process"]["capabilities"] = json!({"bounding": nbs, "effective": nbs, "permitted": nbs, "inheritable": nbs, "ambient": nbs});
    let b = Bundle::new(&c);
    let (code, out, err) = r.run_bundle(&b, &unique_id("user"));
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(&l[..4], ["1000", "1000", "1000 5 27", "0077"], "{out}");
    // A non-root user keeps a capability across exec only through the ambient set.
    assert!(
        l[4].ends_with("0000000000000400"),
        "CAP_NET_BIND_SERVICE stays effective: {out}"
    );
}

#[test]
fn seccomp_rule_returns_its_errno() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let mut c = config(&["sh", "-c", "mkdir /tmp/d; echo mkdir=$?"]);
    c["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 36}]
    });
    let b = Bundle::new(&c);
    let (code, out, err) = r.run_bundle(&b, &unique_id("seccomp"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "mkdir=1");
    assert!(
        err.contains("File name too long"),
        "errno 36 (ENAMETOOLONG) comes back: {err}"
    );
    assert!(!b.rootfs().join("tmp/d").exists());
}

#[test]
fn readonly_rootfs_masked_and_readonly_paths() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let mut c = config(&["sh", "-c", "touch /x 2>&1; echo masked=$(cat /proc/keys /proc/timer_list | wc -c); ls /sys/firmware | wc -l; (echo 1 > /proc/sys/kernel/domainname) 2>&1; echo done"]);
    c["root"]["readonly"] = json!(true);
    let b = Bundle::new(&c);
    let (code, out, err) = r.run_bundle(&b, &unique_id("ro"));
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    assert!(l[0].contains("Read-only file system"), "{out}");
    assert_eq!(
        l[1].trim(),
        "masked=0",
        "/proc/keys and /proc/timer_list are masked by /dev/null: {out}"
    );
    assert_eq!(l[2].trim(), "0", "/sys/firmware is an empty tmpfs: {out}");
    assert!(
        l[3].contains("Read-only file system"),
        "/proc/sys is read-only: {out}"
    );
    assert!(!b.rootfs().join("x").exists());
}

#[test]
fn user_namespace_mapping_seen_from_both_sides() {
    if !ready()
        || !require(
            Path::new("/proc/self/ns/user").exists(),
            "no user namespaces",
        )
    {
        return;
    }
    let r = Runc::new();
    let mut c = config(&["sleep", "30"]);
    c["linux"]["namespaces"]
        .as_array_mut()
        .expect("ns")
        .push(json!({"type": "user"}));
    c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    // A cgroup v1 mount is not allowed in a user namespace (as with `runc spec --rootless`).
    c["mounts"]
        .as_array_mut()
        .expect("mounts")
        .retain(|m| m["type"] != "cgroup");
    let b = Bundle::new(&c);
    let id = unique_id("userns");
    r.ok(&["create", "--bundle", b.path().to_str().expect("utf8"), &id]);
    r.ok(&["start", &id]);
    let pid = r.state(&id)["pid"].as_i64().expect("pid");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).expect("Uid");
    assert!(
        uid_line.split_whitespace().skip(1).all(|u| u == "200000"),
        "host sees the mapped uid: {uid_line}"
    );
    let o = r.run(&["exec", &id, "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    let out = stdout(&o);
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "0", "root inside: {out} {}", stderr(&o));
    assert_eq!(
        l[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "200000", "65536"]
    );
    r.ok(&["delete", "--force", &id]);
    assert_nothing_left(&r, &id, b.path());
}

#[test]
fn lifecycle_state_rules() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let b = Bundle::new(&config(&["sh", "-c", "sleep 30"]));
    let id = unique_id("life");
    let bs = b.path().to_str().expect("utf8");
    let pidfile = b.path().join("pid");
    r.ok(&[
        "create",
        "--bundle",
        bs,
        "--pid-file",
        pidfile.to_str().expect("utf8"),
        &id,
    ]);
    let st = r.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["ociVersion"], "1.0.2");
    assert_eq!(st["bundle"], bs);
    assert_eq!(
        std::fs::read_to_string(&pidfile).expect("pid file"),
        st["pid"].to_string()
    );
    let dup = r.run(&["create", "--bundle", bs, &id]);
    assert!(
        !dup.status.success() && stderr(&dup).contains("already exists"),
        "{}",
        stderr(&dup)
    );
    r.ok(&["start", &id]);
    assert_eq!(r.state(&id)["status"], "running");
    let again = r.run(&["start", &id]);
    assert!(!again.status.success(), "start twice must fail");
    let del = r.run(&["delete", &id]);
    assert!(
        !del.status.success() && stderr(&del).contains("not stopped"),
        "{}",
        stderr(&del)
    );
    r.ok(&["pause", &id]);
    assert_eq!(r.state(&id)["status"], "paused");
    r.ok(&["resume", &id]);
    let list = r.ok(&["list", "--format", "json"]);
    assert!(list.contains(&id), "{list}");
    let ps: Vec<i64> =
        serde_json::from_str(&r.ok(&["ps", "--format", "json", &id])).expect("ps json");
    assert!(ps.contains(&r.state(&id)["pid"].as_i64().expect("pid")));
    r.ok(&["kill", &id, "KILL"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while r.state(&id)["status"] != "stopped" && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(r.state(&id)["status"], "stopped");
    let k = r.run(&["kill", &id, "TERM"]);
    assert!(!k.status.success(), "kill of a stopped container fails");
    r.ok(&["delete", &id]);
    let gone = r.run(&["state", &id]);
    assert!(!gone.status.success() && stderr(&gone).contains("does not exist"));
    r.ok(&["delete", "--force", &id]);
    assert_nothing_left(&r, &id, b.path());
}

#[test]
fn delete_of_a_created_container_removes_everything() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let b = Bundle::new(&config(&["true"]));
    let id = unique_id("created");
    r.ok(&["create", "--bundle", b.path().to_str().expect("utf8"), &id]);
    let pid = r.state(&id)["pid"].as_i64().expect("pid");
    r.ok(&["delete", &id]);
    assert!(
        !Path::new(&format!("/proc/{pid}/ns")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z"))
    );
    assert_nothing_left(&r, &id, b.path());
}

#[test]
fn concurrent_starts_are_serialized() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let b = Bundle::new(&config(&["sleep", "30"]));
    let id = unique_id("conc");
    r.ok(&["create", "--bundle", b.path().to_str().expect("utf8"), &id]);
    let ok: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| s.spawn(|| r.run(&["start", &id]).status.success()))
            .collect();
        handles
            .into_iter()
            .map(|h| usize::from(h.join().expect("thread")))
            .sum()
    });
    assert_eq!(ok, 1, "exactly one concurrent start wins");
    r.ok(&["delete", "--force", &id]);
    assert_nothing_left(&r, &id, b.path());
}

#[test]
fn exec_joins_the_container() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let b = Bundle::new(&config(&["sleep", "30"]));
    let id = unique_id("exec");
    r.ok(&[
        "run",
        "--detach",
        "--bundle",
        b.path().to_str().expect("utf8"),
        &id,
    ]);
    let o = r.run(&[
        "exec",
        "-e",
        "FOO=bar",
        "--cwd",
        "/tmp",
        &id,
        "sh",
        "-c",
        "echo $FOO; pwd; hostname; cat /proc/1/cmdline | tr '\\0' ' '; exit 7",
    ]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    let out = stdout(&o);
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(&l[..3], ["bar", "/tmp", "berth"], "{out}");
    assert_eq!(
        l[3].trim(),
        "sleep 30",
        "pid 1 of the container is visible: {out}"
    );
    let process = b.path().join("process.json");
    std::fs::write(&process, serde_json::to_vec(&json!({"args": ["sh", "-c", "echo from-process-file"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]})).expect("json")).expect("write");
    let o = r.run(&["exec", "--process", process.to_str().expect("utf8"), &id]);
    assert_eq!(stdout(&o), "from-process-file", "{}", stderr(&o));
    let missing = r.run(&["exec", &id, "nope-not-here"]);
    assert!(
        !missing.status.success() && stderr(&missing).contains("executable file not found"),
        "{}",
        stderr(&missing)
    );
    r.ok(&["delete", "--force", &id]);
    assert_nothing_left(&r, &id, b.path());
}

#[test]
fn no_file_descriptors_leak_into_the_container() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let b = Bundle::new(&config(&["sh", "-c", "ls /proc/self/fd | tr '\\n' ' '"]));
    let (code, out, err) = r.run_bundle(&b, &unique_id("fds"));
    assert_eq!(code, 0, "{err}");
    // 0-2 and the fd ls itself opens for the directory listing.
    assert_eq!(out, "0 1 2 3", "only stdio crosses into the container");
}

/// CVE-2019-5736: the executable behind /proc/PID/exe of any runtime process that enters a
/// container must not be writable: a read-only detached mount of the binary by default, a sealed
/// memfd copy as the fallback (forced here with BERTH_RUNC_SEALED_COPY=1).
#[test]
fn runtime_binary_is_protected_against_overwrite() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let b = Bundle::new(&config(&["true"]));
    for sealed_copy in [false, true] {
        let id = unique_id("protected");
        let mut c = r.cmd();
        if sealed_copy {
            c.env("BERTH_RUNC_SEALED_COPY", "1");
        }
        let o =
            output_via_files(c.args(["create", "--bundle", b.path().to_str().expect("utf8"), &id]));
        assert!(o.status.success(), "{}", stderr(&o));
        let pid = r.state(&id)["pid"].as_i64().expect("pid");
        // The waiting init is a fork of the runtime: its executable is what a container process
        // could reach through /proc/PID/exe.
        let exe = format!("/proc/{pid}/exe");
        let f = std::fs::File::open(&exe).expect("open exe");
        if sealed_copy {
            let link = std::fs::read_link(&exe).expect("exe link");
            assert!(
                link.to_string_lossy().starts_with("/memfd:berth-runc"),
                "{link:?}"
            );
            let seals = rustix::fs::fcntl_get_seals(&f).expect("seals");
            assert!(seals.contains(
                rustix::fs::SealFlags::WRITE
                    | rustix::fs::SealFlags::GROW
                    | rustix::fs::SealFlags::SHRINK
            ));
        } else {
            let st = rustix::fs::fstatvfs(&f).expect("statvfs");
            assert!(
                st.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY),
                "exe is on a read-only mount"
            );
        }
        let w = std::fs::OpenOptions::new().write(true).open(&exe);
        assert!(
            w.is_err(),
            "the runtime binary behind /proc/PID/exe must not be writable"
        );
        r.ok(&["delete", &id]);
    }
    assert_eq!(
        berth_e2e::mounts_containing("berth-runc"),
        Vec::<String>::new(),
        "no mount of the binary is left"
    );
}

#[test]
fn terminal_through_a_console_socket() {
    if !ready() {
        return;
    }
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    let r = Runc::new();
    let mut c = config(&["sh", "-c", "tty; stty size; read line; echo got:$line"]);
    c["process"]["terminal"] = json!(true);
    c["process"]["consoleSize"] = json!({"height": 33, "width": 101});
    let b = Bundle::new(&c);
    let sock = b.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
    let id = unique_id("tty");
    let mut create = r.cmd();
    create.args([
        "create",
        "--bundle",
        b.path().to_str().expect("utf8"),
        "--console-socket",
        sock.to_str().expect("utf8"),
        &id,
    ]);
    let child = std::thread::spawn(move || output_via_files(&mut create));
    let (conn, _) = listener.accept().expect("accept");
    let mut buf = [0u8; 64];
    let mut space = [std::mem::MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut anc = rustix::net::RecvAncillaryBuffer::new(&mut space);
    rustix::net::recvmsg(
        conn.as_fd(),
        &mut [std::io::IoSliceMut::new(&mut buf)],
        &mut anc,
        rustix::net::RecvFlags::empty(),
    )
    .expect("recvmsg");
    let mut master = None;
    for m in anc.drain() {
        if let rustix::net::RecvAncillaryMessage::ScmRights(fds) = m {
            master = fds.into_iter().next();
        }
    }
    let master = master.expect("pty master received over the console socket");
    let out = child.join().expect("create thread");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    r.ok(&["start", &id]);
    let mut m = std::fs::File::from(master);
    m.write_all(b"hello\n").expect("write to pty");
    let mut text = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !text.contains("got:hello") && std::time::Instant::now() < deadline {
        let mut chunk = [0u8; 256];
        match m.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&chunk[..n])),
        }
    }
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    assert!(text.contains("33 101"), "console size applied: {text:?}");
    assert!(text.contains("got:hello"), "{text:?}");
    r.ok(&["delete", "--force", &id]);
}

#[test]
fn hooks_run_in_order_with_state_on_stdin() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let b = Bundle::new(&config(&["sh", "-c", "echo process >> /hooks.log"]));
    let log = b.path().join("host-hooks.log");
    let hook = |name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("read s; echo {name} $s | cut -c1-200 >> {}", log.display())]});
    let mut c = config(&["sh", "-c", "echo process >> /hooks.log"]);
    c["hooks"] = json!({
        "prestart": [hook("prestart")],
        "createRuntime": [hook("createRuntime")],
        "createContainer": [hook("createContainer")],
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo startContainer >> /hooks.log"]}],
        "poststart": [hook("poststart")],
        "poststop": [hook("poststop")]
    });
    b.write_config(&c);
    let id = unique_id("hooks");
    let (code, _, err) = r.run_bundle(&b, &id);
    assert_eq!(code, 0, "{err}");
    let host = std::fs::read_to_string(&log).expect("host hook log");
    let order: Vec<&str> = host
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(
        order,
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "poststart",
            "poststop"
        ],
        "{host}"
    );
    assert!(
        host.lines()
            .next()
            .is_some_and(|l| l.contains(&format!("\"id\":\"{id}\""))),
        "state JSON on stdin: {host}"
    );
    let inside = std::fs::read_to_string(b.rootfs().join("hooks.log")).expect("container hook log");
    assert_eq!(
        inside.lines().collect::<Vec<_>>(),
        ["startContainer", "process"]
    );
    // A failing hook fails create and leaves nothing behind.
    c["hooks"] = json!({"createRuntime": [{"path": "/bin/false"}]});
    b.write_config(&c);
    let (code, _, err) = r.run_bundle(&b, &id);
    assert_ne!(code, 0);
    assert!(err.contains("createRuntime hook /bin/false"), "{err}");
    assert_nothing_left(&r, &id, b.path());
    // A hook past its timeout is killed and fails create.
    c["hooks"] =
        json!({"prestart": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]});
    b.write_config(&c);
    let started = std::time::Instant::now();
    let (code, _, err) = r.run_bundle(&b, &id);
    assert_ne!(code, 0);
    assert!(err.contains("timed out after 1s"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the hook was not killed"
    );
    assert_nothing_left(&r, &id, b.path());
}

#[test]
fn bad_config_names_the_field_and_leaves_nothing() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let b = Bundle::new(&config(&["true"]));
    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut c = config(&["true"]);
                c["process"]["args"] = json!("true");
                c
            },
            "process.args",
        ),
        (
            {
                let mut c = config(&["true"]);
                c["root"] = json!({});
                c
            },
            "root.path",
        ),
        (
            {
                let mut c = config(&["true"]);
                c["linux"]["namespaces"][0]["type"] = json!("bogus");
                c
            },
            "linux.namespaces[0].type",
        ),
        (
            {
                let mut c = config(&["true"]);
                c["mounts"].as_array_mut().expect("m").push(json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["size=lots"]}));
                c
            },
            "mounts[7]",
        ),
        (
            {
                let mut c = config(&["true"]);
                c["mounts"]
                    .as_array_mut()
                    .expect("m")
                    .push(json!({"destination": "relative", "type": "tmpfs"}));
                c
            },
            "mounts[7].destination",
        ),
        (
            {
                let mut c = config(&["true"]);
                c["ociVersion"] = json!("2.0.0");
                c
            },
            "ociVersion",
        ),
        (
            {
                let mut c = config(&["/etc/passwd"]);
                c["process"]["args"] = json!(["/etc/passwd"]);
                c
            },
            "permission denied",
        ),
        (
            {
                let mut c = config(&["true"]);
                c["process"]["rlimits"] =
                    json!([{"type": "RLIMIT_NOFILE", "soft": 30000, "hard": 30000}]);
                c
            },
            "process.rlimits[0]",
        ),
    ];
    for (i, (c, field)) in cases.iter().enumerate() {
        b.write_config(c);
        let id = format!("{}-{i}", unique_id("bad"));
        let (code, _, err) = r.run_bundle(&b, &id);
        assert_eq!(code, 1, "case {i} must fail with exit 1");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(field), "case {i}: error names {field}: {err}");
        assert_nothing_left(&r, &id, b.path());
    }
    std::fs::write(b.path().join("config.json"), b"{ not json").expect("write");
    let id = unique_id("bad-json");
    let (code, _, err) = r.run_bundle(&b, &id);
    assert_eq!(code, 1);
    assert!(err.contains("config.json"), "{err}");
    assert_nothing_left(&r, &id, b.path());
}

#[test]
fn cgroup_v2_files_are_written_under_a_cgroup2_layout() {
    if !ready() {
        return;
    }
    let fake = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        fake.path().join("cgroup.controllers"),
        "cpuset cpu io memory hugetlb pids rdma misc\n",
    )
    .expect("controllers");
    std::fs::write(fake.path().join("cgroup.subtree_control"), "").expect("subtree");
    let r = Runc::new();
    let mut c = config(&["true"]);
    c["linux"]["cgroupsPath"] = json!("/berth/v2test");
    c["linux"]["resources"] = json!({
        "memory": {"limit": 268435456, "swap": 536870912, "reservation": 134217728},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 64},
        "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]}
    });
    let b = Bundle::new(&c);
    let id = unique_id("v2");
    let mut cmd = r.cmd();
    cmd.env("BERTH_CGROUP_ROOT", fake.path())
        .env("BERTH_CGROUP_MODE", "v2");
    let o =
        output_via_files(cmd.args(["create", "--bundle", b.path().to_str().expect("utf8"), &id]));
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = fake.path().join("berth/v2test");
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .unwrap_or_else(|e| panic!("{f}: {e}"))
            .trim()
            .to_string()
    };
    let pid = r.state(&id)["pid"].to_string();
    assert_eq!(read("cgroup.procs"), pid);
    assert_eq!(read("memory.max"), "268435456");
    assert_eq!(
        read("memory.swap.max"),
        "268435456",
        "OCI swap is memory+swap; cgroup2 wants swap alone"
    );
    assert_eq!(read("memory.low"), "134217728");
    assert_eq!(read("pids.max"), "64");
    assert_eq!(read("cpu.max"), "50000 100000");
    assert_eq!(read("cpu.weight"), "39", "runc's shares->weight conversion");
    assert_eq!(read("cpuset.cpus"), "0");
    assert_eq!(read("cpuset.mems"), "0");
    assert_eq!(read("io.max"), "8:0 rbps=1048576");
    assert!(!read("io.weight").is_empty());
    let mut del = r.cmd();
    del.env("BERTH_CGROUP_ROOT", fake.path())
        .env("BERTH_CGROUP_MODE", "v2");
    let o = del.args(["delete", &id]).output().expect("delete");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!dir.exists(), "the v2 cgroup is removed");
}

#[test]
fn cgroup_v2_device_filter_is_enforced_on_the_unified_hierarchy() {
    if !ready() {
        return;
    }
    let unified = Path::new("/sys/fs/cgroup/unified");
    if !require(
        unified.join("cgroup.procs").exists(),
        "no cgroup2 hierarchy mounted at /sys/fs/cgroup/unified",
    ) {
        return;
    }
    let r = Runc::new();
    let mut c = config(&[
        "sh",
        "-c",
        "head -c1 /dev/kmsg >/dev/null 2>/tmp/err; cat /tmp/err; head -c1 /dev/zero | wc -c",
    ]);
    c["linux"]["devices"] =
        json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 420}]);
    c["linux"]["cgroupsPath"] = json!("/berth-e2e-devices");
    c["mounts"]
        .as_array_mut()
        .expect("mounts")
        .retain(|m| m["type"] != "cgroup");
    let b = Bundle::new(&c);
    let id = unique_id("bpf");
    let mut cmd = r.cmd();
    cmd.env("BERTH_CGROUP_ROOT", unified)
        .env("BERTH_CGROUP_MODE", "v2");
    let o = output_via_files(cmd.args(["run", "--bundle", b.path().to_str().expect("utf8"), &id]));
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        out.contains("Operation not permitted"),
        "the eBPF device filter denies /dev/kmsg: {out}"
    );
    assert!(out.ends_with('1'), "allowed devices still work: {out}");
    assert!(
        !unified.join("berth-e2e-devices").exists(),
        "cgroup removed"
    );
}

#[test]
fn config_fields_apply_inside_the_container() {
    if !ready()
        || !require(
            berth_e2e::which("ip").is_some(),
            "iproute2 (ip) is not installed",
        )
    {
        return;
    }
    let r = Runc::new();
    let host_dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(host_dir.path().join("hello"), "from-host").expect("write");
    let netns = unique_id("berth-e2e-netns");
    let added = std::process::Command::new("ip")
        .args(["netns", "add", &netns])
        .status()
        .expect("ip netns add");
    assert!(added.success());
    let ns_path = format!("/var/run/netns/{netns}");
    let ns_ino =
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&ns_path).expect("netns file"));
    let script = "cat /data/hello; echo; touch /data/x 2>&1; cat /proc/sys/net/ipv4/ip_forward; \
                  cat /proc/sys/kernel/domainname; cat /proc/self/oom_score_adj; uname -m; \
                  ls -l /dev/fuse | cut -c1; readlink /proc/self/ns/net; cut -d. -f1 /proc/uptime; \
                  readlink /dev/fd; readlink /dev/ptmx; \
                  grep -c '^root:' /etc/passwd; echo new > /etc/added && stat -f -c %T /etc";
    let mut c = config(&["sh", "-c", script]);
    c["mounts"].as_array_mut().expect("mounts").push(json!({
        "destination": "/data", "type": "bind", "source": host_dir.path(), "options": ["rbind", "ro", "rprivate"]
    }));
    c["mounts"].as_array_mut().expect("mounts").push(json!({
        "destination": "/etc", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "mode=755"]
    }));
    c["domainname"] = json!("example.org");
    c["process"]["oomScoreAdj"] = json!(500);
    c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    c["linux"]["personality"] = json!({"domain": "LINUX32"});
    c["linux"]["devices"] =
        json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}]);
    let ns = c["linux"]["namespaces"].as_array_mut().expect("ns");
    ns.retain(|n| n["type"] != "network");
    ns.push(json!({"type": "network", "path": ns_path}));
    ns.push(json!({"type": "time"}));
    c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 31_536_000, "nanosecs": 0}});
    let b = Bundle::new(&c);
    let id = unique_id("fields");
    let o = r.run(&[
        "run",
        "--no-pivot",
        "--bundle",
        b.path().to_str().expect("utf8"),
        &id,
    ]);
    let out = stdout(&o);
    let _ = std::process::Command::new("ip")
        .args(["netns", "delete", &netns])
        .status();
    assert!(o.status.success(), "{}\n{out}", stderr(&o));
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "from-host", "bind mount: {out}");
    assert!(l[1].contains("Read-only file system"), "ro bind: {out}");
    assert_eq!(l[2], "1", "sysctl in the joined network namespace: {out}");
    assert_eq!(l[3], "example.org", "domainname: {out}");
    assert_eq!(l[4], "500", "oomScoreAdj: {out}");
    assert!(
        matches!(l[5], "i686" | "i386"),
        "personality LINUX32: {out}"
    );
    assert_eq!(l[6], "c", "linux.devices creates the node: {out}");
    assert_eq!(
        l[7],
        format!("net:[{ns_ino}]"),
        "joined the network namespace by path: {out}"
    );
    assert!(
        l[8].parse::<u64>().expect("uptime") >= 31_536_000,
        "time namespace boottime offset: {out}"
    );
    assert_eq!(
        &l[9..11],
        ["/proc/self/fd", "pts/ptmx"],
        "/dev symlinks: {out}"
    );
    assert_nothing_left(&r, &id, b.path());
}

#[test]
fn kill_all_signals_every_process_of_the_container() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let mut c = config(&["sh", "-c", "sleep 60 & sleep 60 & wait"]);
    // In the host's pid namespace, killing the init alone would leave the sleeps behind.
    c["linux"]["namespaces"]
        .as_array_mut()
        .expect("ns")
        .retain(|n| n["type"] != "pid");
    c["mounts"]
        .as_array_mut()
        .expect("mounts")
        .retain(|m| m["type"] != "proc");
    let b = Bundle::new(&c);
    let id = unique_id("killall");
    r.ok(&[
        "run",
        "--detach",
        "--bundle",
        b.path().to_str().expect("utf8"),
        &id,
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut pids: Vec<i64> = Vec::new();
    while pids.len() < 3 && std::time::Instant::now() < deadline {
        pids = serde_json::from_str(&r.ok(&["ps", "--format", "json", &id])).expect("ps json");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(pids.len(), 3, "init and two sleeps: {pids:?}");
    r.ok(&["kill", "--all", &id, "KILL"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while pids.iter().any(|p| berth_runtime_alive(*p)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        !pids.iter().any(|p| berth_runtime_alive(*p)),
        "every process got SIGKILL"
    );
    r.ok(&["delete", &id]);
    assert_nothing_left(&r, &id, b.path());
}

/// Alive and not a zombie.
fn berth_runtime_alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

#[test]
fn relative_pid_file_is_relative_to_the_callers_directory() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let b = Bundle::new(&config(&["true"]));
    let cwd = tempfile::tempdir().expect("tempdir");
    let id = unique_id("pidfile");
    let mut c = r.cmd();
    c.current_dir(cwd.path()).args([
        "create",
        "--bundle",
        b.path().to_str().expect("utf8"),
        "--pid-file",
        "init.pid",
        &id,
    ]);
    let o = output_via_files(&mut c);
    assert!(o.status.success(), "{}", stderr(&o));
    let pid = std::fs::read_to_string(cwd.path().join("init.pid"))
        .expect("pid file in the caller's directory");
    assert_eq!(pid, r.state(&id)["pid"].to_string());
    assert!(!b.path().join("init.pid").exists());
    r.ok(&["delete", &id]);
    assert_nothing_left(&r, &id, b.path());
}

#[test]
fn seccomp_notify_hands_the_listener_fd_to_the_agent() {
    if !ready() {
        return;
    }
    use std::os::fd::AsFd;
    let r = Runc::new();
    let b = Bundle::new(&config(&["true"]));
    let sock = b.path().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
    let mut c = config(&["sh", "-c", "mkdir /tmp/d; echo rc=$?"]);
    c["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "listenerMetadata": "berth-test",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    b.write_config(&c);
    let id = unique_id("notify");
    let agent = std::thread::spawn(move || {
        // Bounded: if the runtime never connects, the test fails instead of hanging.
        listener.set_nonblocking(true).expect("nonblocking");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let conn = loop {
            match listener.accept() {
                Ok((c, _)) => break c,
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                Err(e) => panic!("the runtime never connected to the agent: {e}"),
            }
        };
        conn.set_nonblocking(false).expect("blocking");
        let mut buf = vec![0u8; 64 * 1024];
        let mut space = [std::mem::MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut anc = rustix::net::RecvAncillaryBuffer::new(&mut space);
        let got = rustix::net::recvmsg(
            conn.as_fd(),
            &mut [std::io::IoSliceMut::new(&mut buf)],
            &mut anc,
            rustix::net::RecvFlags::empty(),
        )
        .expect("recvmsg");
        let mut fds = Vec::new();
        for m in anc.drain() {
            if let rustix::net::RecvAncillaryMessage::ScmRights(f) = m {
                fds.extend(f);
            }
        }
        let state: Value = serde_json::from_slice(&buf[..got.bytes]).expect("state json");
        // Closing the notify fd answers every pending notification with ENOSYS.
        (state, fds.len())
    });
    let (code, out, err) = r.run_bundle(&b, &id);
    let (state, nfds) = agent.join().expect("agent");
    assert_eq!(code, 0, "{err}");
    assert_eq!(nfds, 1, "the notify fd arrives as SCM_RIGHTS");
    assert_eq!(state["fds"], json!(["seccompFd"]));
    assert_eq!(state["metadata"], "berth-test");
    assert_eq!(state["state"]["id"], id.as_str());
    assert!(state["pid"].as_i64().is_some_and(|p| p > 0), "{state}");
    assert_eq!(out, "rc=1", "mkdir was intercepted");
    assert!(err.contains("Function not implemented"), "{err}");
    assert_nothing_left(&r, &id, b.path());
}

// --- Issue 11: recursive read-only binds, runc's defaults, seccomp order, the OCI spec ---

/// Debian's runc with a private --root, to compare behaviours in the same test; `None` (the
/// comparison is skipped) where it is not installed.
struct PeerRunc {
    bin: PathBuf,
    root: tempfile::TempDir,
}

impl PeerRunc {
    fn new() -> Option<PeerRunc> {
        Some(PeerRunc {
            bin: berth_e2e::which("runc")?,
            root: tempfile::Builder::new()
                .prefix("berth-test-peer-runc-")
                .tempdir()
                .expect("tempdir"),
        })
    }

    fn run_bundle(&self, b: &berth_e2e::Bundle, id: &str) -> (i32, String, String) {
        let o = output_via_files(
            std::process::Command::new(&self.bin)
                .arg("--root")
                .arg(self.root.path())
                .args(["run", "--bundle"])
                .arg(b.path())
                .arg(id),
        );
        (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o))
    }
}

/// A tmpfs mounted on the host, unmounted on drop.
struct HostTmpfs(PathBuf);

impl HostTmpfs {
    fn mount(at: &Path) -> HostTmpfs {
        std::fs::create_dir_all(at).expect("mkdir");
        let st = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                "size=1m",
                "berth-test",
                at.to_str().expect("utf8"),
            ])
            .status()
            .expect("mount");
        assert!(st.success(), "mount tmpfs on {}", at.display());
        HostTmpfs(at.to_path_buf())
    }
}

impl Drop for HostTmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

fn kernel_has_mount_setattr() -> bool {
    // mount_setattr(2) came with Linux 5.12.
    let rel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut it = rel
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (major, minor) >= (5, 12)
}

#[test]
fn rro_bind_is_read_only_in_every_submount() {
    if !ready()
        || !require(
            kernel_has_mount_setattr(),
            "rro needs Linux 5.12+ (mount_setattr)",
        )
    {
        return;
    }
    let r = Runc::new();
    let host = tempfile::tempdir().expect("tempdir");
    let _sub = HostTmpfs::mount(&host.path().join("sub"));
    let script = "touch /data/top; echo top=$?; touch /data/sub/x; echo sub=$?";
    let bind = |opts: &[&str]| {
        let mut c = config(&["sh", "-c", script]);
        c["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": "/data", "type": "bind",
            "source": host.path(), "options": opts
        }));
        berth_e2e::Bundle::new(&c)
    };
    let b = bind(&["rbind", "rro"]);
    let id = unique_id("rro");
    let (code, out, err) = r.run_bundle(&b, &id);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out, "top=1\nsub=1",
        "rro: the bind and the tmpfs below it are read-only: {out}\n{err}"
    );
    assert!(
        err.matches("Read-only file system").count() == 2,
        "both writes fail with EROFS: {err}"
    );
    assert!(
        !host.path().join("sub/x").exists() && !host.path().join("top").exists(),
        "nothing reached the host"
    );
    if let Some(peer) = PeerRunc::new() {
        let (pcode, pout, perr) = peer.run_bundle(&b, &unique_id("rro-runc"));
        assert_eq!((pcode, pout.as_str()), (0, out.as_str()), "runc: {perr}");
    }
    // Plain `ro` stays what runc makes of it: read-only at the top only.
    let b = bind(&["rbind", "ro"]);
    let (code, out, err) = r.run_bundle(&b, &unique_id("ro"));
    assert_eq!((code, out.as_str()), (0, "top=1\nsub=0"), "{err}");
    assert!(host.path().join("sub/x").exists());
    assert_nothing_left(&r, &id, b.path());
}

#[test]
fn cgroup_mount_is_read_only_and_dev_has_runcs_symlinks() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    // CAP_DAC_OVERRIDE (Docker's default set has it): the mode of /sys/fs/cgroup cannot be what
    // stops the writes, only a read-only mount.
    let mut c = config(&[
        "sh",
        "-c",
        "mkdir /sys/fs/cgroup/x 2>/dev/null; echo mkdir=$?; \
         grep -c ' /sys/fs/cgroup ro,' /proc/self/mountinfo; \
         for l in fd stdin stdout stderr core; do echo $l=$(readlink /dev/$l); done",
    ]);
    for set in ["bounding", "effective", "permitted"] {
        c["process"]["capabilities"][set]
            .as_array_mut()
            .expect("caps")
            .push(json!("CAP_DAC_OVERRIDE"));
    }
    let b = berth_e2e::Bundle::new(&c);
    let (code, out, err) = r.run_bundle(&b, &unique_id("cgro"));
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "mkdir=1", "/sys/fs/cgroup is read-only: {out}");
    assert_eq!(l[1], "1", "mounted ro: {out}");
    assert_eq!(
        &l[2..],
        [
            "fd=/proc/self/fd",
            "stdin=/proc/self/fd/0",
            "stdout=/proc/self/fd/1",
            "stderr=/proc/self/fd/2",
            "core=/proc/kcore"
        ],
        "{out}"
    );
    // runc makes the same links (it skips /dev/core on kernels without /proc/kcore).
    if let Some(peer) = PeerRunc::new() {
        let (pcode, pout, perr) = peer.run_bundle(&b, &unique_id("cgro-runc"));
        assert_eq!(pcode, 0, "runc: {perr}");
        let plinks: Vec<&str> = pout.lines().skip(2).collect();
        let expect: Vec<&str> = l[2..]
            .iter()
            .copied()
            .filter(|x| Path::new("/proc/kcore").exists() || !x.starts_with("core="))
            .collect();
        let plinks: Vec<&str> = plinks.into_iter().filter(|x| *x != "core=").collect();
        assert_eq!(plinks, expect, "runc: {pout}");
    }
}

fn seccomp_without(names: &[&str]) -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    })
}

#[test]
fn seccomp_profile_without_close_range_runs_the_process() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let peer = PeerRunc::new();
    // With and without noNewPrivileges (Docker runs without, and then the filter needs
    // CAP_SYS_ADMIN to load, which the process does not keep).
    for nnp in [true, false] {
        let mut c = config(&["sh", "-c", "echo hello; grep CapEff /proc/self/status"]);
        c["process"]["noNewPrivileges"] = json!(nnp);
        c["linux"]["seccomp"] = seccomp_without(&["close_range"]);
        let b = berth_e2e::Bundle::new(&c);
        let (code, out, err) = r.run_bundle(&b, &unique_id("noclose"));
        assert_eq!(code, 0, "nnp={nnp}: {err}");
        assert_eq!(
            out, "hello\nCapEff:\t0000000020000420",
            "nnp={nnp}: the process ran with its own capabilities only: {err}"
        );
        if let Some(p) = &peer {
            let (pcode, pout, perr) = p.run_bundle(&b, &unique_id("noclose-runc"));
            assert_eq!((pcode, pout.as_str()), (0, out.as_str()), "runc: {perr}");
        }
    }
}

#[test]
fn seccomp_profile_blocking_execve_fails_run_and_start() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let mut c = config(&["echo", "hello"]);
    c["linux"]["seccomp"] = seccomp_without(&["execve", "execveat"]);
    let b = berth_e2e::Bundle::new(&c);
    let id = unique_id("noexec");
    let (code, out, err) = r.run_bundle(&b, &id);
    assert_ne!(code, 0, "run fails: {out}\n{err}");
    assert!(
        err.contains("exec \"echo\": Operation not permitted") && err.contains("linux.seccomp"),
        "run says why: {err}"
    );
    assert_nothing_left(&r, &id, b.path());
    if let Some(p) = PeerRunc::new() {
        let (pcode, _, perr) = p.run_bundle(&b, &unique_id("noexec-runc"));
        assert_ne!(pcode, 0, "runc fails too: {perr}");
    }
    // create + start, as a daemon drives it: start is where the exec happens.
    let id = unique_id("noexec-start");
    let bundle = b.path().to_str().expect("utf8");
    r.ok(&["create", "--bundle", bundle, &id]);
    let o = r.run(&["start", &id]);
    assert!(!o.status.success(), "start fails");
    let e = stderr(&o);
    assert!(
        e.contains(&format!("cannot start container {id}"))
            && e.contains("Operation not permitted")
            && e.contains("linux.seccomp"),
        "start says why: {e}"
    );
    r.ok(&["delete", "--force", &id]);
    assert_nothing_left(&r, &id, b.path());
}

#[test]
fn oci_1_3_config_is_accepted() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let mut c = config(&["echo", "ok"]);
    c["ociVersion"] = json!("1.3.0");
    let b = berth_e2e::Bundle::new(&c);
    let id = unique_id("oci13");
    let (code, out, err) = r.run_bundle(&b, &id);
    assert_eq!((code, out.as_str()), (0, "ok"), "{err}");
    if let Some(p) = PeerRunc::new() {
        let (pcode, pout, perr) = p.run_bundle(&b, &unique_id("oci13-runc"));
        assert_eq!((pcode, pout.as_str()), (0, "ok"), "runc: {perr}");
    }
    assert_nothing_left(&r, &id, b.path());
}

#[test]
fn without_a_mount_namespace_the_container_shares_the_runtimes() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let mut c = config(&[
        "sh",
        "-c",
        "readlink /proc/self/ns/mnt; ls /proc | grep -c '^[0-9]'; cat /marker",
    ]);
    c["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}]);
    let b = berth_e2e::Bundle::new(&c);
    std::fs::write(b.rootfs().join("marker"), "in the rootfs").expect("marker");
    let id = unique_id("nomntns");
    let (code, out, err) = r.run_bundle(&b, &id);
    assert_eq!(code, 0, "{err}");
    let host_ns = std::fs::read_link("/proc/self/ns/mnt").expect("ns");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(
        Path::new(l[0]),
        host_ns,
        "the runtime's mount namespace: {out}"
    );
    assert!(l[1].parse::<u32>().expect("count") <= 3, "own /proc: {out}");
    assert_eq!(l[2], "in the rootfs", "{out}");
    // runc leaves the container's mounts (/proc, /dev, ...) on the host; berth-runc detaches
    // them with the container.
    assert_nothing_left(&r, &id, b.path());
}

#[test]
fn hostname_is_set_in_a_joined_uts_namespace() {
    if !ready() || !require(berth_e2e::which("unshare").is_some(), "unshare is missing") {
        return;
    }
    let r = Runc::new();
    let mut holder = std::process::Command::new("unshare")
        .args(["--uts", "sleep", "600"])
        .spawn()
        .expect("unshare");
    let ns = format!("/proc/{}/ns/uts", holder.id());
    // unshare execs sleep once the namespace is made.
    while std::fs::read_link(&ns).ok() == std::fs::read_link("/proc/self/ns/uts").ok() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let mut c = config(&["hostname"]);
    c["hostname"] = json!("joined-uts");
    c["linux"]["namespaces"] =
        json!([{"type": "pid"}, {"type": "mount"}, {"type": "uts", "path": ns}]);
    let b = berth_e2e::Bundle::new(&c);
    let id = unique_id("utsjoin");
    let (code, out, err) = r.run_bundle(&b, &id);
    let seen = std::process::Command::new("nsenter")
        .args(["-t", &holder.id().to_string(), "-u", "hostname"])
        .output()
        .map(|o| stdout(&o));
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!((code, out.as_str()), (0, "joined-uts"), "{err}");
    assert_eq!(
        seen.expect("nsenter"),
        "joined-uts",
        "set in the joined namespace"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname"),
        host_name,
        "not on the host"
    );
    assert_nothing_left(&r, &id, b.path());
}

#[test]
fn rootfs_propagation_unbindable_is_applied_to_the_container_root() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let mut c = config(&["head", "-n1", "/proc/self/mountinfo"]);
    c["linux"]["rootfsPropagation"] = json!("unbindable");
    let b = berth_e2e::Bundle::new(&c);
    let id = unique_id("unbind");
    let (code, out, err) = r.run_bundle(&b, &id);
    assert_eq!(code, 0, "{err}");
    let fields: Vec<&str> = out.split(" - ").next().unwrap_or("").split(' ').collect();
    assert_eq!(fields.get(4), Some(&"/"), "the root mount: {out}");
    assert!(
        fields.contains(&"unbindable"),
        "the container's / is unbindable: {out}"
    );
    // (runc 1.1 makes the host's / unbindable before it binds the rootfs, and fails with
    // EINVAL where the rootfs is on that filesystem.)
    assert_nothing_left(&r, &id, b.path());
}

#[test]
fn apparmor_profile_is_refused_where_apparmor_is_off() {
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.starts_with('Y'));
    if !ready() || !require(!apparmor, "this host runs AppArmor") {
        return;
    }
    let r = Runc::new();
    let mut c = config(&["echo", "unconfined"]);
    c["process"]["apparmorProfile"] = json!("docker-default");
    let b = berth_e2e::Bundle::new(&c);
    let id = unique_id("aa");
    let (code, out, err) = r.run_bundle(&b, &id);
    assert_ne!(code, 0, "refused: {out}");
    assert!(out.is_empty(), "the process never ran: {out}");
    assert!(
        err.contains("process.apparmorProfile") && err.contains("AppArmor is not enabled"),
        "{err}"
    );
    if let Some(p) = PeerRunc::new() {
        let (pcode, pout, perr) = p.run_bundle(&b, &unique_id("aa-runc"));
        assert!(pcode != 0 && pout.is_empty(), "runc refuses too: {perr}");
    }
    assert_nothing_left(&r, &id, b.path());
}

#[test]
fn init_failures_reach_create_with_step_and_errno() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    /// (case, edit of the config, what the error must say)
    type Case = (&'static str, fn(&mut Value), &'static [&'static str]);
    let cases: [Case; 4] = [
        (
            // Fails in the init's first steps, before it reads the runtime's first message.
            "badns",
            |c| {
                let ns = c["linux"]["namespaces"].as_array_mut().expect("ns");
                ns.retain(|n| n["type"] != "ipc");
                ns.push(json!({"type": "ipc", "path": "/proc/self/ns/net"}));
            },
            &[
                "linux.namespaces: joining ipc namespace",
                "Invalid argument",
            ],
        ),
        (
            "nosrc",
            |c| {
                c["mounts"].as_array_mut().expect("mounts").push(json!({
                    "destination": "/data", "type": "bind",
                    "source": "/nonexistent-berth-test", "options": ["rbind"]
                }));
            },
            &[
                "/nonexistent-berth-test on /data",
                "No such file or directory",
            ],
        ),
        (
            "badcwd",
            |c| c["process"]["cwd"] = json!("/bin/busybox/x"),
            &["process.cwd", "Not a directory"],
        ),
        (
            // An init that dies without a word (killed here by a createRuntime hook): how.
            "killed",
            |c| {
                c["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c",
                    "kill -9 $(sed -n 's/.*\"pid\":\\([0-9]*\\).*/\\1/p')"]}]});
            },
            &[
                "the container init exited before it was ready",
                "killed by signal 9",
            ],
        ),
    ];
    for (name, edit, want) in cases {
        let mut c = config(&["true"]);
        edit(&mut c);
        let b = berth_e2e::Bundle::new(&c);
        let id = unique_id(name);
        let o = r.run(&["create", "--bundle", b.path().to_str().expect("utf8"), &id]);
        let e = stderr(&o);
        assert!(!o.status.success(), "{name}: create fails");
        for w in want {
            assert!(e.contains(w), "{name}: {w:?} in {e:?}");
        }
        assert!(
            !e.contains("Broken pipe") && !e.contains("Connection reset"),
            "{name}: {e}"
        );
        assert_nothing_left(&r, &id, b.path());
    }
}
