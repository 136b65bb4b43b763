//! Tests of the assembled spec: Docker's defaults and the HostConfig rules.

use super::*;
use bollard_stubs::models::{DeviceMapping, ResourcesUlimits};
use oci_spec::runtime::Spec;

struct Fixture {
    _dir: tempfile::TempDir,
    rootfs: std::path::PathBuf,
    etc: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = dir.path().join("rootfs");
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(rootfs.join("etc")).expect("mkdir");
    std::fs::create_dir_all(&etc).expect("mkdir");
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\n",
    )
    .expect("write");
    std::fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\nwww:x:33:\nlog:x:4:www\n",
    )
    .expect("write");
    Fixture {
        _dir: dir,
        rootfs,
        etc,
    }
}

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn spec_with(cfg: &ContainerConfig, hc: &HostConfig) -> Result<(Spec, Fixture)> {
    let f = fixture();
    let args = vec!["sh".to_string(), "-c".to_string(), "true".to_string()];
    let init = std::path::PathBuf::from("/usr/local/bin/berth-init");
    let spec = build(&SpecInput {
        id: ID,
        config: cfg,
        host_config: hc,
        args: &args,
        rootfs: &f.rootfs,
        etc_dir: &f.etc,
        init_path: Some(&init),
        cgroups_path: "/berth/abc".into(),
        network: Default::default(),
        recursive_readonly: Ok(()),
    })?;
    Ok((spec, f))
}

fn spec(hc: HostConfig) -> Spec {
    spec_with(&ContainerConfig::default(), &hc)
        .expect("build")
        .0
}

fn json(s: &Spec) -> Value {
    serde_json::to_value(s).expect("spec serializes")
}

fn err(cfg: ContainerConfig, hc: HostConfig) -> String {
    match spec_with(&cfg, &hc) {
        Err(e @ Error::InvalidArgument(_)) => e.to_string(),
        Err(e) => panic!("expected InvalidArgument, got {e:?}"),
        Ok(_) => panic!("expected an error"),
    }
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn mount<'a>(j: &'a Value, dest: &str) -> Option<&'a Value> {
    j["mounts"]
        .as_array()?
        .iter()
        .find(|m| m["destination"] == dest)
}

