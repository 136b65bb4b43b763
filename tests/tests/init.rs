//! berth-init (`docker run --init`) end to end: bind-mounted read-only at /sbin/docker-init
//! into a busybox-static rootfs and run by berth-runc as the container's pid 1, as the engine
//! does. Checks that it runs without a libc in the image, reaps orphaned zombies, forwards
//! signals to its child and exits with the child's code (128 + signal when killed).

use berth_e2e::{bin, require, stderr, unique_id, Bundle, Runc};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// True when the ELF file has no PT_INTERP program header (needs no dynamic loader).
fn is_static_elf(path: &Path) -> bool {
    let Ok(b) = std::fs::read(path) else {
        return false;
    };
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let mut off = [0u8; 8];
    off.copy_from_slice(&b[0x20..0x28]);
    let phoff = u64::from_le_bytes(off) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).all(|i| {
        let p = phoff + i * phentsize;
        p + 4 <= b.len() && u32::from_le_bytes([b[p], b[p + 1], b[p + 2], b[p + 3]]) != 3
    })
}

fn ready() -> bool {
    if !berth_e2e::can_run_containers("berth-init tests") {
        return false;
    }
    let init = bin("berth-init");
    require(
        is_static_elf(&init),
        &format!(
            "{} is dynamically linked and cannot run in a busybox image: build it with \
             `cargo rustc -p berth-init --bin berth-init -- -C target-feature=+crt-static` \
             (scripts/test.sh does)",
            init.display()
        ),
    )
}

/// A config running `args` under berth-init, mounted as the engine mounts it.
fn config_with_init(args: &[&str]) -> Value {
    let mut full = vec!["/sbin/docker-init", "--"];
    full.extend_from_slice(args);
    let mut c = berth_e2e::writable_config(&full);
    c["mounts"].as_array_mut().expect("mounts").push(json!({
        "destination": "/sbin/docker-init",
        "type": "bind",
        "source": bin("berth-init"),
        "options": ["bind", "ro"],
    }));
    c
}

fn bundle(config: &Value) -> Bundle {
    let b = Bundle::new(config);
    // The mount point of a file bind mount; the image has no libc (busybox-static).
    std::fs::create_dir_all(b.rootfs().join("sbin")).expect("mkdir sbin");
    std::fs::write(b.rootfs().join("sbin/docker-init"), "").expect("mount point");
    assert!(!b.rootfs().join("lib").exists() && !b.rootfs().join("lib64").exists());
    b
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(path.exists(), "{} did not appear", path.display());
}

#[test]
fn runs_in_a_libc_free_image_and_returns_the_exit_code() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let b = bundle(&config_with_init(&[
        "sh",
        "-c",
        "echo pid=$$ ppid=$PPID; exit 7",
    ]));
    let (code, out, err) = r.run_bundle(&b, &unique_id("init-exit"));
    assert_eq!(code, 7, "stdout: {out}\nstderr: {err}");
    // The command is pid 2, berth-init is pid 1 and its parent.
    assert_eq!(out, "pid=2 ppid=1");
    // A missing command: the shell's 127, from the init.
    let b = bundle(&config_with_init(&["/no/such/program"]));
    let (code, _, err) = r.run_bundle(&b, &unique_id("init-127"));
    assert_eq!(code, 127, "{err}");
    assert!(
        err.contains("berth-init: exec /no/such/program: not found"),
        "{err}"
    ); // Docker's default seccomp profile answers clone3 with ENOSYS for containers without
       // CAP_SYS_ADMIN: the init must still start its child.
    let mut c = config_with_init(&["sh", "-c", "exit 4"]);
    c["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    });
    let b = bundle(&c);
    let (code, _, err) = r.run_bundle(&b, &unique_id("init-noclone3"));
    assert_eq!(code, 4, "{err}");
}

/// An orphan that exits is re-parented to pid 1: it stays a zombie unless pid 1 reaps it.
/// The command execs `sleep` (which never waits) so only the init can reap; an observer
/// started beside it records the zombies it sees.
const ZOMBIE_SCRIPT: &str = "sh -c 'sleep 0.2 &' ; \
    (sleep 1.5; grep -l '^State:.*Z' /proc/[0-9]*/status > /zombies 2>/dev/null; echo done > /checked) & \
    exec sleep 3";

#[test]
fn reaps_orphaned_zombies() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    // Control: without an init, pid 1 is `sleep` and the orphan stays a zombie, so the check
    // below does see zombies when nothing reaps them.
    let b = bundle(&berth_e2e::writable_config(&["sh", "-c", ZOMBIE_SCRIPT]));
    let (code, _, err) = r.run_bundle(&b, &unique_id("init-zombie-control"));
    assert_eq!(code, 0, "{err}");
    assert!(b.rootfs().join("checked").exists());
    let zombies = std::fs::read_to_string(b.rootfs().join("zombies")).unwrap_or_default();
    assert_eq!(
        zombies.lines().count(),
        1,
        "control: one zombie without init: {zombies:?}"
    );

    let b = bundle(&config_with_init(&["sh", "-c", ZOMBIE_SCRIPT]));
    let (code, _, err) = r.run_bundle(&b, &unique_id("init-zombie"));
    assert_eq!(code, 0, "{err}");
    assert!(b.rootfs().join("checked").exists());
    let zombies = std::fs::read_to_string(b.rootfs().join("zombies")).unwrap_or_default();
    assert_eq!(zombies, "", "berth-init left zombies");
}

#[test]
fn forwards_signals_and_reports_death_by_signal() {
    if !ready() {
        return;
    }
    let r = Runc::new();
    let spawn_run = |b: &Bundle, id: &str| {
        let mut run = r.cmd();
        run.args(["run", "--bundle", b.path().to_str().expect("utf8"), id]);
        run.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn run")
    };

    // SIGTERM to the container reaches the child through berth-init: the shell's trap runs.
    let b = bundle(&config_with_init(&[
        "sh",
        "-c",
        "trap 'exit 5' TERM; echo ready > /ready; sleep 30 & wait",
    ]));
    let id = unique_id("init-term");
    let child = spawn_run(&b, &id);
    wait_for(&b.rootfs().join("ready"));
    let o = r.run(&["kill", &id, "TERM"]);
    assert!(o.status.success(), "kill: {}", stderr(&o));
    let status = child.wait_with_output().expect("wait").status;
    assert_eq!(status.code(), Some(5), "SIGTERM forwarded to the child");

    // A child killed by the forwarded signal: 128 + 15.
    let b = bundle(&config_with_init(&[
        "sh",
        "-c",
        "echo ready > /ready; exec sleep 30",
    ]));
    let id = unique_id("init-term-sig");
    let child = spawn_run(&b, &id);
    wait_for(&b.rootfs().join("ready"));
    let o = r.run(&["kill", &id, "TERM"]);
    assert!(o.status.success(), "kill: {}", stderr(&o));
    let status = child.wait_with_output().expect("wait").status;
    assert_eq!(status.code(), Some(143), "128 + SIGTERM");

    // A signal sent to `run` itself goes the same way (runc forwards it to pid 1).
    let b = bundle(&config_with_init(&[
        "sh",
        "-c",
        "trap 'exit 6' USR1; echo ready > /ready; sleep 30 & wait",
    ]));
    let id = unique_id("init-usr1");
    let child = spawn_run(&b, &id);
    wait_for(&b.rootfs().join("ready"));
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::USR1).expect("signal run");
    let status = child.wait_with_output().expect("wait").status;
    assert_eq!(status.code(), Some(6), "SIGUSR1 forwarded");
}