#[test]
fn defaults_are_dockers() {
    let s = spec(HostConfig::default());
    let j = json(&s);
    // Process.
    assert_eq!(strs(&j["process"]["args"]), ["sh", "-c", "true"]);
    assert_eq!(j["process"]["cwd"], "/");
    assert_eq!(j["process"]["terminal"], false);
    assert_eq!(j["process"]["user"]["uid"], 0);
    let env = strs(&j["process"]["env"]);
    assert_eq!(env[0], DEFAULT_PATH_ENV);
    assert_eq!(env[1], "HOSTNAME=0123456789ab");
    assert_eq!(j["hostname"], "0123456789ab");
    assert!(
        j["process"].get("rlimits").is_none(),
        "Docker adds no rlimits"
    );
    let caps = &j["process"]["capabilities"];
    assert_eq!(strs(&caps["bounding"]).len(), 14);
    // oci-spec keeps capabilities in sets: compare sorted.
    let sorted = |v: &Value| {
        let mut s = strs(v);
        s.sort();
        s
    };
    assert_eq!(sorted(&caps["bounding"]), sorted(&caps["effective"]));
    assert_eq!(sorted(&caps["bounding"]), sorted(&caps["permitted"]));
    assert!(strs(&caps["inheritable"]).is_empty());
    assert_ne!(j["process"]["noNewPrivileges"], true);

    // Namespaces.
    let ns: Vec<String> = j["linux"]["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .map(|n| n["type"].as_str().unwrap_or_default().to_string())
        .collect();
    for want in ["mount", "network", "uts", "pid", "ipc"] {
        assert!(ns.contains(&want.to_string()), "{want} in {ns:?}");
    }
    assert_eq!(ns.contains(&"cgroup".to_string()), host_is_cgroup_v2());

    // Mounts.
    for (dest, typ) in [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/sys", "sysfs"),
        ("/sys/fs/cgroup", "cgroup"),
        ("/dev/mqueue", "mqueue"),
        ("/dev/shm", "tmpfs"),
        ("/etc/hostname", "bind"),
        ("/etc/hosts", "bind"),
        ("/etc/resolv.conf", "bind"),
    ] {
        let m = mount(&j, dest).unwrap_or_else(|| panic!("mount {dest}"));
        assert_eq!(m["type"], typ, "{dest}");
    }
    assert!(strs(&mount(&j, "/sys").expect("ok")["options"]).contains(&"ro".into()));
    assert!(strs(&mount(&j, "/dev/shm").expect("ok")["options"]).contains(&"size=67108864".into()));
    assert!(mount(&j, INIT_PATH_IN_CONTAINER).is_none());
    assert_eq!(j["root"]["readonly"], false);

    // Masked and read-only paths, exactly Docker's.
    assert_eq!(strs(&j["linux"]["maskedPaths"]), DEFAULT_MASKED_PATHS);
    assert!(strs(&j["linux"]["maskedPaths"]).contains(&"/proc/kcore".into()));
    assert_eq!(strs(&j["linux"]["readonlyPaths"]), DEFAULT_READONLY_PATHS);

    // Devices: deny all, allow the standard ones.
    let rules = j["linux"]["resources"]["devices"]
        .as_array()
        .expect("rules");
    assert_eq!(rules[0]["allow"], false);
    assert_eq!(rules[0]["access"], "rwm");
    assert!(rules
        .iter()
        .any(|r| r["allow"] == true && r["major"] == 1 && r["minor"] == 3));
    assert_eq!(j["linux"]["cgroupsPath"], "/berth/abc");

    // Seccomp: Docker's default profile.
    let sc = &j["linux"]["seccomp"];
    assert_eq!(sc["defaultAction"], "SCMP_ACT_ERRNO");
}

#[test]
fn generated_etc_files_are_written() {
    let cfg = ContainerConfig {
        hostname: Some("web".into()),
        domainname: Some("example.org".into()),
        ..Default::default()
    };
    let hc = HostConfig {
        extra_hosts: Some(vec!["db:10.0.0.2".into()]),
        ..Default::default()
    };
    let (s, f) = spec_with(&cfg, &hc).expect("build");
    let j = json(&s);
    assert_eq!(j["hostname"], "web");
    assert_eq!(j["domainname"], "example.org");
    assert_eq!(
        std::fs::read_to_string(f.etc.join("hostname")).expect("ok"),
        "web\n"
    );
    let hosts = std::fs::read_to_string(f.etc.join("hosts")).expect("ok");
    assert!(hosts.starts_with("127.0.0.1\tlocalhost\n"));
    assert!(hosts.ends_with("10.0.0.2\tdb\n"));
    assert_eq!(
        mount(&j, "/etc/hosts").expect("ok")["source"],
        f.etc.join("hosts").to_string_lossy().as_ref()
    );
}

#[test]
fn process_env_tty_cwd_user() {
    let cfg = ContainerConfig {
        env: Some(vec!["PATH=/custom".into(), "A=1".into()]),
        tty: Some(true),
        working_dir: Some("/srv".into()),
        user: Some("www".into()),
        ..Default::default()
    };
    let hc = HostConfig {
        group_add: Some(vec!["root".into(), "1234".into()]),
        ..Default::default()
    };
    let (s, f) = spec_with(&cfg, &hc).expect("build");
    let j = json(&s);
    let env = strs(&j["process"]["env"]);
    assert_eq!(
        env,
        ["PATH=/custom", "HOSTNAME=0123456789ab", "TERM=xterm", "A=1"]
    );
    assert_eq!(j["process"]["terminal"], true);
    assert_eq!(j["process"]["cwd"], "/srv");
    assert!(
        f.rootfs.join("srv").is_dir(),
        "WorkingDir created in the rootfs"
    );
    assert_eq!(j["process"]["user"]["uid"], 33);
    assert_eq!(j["process"]["user"]["gid"], 33);
    assert_eq!(
        j["process"]["user"]["additionalGids"],
        serde_json::json!([4, 0, 1234])
    );

    let e = err(
        ContainerConfig {
            user: Some("ghost".into()),
            ..Default::default()
        },
        HostConfig::default(),
    );
    assert_eq!(
        e,
        "unable to find user ghost: no matching entries in passwd file"
    );
    let e = err(
        ContainerConfig {
            working_dir: Some("rel".into()),
            ..Default::default()
        },
        HostConfig::default(),
    );
    assert!(e.contains("working directory 'rel'"), "{e}");
}

#[test]
fn capabilities_and_security_opts() {
    let j = json(&spec(HostConfig {
        cap_add: Some(vec!["NET_ADMIN".into()]),
        cap_drop: Some(vec!["cap_chown".into()]),
        security_opt: Some(vec![
            "no-new-privileges:true".into(),
            "label=disable".into(),
        ]),
        ..Default::default()
    }));
    let caps = strs(&j["process"]["capabilities"]["effective"]);
    assert!(caps.contains(&"CAP_NET_ADMIN".into()));
    assert!(!caps.contains(&"CAP_CHOWN".into()));
    assert_eq!(j["process"]["noNewPrivileges"], true);

    let e = err(
        ContainerConfig::default(),
        HostConfig {
            security_opt: Some(vec!["bogus=1".into()]),
            ..Default::default()
        },
    );
    assert_eq!(e, "invalid --security-opt 2: \"bogus=1\"");
    let e = err(
        ContainerConfig::default(),
        HostConfig {
            security_opt: Some(vec!["no-new-privileges=maybe".into()]),
            ..Default::default()
        },
    );
    assert!(e.contains("no-new-privileges=maybe"), "{e}");
}

#[test]
fn privileged_lifts_the_confinement() {
    let j = json(&spec(HostConfig {
        privileged: Some(true),
        ..Default::default()
    }));
    let caps = strs(&j["process"]["capabilities"]["bounding"]);
    assert!(caps.contains(&"CAP_SYS_ADMIN".into()));
    assert_eq!(caps.len(), caps::host_capabilities().len());
    assert!(j["linux"].get("seccomp").is_none());
    assert!(j["linux"].get("maskedPaths").is_none());
    assert!(j["linux"].get("readonlyPaths").is_none());
    assert!(!strs(&mount(&j, "/sys").expect("ok")["options"]).contains(&"ro".into()));
    let rules = j["linux"]["resources"]["devices"]
        .as_array()
        .expect("rules");
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["allow"], true);
    let devs = j["linux"]["devices"].as_array().expect("devices");
    assert!(
        devs.iter().any(|d| d["path"] == "/dev/null"),
        "host devices"
    );
    assert!(!devs.iter().any(|d| d["path"]
        .as_str()
        .unwrap_or_default()
        .starts_with("/dev/pts/")));
}

#[test]
fn seccomp_unconfined_and_custom() {
    let j = json(&spec(HostConfig {
        security_opt: Some(vec!["seccomp=unconfined".into()]),
        ..Default::default()
    }));
    assert!(j["linux"].get("seccomp").is_none());
    let profile = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#;
    let j = json(&spec(HostConfig {
        security_opt: Some(vec![format!("seccomp={profile}")]),
        ..Default::default()
    }));
    assert_eq!(j["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ALLOW");
    assert_eq!(j["linux"]["seccomp"]["syscalls"][0]["names"][0], "mkdir");
    // A path works too.
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("p.json");
    std::fs::write(&p, profile).expect("write");
    let j = json(&spec(HostConfig {
        security_opt: Some(vec![format!("seccomp={}", p.display())]),
        ..Default::default()
    }));
    assert_eq!(j["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ALLOW");
    let e = err(
        ContainerConfig::default(),
        HostConfig {
            security_opt: Some(vec!["seccomp={\"defaultAction\": 5}".into()]),
            ..Default::default()
        },
    );
    assert!(e.contains("seccomp profile"), "{e}");
}

#[test]
fn namespace_modes() {
    let j = json(&spec(HostConfig {
        network_mode: Some("host".into()),
        pid_mode: Some("host".into()),
        ipc_mode: Some("host".into()),
        uts_mode: Some("host".into()),
        ..Default::default()
    }));
    let ns: Vec<&str> = j["linux"]["namespaces"]
        .as_array()
        .expect("ns")
        .iter()
        .filter_map(|n| n["type"].as_str())
        .collect();
    assert!(!ns.contains(&"network") && !ns.contains(&"pid") && !ns.contains(&"ipc"));
    assert!(!ns.contains(&"uts"));
    assert!(
        j.get("hostname").is_none(),
        "host UTS namespace: no hostname set"
    );
    assert_eq!(mount(&j, "/dev/shm").expect("ok")["type"], "bind");
    let j = json(&spec(HostConfig {
        network_mode: Some("none".into()),
        ..Default::default()
    }));
    assert!(j["linux"]["namespaces"]
        .as_array()
        .expect("ns")
        .iter()
        .any(|n| n["type"] == "network"));
    let e = err(
        ContainerConfig::default(),
        HostConfig {
            pid_mode: Some("container:x".into()),
            ..Default::default()
        },
    );
    assert!(e.contains("HostConfig.PidMode"), "{e}");
}

#[test]
fn memory_swap_semantics() {
    let mem = |hc: HostConfig| json(&spec(hc))["linux"]["resources"]["memory"].clone();
    let m = mem(HostConfig {
        memory: Some(64 << 20),
        ..Default::default()
    });
    assert_eq!(m["limit"], 64 << 20);
    assert_eq!(m["swap"], 128 << 20, "0 = twice the memory");
    let m = mem(HostConfig {
        memory: Some(64 << 20),
        memory_swap: Some(-1),
        ..Default::default()
    });
    assert_eq!(m["swap"], -1);
    let m = mem(HostConfig {
        memory: Some(64 << 20),
        memory_swap: Some(100 << 20),
        memory_reservation: Some(32 << 20),
        oom_kill_disable: Some(true),
        ..Default::default()
    });
    assert_eq!(m["swap"], 100 << 20);
    assert_eq!(m["reservation"], 32 << 20);
    assert_eq!(m["disableOOMKiller"], true);
    assert!(json(&spec(HostConfig::default()))["linux"]["resources"]
        .get("memory")
        .is_none());

    for (hc, want) in [
        (
            HostConfig {
                memory_swap: Some(1 << 30),
                ..Default::default()
            },
            "always set the Memory limit",
        ),
        (
            HostConfig {
                memory: Some(64 << 20),
                memory_swap: Some(32 << 20),
                ..Default::default()
            },
            "Minimum memoryswap limit should be larger than memory limit",
        ),
        (
            HostConfig {
                memory: Some(1 << 20),
                ..Default::default()
            },
            "Minimum memory limit allowed is 6MB",
        ),
        (
            HostConfig {
                memory: Some(64 << 20),
                memory_reservation: Some(128 << 20),
                ..Default::default()
            },
            "memory reservation",
        ),
    ] {
        let e = err(ContainerConfig::default(), hc);
        assert!(e.contains(want), "{e}");
    }
}

#[test]
fn cpu_pids_blkio() {
    let r = json(&spec(HostConfig {
        nano_cpus: Some(500_000_000),
        cpu_shares: Some(512),
        cpuset_cpus: Some("0".into()),
        pids_limit: Some(100),
        blkio_weight: Some(300),
        ..Default::default()
    }))["linux"]["resources"]
        .clone();
    assert_eq!(r["cpu"]["period"], 100_000);
    assert_eq!(r["cpu"]["quota"], 50_000);
    assert_eq!(r["cpu"]["shares"], 512);
    assert_eq!(r["cpu"]["cpus"], "0");
    assert_eq!(r["pids"]["limit"], 100);
    assert_eq!(r["blockIO"]["weight"], 300);
    for unlimited in [0, -1] {
        let r = json(&spec(HostConfig {
            pids_limit: Some(unlimited),
            ..Default::default()
        }))["linux"]["resources"]
            .clone();
        assert!(r.get("pids").is_none());
    }
    let r = json(&spec(HostConfig {
        cpu_quota: Some(20_000),
        cpu_period: Some(50_000),
        ..Default::default()
    }))["linux"]["resources"]
        .clone();
    assert_eq!(r["cpu"]["quota"], 20_000);
    assert_eq!(r["cpu"]["period"], 50_000);
    let e = err(
        ContainerConfig::default(),
        HostConfig {
            nano_cpus: Some(500_000_000),
            cpu_quota: Some(20_000),
            ..Default::default()
        },
    );
    assert!(e.contains("Nano CPUs and CPU Quota"), "{e}");
    let e = err(
        ContainerConfig::default(),
        HostConfig {
            blkio_weight: Some(5),
            ..Default::default()
        },
    );
    assert!(e.contains("BlkioWeight"), "{e}");
}

#[test]
fn ulimits_oom_score_and_sysctls() {
    let j = json(&spec(HostConfig {
        ulimits: Some(vec![ResourcesUlimits {
            name: Some("nofile".into()),
            soft: Some(1024),
            hard: Some(4096),
        }]),
        oom_score_adj: Some(500),
        sysctls: Some(
            [("net.ipv4.ip_forward".to_string(), "1".to_string())]
                .into_iter()
                .collect(),
        ),
        ..Default::default()
    }));
    assert_eq!(
        j["process"]["rlimits"],
        serde_json::json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096}])
    );
    assert_eq!(j["process"]["oomScoreAdj"], 500);
    assert_eq!(j["linux"]["sysctl"]["net.ipv4.ip_forward"], "1");
    let e = err(
        ContainerConfig::default(),
        HostConfig {
            ulimits: Some(vec![ResourcesUlimits {
                name: Some("bogus".into()),
                soft: Some(1),
                hard: Some(1),
            }]),
            ..Default::default()
        },
    );
    assert!(e.contains("invalid ulimit type: bogus"), "{e}");
    let e = err(
        ContainerConfig::default(),
        HostConfig {
            network_mode: Some("host".into()),
            sysctls: Some(
                [("net.ipv4.ip_forward".to_string(), "1".to_string())]
                    .into_iter()
                    .collect(),
            ),
            ..Default::default()
        },
    );
    assert!(e.contains("host network namespace"), "{e}");
    let e = err(
        ContainerConfig::default(),
        HostConfig {
            sysctls: Some(
                [("vm.swappiness".to_string(), "1".to_string())]
                    .into_iter()
                    .collect(),
            ),
            ..Default::default()
        },
    );
    assert!(
        e.contains("vm.swappiness") && e.contains("HostConfig.Sysctls"),
        "{e}"
    );
    let e = err(
        ContainerConfig::default(),
        HostConfig {
            oom_score_adj: Some(2000),
            ..Default::default()
        },
    );
    assert!(e.contains("oom score adj"), "{e}");
}

#[test]
fn user_mounts_binds_tmpfs_readonly() {
    let host_dir = tempfile::tempdir().expect("tempdir");
    let src = host_dir.path().join("data");
    let hc = HostConfig {
        binds: Some(vec![format!("{}:/data:ro,rshared", src.display())]),
        tmpfs: Some(
            [("/run".to_string(), "size=1m,exec".to_string())]
                .into_iter()
                .collect(),
        ),
        mounts: Some(vec![bollard_stubs::models::Mount {
            target: Some("/dev/shm".into()),
            typ: Some(bollard_stubs::models::MountType::TMPFS),
            tmpfs_options: Some(bollard_stubs::models::MountTmpfsOptions {
                size_bytes: Some(1 << 20),
                mode: Some(0o1777),
                ..Default::default()
            }),
            ..Default::default()
        }]),
        readonly_rootfs: Some(true),
        shm_size: Some(1 << 30),
        ..Default::default()
    };
    let j = json(&spec(hc));
    assert!(src.is_dir(), "a missing -v source directory is created");
    let data = mount(&j, "/data").expect("bind");
    assert_eq!(data["type"], "bind");
    // Read-only recursively: a mount below the source is read-only too.
    assert_eq!(strs(&data["options"]), ["rbind", "rshared", "rro"]);
    let run = mount(&j, "/run").expect("tmpfs");
    assert_eq!(
        strs(&run["options"]),
        ["nosuid", "nodev", "size=1m", "exec"]
    );
    // The user's /dev/shm replaced the default one.
    let shms: Vec<&Value> = j["mounts"]
        .as_array()
        .expect("ok")
        .iter()
        .filter(|m| m["destination"] == "/dev/shm")
        .collect();
    assert_eq!(shms.len(), 1);
    assert!(strs(&shms[0]["options"]).contains(&"size=1048576".into()));
    assert!(strs(&shms[0]["options"]).contains(&"mode=1777".into()));
    // Read-only rootfs: root and the generated files are read-only.
    assert_eq!(j["root"]["readonly"], true);
    assert!(strs(&mount(&j, "/etc/hosts").expect("ok")["options"]).contains(&"rro".into()));
    assert!(!strs(&mount(&j, "/dev/mqueue").expect("ok")["options"]).contains(&"ro".into()));
    // Parents before children.
    let dests: Vec<&str> = j["mounts"]
        .as_array()
        .expect("ok")
        .iter()
        .filter_map(|m| m["destination"].as_str())
        .collect();
    assert!(
        dests.iter().position(|d| *d == "/data") < dests.iter().position(|d| *d == "/etc/hosts")
    );

    for (hc, want) in [
        (
            HostConfig {
                binds: Some(vec!["myvol:/data".into()]),
                ..Default::default()
            },
            "named volumes",
        ),
        (
            HostConfig {
                binds: Some(vec!["/tmp:relative".into()]),
                ..Default::default()
            },
            "absolute path",
        ),
        (
            HostConfig {
                binds: Some(vec!["/tmp:/x:bogus".into()]),
                ..Default::default()
            },
            "invalid mode: bogus",
        ),
        (
            HostConfig {
                binds: Some(vec!["/tmp:/x".into(), "/var:/x".into()]),
                ..Default::default()
            },
            "Duplicate mount point: /x",
        ),
        (
            HostConfig {
                mounts: Some(vec![bollard_stubs::models::Mount {
                    target: Some("/v".into()),
                    typ: Some(bollard_stubs::models::MountType::VOLUME),
                    source: Some("vol".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            "volume mounts are not supported yet",
        ),
        (
            HostConfig {
                mounts: Some(vec![bollard_stubs::models::Mount {
                    target: Some("/b".into()),
                    typ: Some(bollard_stubs::models::MountType::BIND),
                    source: Some("/nonexistent/berth/path".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            "bind source path does not exist: /nonexistent/berth/path",
        ),
        (
            HostConfig {
                shm_size: Some(-1),
                ..Default::default()
            },
            "SHM size",
        ),
    ] {
        let e = err(ContainerConfig::default(), hc);
        assert!(e.contains(want), "{e} should contain {want}");
    }
}

#[test]
fn devices_and_cgroup_rules() {
    let j = json(&spec(HostConfig {
        devices: Some(vec![DeviceMapping {
            path_on_host: Some("/dev/null".into()),
            path_in_container: Some("/dev/mynull".into()),
            cgroup_permissions: Some("rw".into()),
        }]),
        device_cgroup_rules: Some(vec!["c 42:* rmw".into()]),
        ..Default::default()
    }));
    let d = &j["linux"]["devices"][0];
    assert_eq!(d["path"], "/dev/mynull");
    assert_eq!(d["type"], "c");
    assert_eq!(d["major"], 1);
    assert_eq!(d["minor"], 3);
    let rules = j["linux"]["resources"]["devices"]
        .as_array()
        .expect("rules");
    assert!(rules
        .iter()
        .any(|r| r["major"] == 1 && r["minor"] == 3 && r["access"] == "rw"));
    assert!(rules
        .iter()
        .any(|r| r["major"] == 42 && r.get("minor").is_none() && r["access"] == "rmw"));
    for (hc, want) in [
        (
            HostConfig {
                devices: Some(vec![DeviceMapping {
                    path_on_host: Some("/dev/berth-no-such".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            "error gathering device information while adding custom device \"/dev/berth-no-such\"",
        ),
        (
            HostConfig {
                devices: Some(vec![DeviceMapping {
                    path_on_host: Some("/etc/hostname".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            "not a device node",
        ),
        (
            HostConfig {
                devices: Some(vec![DeviceMapping {
                    path_on_host: Some("/dev/null".into()),
                    cgroup_permissions: Some("rwx".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            "invalid device mode: rwx",
        ),
        (
            HostConfig {
                device_cgroup_rules: Some(vec!["x 1:2 r".into()]),
                ..Default::default()
            },
            "invalid device cgroup format 'x 1:2 r'",
        ),
    ] {
        let e = err(ContainerConfig::default(), hc);
        assert!(e.contains(want), "{e} should contain {want}");
    }
}

#[test]
fn init_is_mounted_and_prepended() {
    let (s, _f) = spec_with(
        &ContainerConfig::default(),
        &HostConfig {
            init: Some(true),
            ..Default::default()
        },
    )
    .expect("build");
    let j = json(&s);
    assert_eq!(
        strs(&j["process"]["args"]),
        [INIT_PATH_IN_CONTAINER, "--", "sh", "-c", "true"]
    );
    let m = mount(&j, INIT_PATH_IN_CONTAINER).expect("init mount");
    assert_eq!(m["source"], "/usr/local/bin/berth-init");
    assert_eq!(strs(&m["options"]), ["bind", "ro"]);
}

#[test]
fn empty_args_is_no_command() {
    let f = fixture();
    let e = build(&SpecInput {
        id: ID,
        config: &ContainerConfig::default(),
        host_config: &HostConfig::default(),
        args: &[],
        rootfs: &f.rootfs,
        etc_dir: &f.etc,
        init_path: None,
        cgroups_path: String::new(),
        network: Default::default(),
        recursive_readonly: Ok(()),
    })
    .expect_err("must fail");
    assert_eq!(e.to_string(), "No command specified");
}

mod seccomp_default {
    use super::super::seccomp::{default_profile, to_oci_for, Host};
    use super::*;

    fn host() -> Host {
        Host {
            goarch: "amd64",
            scmp_arch: "SCMP_ARCH_X86_64",
            kernel: (6, 1),
        }
    }

    /// The rules naming `name`, as (action, args, errnoRet).
    fn rules_for(sc: &Value, name: &str) -> Vec<Value> {
        sc["syscalls"]
            .as_array()
            .expect("syscalls")
            .iter()
            .filter(|r| strs(&r["names"]).iter().any(|n| n == name))
            .cloned()
            .collect()
    }

    fn allowed_unconditionally(sc: &Value, name: &str) -> bool {
        rules_for(sc, name)
            .iter()
            .any(|r| r["action"] == "SCMP_ACT_ALLOW" && r.get("args").is_none())
    }

    fn default_caps() -> Vec<String> {
        caps::DEFAULT_CAPABILITIES
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn blocks_dangerous_syscalls_without_their_capability() {
        let p = default_profile().expect("profile");
        let sc = to_oci_for(&p, &default_caps(), &host()).expect("oci");
        assert_eq!(sc["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(sc["defaultErrnoRet"], 1);
        assert_eq!(
            strs(&sc["architectures"]),
            ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
        );
        for blocked in [
            "keyctl",
            "unshare",
            "mount",
            "setns",
            "reboot",
            "bpf",
            "kexec_load",
            "open_by_handle_at",
            "add_key",
        ] {
            assert!(
                !allowed_unconditionally(&sc, blocked),
                "{blocked} must be blocked"
            );
        }
        for ok in [
            "read",
            "openat",
            "execve",
            "arch_prctl",
            "chroot",
            "ptrace",
            "io_uring_setup",
        ] {
            assert!(allowed_unconditionally(&sc, ok), "{ok} must be allowed");
        }
        // clone only without namespace flags; clone3 answers ENOSYS so libc falls back.
        let clone = rules_for(&sc, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0]["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
        assert_eq!(clone[0]["args"][0]["value"], 2114060288u64);
        let clone3 = rules_for(&sc, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0]["action"], "SCMP_ACT_ERRNO");
        assert_eq!(clone3[0]["errnoRet"], 38);
        // s390 and arm rules are dropped on amd64.
        assert!(rules_for(&sc, "s390_runtime_instr").is_empty());
        assert!(rules_for(&sc, "set_tls").is_empty());
        // socket: anything but AF_VSOCK.
        let sock = rules_for(&sc, "socket");
        assert_eq!(sock[0]["args"][0]["op"], "SCMP_CMP_NE");
        assert_eq!(sock[0]["args"][0]["value"], 40);
        // The result is a valid OCI seccomp section.
        serde_json::from_value::<oci_spec::runtime::LinuxSeccomp>(sc).expect("valid OCI");
    }

    #[test]
    fn capabilities_unlock_their_rules() {
        let p = default_profile().expect("profile");
        let mut caps = default_caps();
        caps.push("CAP_SYS_ADMIN".into());
        caps.push("CAP_SYS_PTRACE".into());
        let sc = to_oci_for(&p, &caps, &host()).expect("oci");
        for ok in [
            "unshare",
            "mount",
            "setns",
            "clone",
            "clone3",
            "kcmp",
            "process_madvise",
        ] {
            assert!(allowed_unconditionally(&sc, ok), "{ok} with its capability");
        }
        // The ENOSYS rule for clone3 is excluded with CAP_SYS_ADMIN.
        assert!(rules_for(&sc, "clone3")
            .iter()
            .all(|r| r["action"] == "SCMP_ACT_ALLOW"));
        assert!(!allowed_unconditionally(&sc, "reboot"));
    }

    #[test]
    fn min_kernel_and_arch_conditions() {
        let p = default_profile().expect("profile");
        let old = Host {
            kernel: (4, 4),
            ..host()
        };
        let sc = to_oci_for(&p, &default_caps(), &old).expect("oci");
        assert!(
            !allowed_unconditionally(&sc, "ptrace"),
            "ptrace needs 4.8 without CAP_SYS_PTRACE"
        );
        let s390 = Host {
            goarch: "s390x",
            scmp_arch: "SCMP_ARCH_S390X",
            kernel: (6, 1),
        };
        let sc = to_oci_for(&p, &default_caps(), &s390).expect("oci");
        assert!(allowed_unconditionally(&sc, "s390_runtime_instr"));
        assert!(!allowed_unconditionally(&sc, "arch_prctl"));
        assert_eq!(rules_for(&sc, "clone")[0]["args"][0]["index"], 1);
        assert_eq!(
            strs(&sc["architectures"]),
            ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"]
        );
    }
}

mod merge_rules {
    use super::*;
    use berth_image::config::{ContainerConfig as ImageConfig, HealthConfig as ImageHealth};

    fn image() -> ImageConfig {
        ImageConfig {
            user: Some("www".into()),
            env: Some(vec!["PATH=/img/bin".into(), "A=image".into()]),
            entrypoint: Some(vec!["/entry".into()]),
            cmd: Some(vec!["serve".into()]),
            working_dir: Some("/app".into()),
            exposed_ports: Some(
                [("80/tcp".to_string(), serde_json::json!({}))]
                    .into_iter()
                    .collect(),
            ),
            volumes: Some(
                [("/data".to_string(), serde_json::json!({}))]
                    .into_iter()
                    .collect(),
            ),
            labels: Some(
                [
                    ("a".to_string(), "img".to_string()),
                    ("b".to_string(), "img".to_string()),
                ]
                .into_iter()
                .collect(),
            ),
            healthcheck: Some(ImageHealth {
                test: Some(vec!["CMD".into(), "true".into()]),
                interval: Some(5),
                retries: Some(3),
                ..Default::default()
            }),
            stop_signal: Some("SIGQUIT".into()),
            shell: Some(vec!["/bin/bash".into(), "-c".into()]),
            on_build: None,
        }
    }

    #[test]
    fn image_values_fill_what_the_user_left_empty() {
        let c = merge_image_config(&image(), &ContainerConfig::default());
        assert_eq!(c.user.as_deref(), Some("www"));
        assert_eq!(c.env, Some(vec!["PATH=/img/bin".into(), "A=image".into()]));
        assert_eq!(process_args(&c).expect("ok"), ["/entry", "serve"]);
        assert_eq!(c.working_dir.as_deref(), Some("/app"));
        assert_eq!(c.exposed_ports, Some(vec!["80/tcp".into()]));
        assert_eq!(c.volumes, Some(vec!["/data".into()]));
        assert_eq!(c.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(c.shell, Some(vec!["/bin/bash".into(), "-c".into()]));
        assert_eq!(c.healthcheck.as_ref().and_then(|h| h.retries), Some(3));
    }

    #[test]
    fn user_values_win_and_merge_by_key() {
        let user = ContainerConfig {
            user: Some("1000".into()),
            env: Some(vec!["A=user".into(), "B=2".into()]),
            cmd: Some(vec!["other".into()]),
            labels: Some(
                [("a".to_string(), "user".to_string())]
                    .into_iter()
                    .collect(),
            ),
            exposed_ports: Some(vec!["443/tcp".into()]),
            healthcheck: Some(HealthConfig {
                interval: Some(9),
                ..Default::default()
            }),
            working_dir: Some("/w".into()),
            ..Default::default()
        };
        let c = merge_image_config(&image(), &user);
        assert_eq!(c.user.as_deref(), Some("1000"));
        assert_eq!(
            c.env,
            Some(vec!["A=user".into(), "B=2".into(), "PATH=/img/bin".into()])
        );
        // A user Cmd keeps the image's Entrypoint.
        assert_eq!(process_args(&c).expect("ok"), ["/entry", "other"]);
        let labels = c.labels.expect("labels");
        assert_eq!(labels["a"], "user");
        assert_eq!(labels["b"], "img");
        assert_eq!(
            c.exposed_ports,
            Some(vec!["443/tcp".into(), "80/tcp".into()])
        );
        let h = c.healthcheck.expect("healthcheck");
        assert_eq!(h.interval, Some(9));
        assert_eq!(h.test, Some(vec!["CMD".into(), "true".into()]));
        assert_eq!(c.working_dir.as_deref(), Some("/w"));
    }

    #[test]
    fn user_entrypoint_resets_image_cmd() {
        let user = ContainerConfig {
            entrypoint: Some(vec!["/bin/echo".into()]),
            ..Default::default()
        };
        let c = merge_image_config(&image(), &user);
        assert_eq!(process_args(&c).expect("ok"), ["/bin/echo"]);
        // --entrypoint "" arrives as [""]: no entrypoint, the image's Cmd.
        let user = ContainerConfig {
            entrypoint: Some(vec!["".into()]),
            ..Default::default()
        };
        let c = merge_image_config(&image(), &user);
        assert_eq!(process_args(&c).expect("ok"), ["serve"]);
    }

    #[test]
    fn no_command_specified() {
        let c = merge_image_config(&ImageConfig::default(), &ContainerConfig::default());
        let e = process_args(&c).expect_err("must fail");
        assert!(matches!(e, Error::InvalidArgument(_)));
        assert_eq!(e.to_string(), "No command specified");
    }

    #[test]
    fn env_replace_and_remove() {
        let env = process_env(
            &["FOO=1".into(), "HOSTNAME=x".into(), "PATH".into()],
            "h",
            false,
        );
        assert_eq!(env, ["HOSTNAME=x", "FOO=1"]);
    }

    #[test]
    fn create_body_config() {
        let body = ContainerCreateBody {
            image: Some("busybox".into()),
            cmd: Some(vec!["true".into()]),
            host_config: Some(HostConfig::default()),
            ..Default::default()
        };
        let c = config_of_create_body(&body);
        assert_eq!(c.image.as_deref(), Some("busybox"));
        assert_eq!(c.cmd, Some(vec!["true".into()]));
    }

    use bollard_stubs::models::{ContainerCreateBody, HealthConfig};
}
