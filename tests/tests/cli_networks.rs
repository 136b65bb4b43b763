//! `berth network|volume|port`, `ps` PORTS and the network/mount flags of run/create, compared
//! with docker CLI 28 against the same real dockerd: stdout, stderr (with "docker" read as
//! "berth") and exit codes must match where docker's output is deterministic, and containers
//! created by either client must carry the same HostConfig.
#![forbid(unsafe_code)]

use berth_e2e::{busybox, busybox_docker_archive, run_with_stdin, Dockerd, DOCKER_CLI};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Mutex;

/// One dockerd at a time: their containerd shims share /run/containerd/s.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

struct Env {
    d: Dockerd,
    config: tempfile::TempDir,
    _one: std::sync::MutexGuard<'static, ()>,
}

impl Env {
    /// A private dockerd with busybox:latest loaded, or None after the skip message.
    fn start(with_image: bool) -> Option<Env> {
        let one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        if !berth_e2e::require(
            Path::new(DOCKER_CLI).exists(),
            "docker CLI 28 is not installed",
        ) || !berth_e2e::require(busybox().is_some(), "busybox-static is not installed")
        {
            return None;
        }
        let d = Dockerd::start()?;
        let env = Env {
            d,
            config: tempfile::Builder::new()
                .prefix("berth-cli-net-config-")
                .tempdir()
                .expect("tempdir"),
            _one: one,
        };
        if with_image {
            let archive = env.config.path().join("busybox.tar");
            busybox_docker_archive(&archive, "busybox:latest");
            let o = env.docker(&["load", "-i", archive.to_str().expect("utf-8")]);
            ok(&o, "docker load");
        }
        Some(env)
    }

    fn cmd(&self, program: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut c = Command::new("timeout");
        c.args(["-k", "5", "60"])
            .arg(program)
            .args(args)
            .env("DOCKER_HOST", self.d.host())
            .env("BERTH_HOST", self.d.host())
            .env("DOCKER_CONFIG", self.config.path());
        run_with_stdin(c, stdin)
    }

    fn berth(&self, args: &[&str]) -> Output {
        self.cmd(&berth_e2e::bin("berth"), args, None)
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.cmd(Path::new(DOCKER_CLI), args, None)
    }

    /// Runs `args` with both clients and asserts the same stdout, stderr and exit code; returns
    /// berth's output.
    fn same(&self, args: &[&str]) -> Output {
        self.same_with(args, None)
    }

    fn same_with(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let d = self.cmd(Path::new(DOCKER_CLI), args, stdin);
        let b = self.cmd(&berth_e2e::bin("berth"), args, stdin);
        // docker's own name in its messages reads as ours; the daemon's paths stay.
        let dir = self.d.dir.path().to_string_lossy().to_string();
        let as_berth = |s: String| {
            s.replace(&dir, "\u{0}")
                .replace("Docker daemon", "Berth daemon")
                .replace("docker", "berth")
                .replace('\u{0}', &dir)
        };
        assert_eq!(
            (b.status.code(), stdout(&b), stderr(&b),),
            (d.status.code(), as_berth(stdout(&d)), as_berth(stderr(&d)),),
            "berth (left) and docker (right) differ for {args:?}"
        );
        b
    }

    /// `inspect -f TEMPLATE NAME` through docker, trimmed.
    fn field(&self, kind: &str, template: &str, name: &str) -> String {
        let o = self.docker(&[kind, "inspect", "-f", template, name]);
        ok(&o, "docker inspect");
        stdout(&o).trim().to_string()
    }
}

fn ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The networks a fresh `--bridge=none` dockerd has.
const BUILTIN_NETWORKS: [&str; 2] = ["host", "none"];

#[test]
fn network_verbs_match_docker() {
    let Some(env) = Env::start(true) else { return };
    // create with every IPAM flag: the daemon stores the same network for either client.
    let flags = [
        "--subnet",
        "10.231.0.0/24",
        "--gateway",
        "10.231.0.1",
        "--ip-range",
        "10.231.0.128/25",
        "--label",
        "team=net",
        "--label",
        "bare",
        "-o",
        "com.docker.network.bridge.name=brb231",
        "--attachable",
        "--internal",
    ];
    let shape = "{{json .IPAM}} {{json .Options}} {{json .Labels}} {{.Internal}} {{.Attachable}} {{.Driver}} {{.EnableIPv6}}";
    let o = env.berth(&[&["network", "create"][..], &flags, &["bnet"]].concat());
    ok(&o, "berth network create");
    let id = stdout(&o).trim().to_string();
    assert_eq!(id.len(), 64, "network create prints the id: {id}");
    assert_eq!(env.field("network", "{{.Id}}", "bnet"), id);
    let by_berth = env.field("network", shape, "bnet");
    let o = env.berth(&["network", "rm", "bnet"]);
    ok(&o, "network rm");
    assert_eq!(stdout(&o), "bnet\n");
    ok(
        &env.docker(&[&["network", "create"][..], &flags, &["bnet"]].concat()),
        "docker network create",
    );
    assert_eq!(env.field("network", shape, "bnet"), by_berth);
    ok(&env.berth(&["network", "rm", "bnet"]), "network rm");

    // IPv6 and the default driver.
    ok(
        &env.berth(&[
            "network",
            "create",
            "--ipv6",
            "--subnet",
            "fd00:231::/64",
            "v6net",
        ]),
        "create --ipv6",
    );
    let v6 = env.field("network", "{{.EnableIPv6}} {{json .IPAM.Config}}", "v6net");
    assert!(
        v6.starts_with("true ") && v6.contains(r#"{"Subnet":"fd00:231::/64"}"#),
        "{v6}"
    );
    ok(&env.berth(&["network", "create", "plain"]), "create plain");
    ok(
        &env.berth(&["network", "create", "--label", "keep=1", "keeper"]),
        "create keeper",
    );

    // Listings, sorted by name, in every format.
    for args in [
        &["network", "ls"][..],
        &["network", "ls", "--no-trunc"],
        &["network", "ls", "-q"],
        &["network", "ls", "--format", "json"],
        &[
            "network",
            "ls",
            "--format",
            "{{.Name}} {{.Driver}} {{.Scope}} {{.IPv6}} {{.Internal}} {{.Labels}} {{.CreatedAt}}",
        ],
        &[
            "network",
            "ls",
            "--format",
            "table {{.ID}}\t{{.Name}}\t{{.IPv6}}\t{{.Labels}}",
        ],
        &["network", "ls", "-f", "name=plain"],
        &["network", "ls", "-f", "label=keep", "-q"],
        &[
            "network",
            "ls",
            "-f",
            "driver=null",
            "--format",
            "{{.Name}}",
        ],
        &["network", "ls", "-f", "foo=bar"],
        &["network", "ls", "-f", "bad"],
        &["network", "ls", "extra"],
        &["network", "list"],
    ] {
        env.same(args);
    }
    let o = env.same(&["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(stdout(&o), "host\nkeeper\nnone\nplain\nv6net\n");

    // inspect: one, several, missing ones, templates.
    env.same(&["network", "inspect", "plain"]);
    env.same(&[
        "network",
        "inspect",
        "-f",
        "{{.Name}} {{.Driver}}",
        "plain",
        "v6net",
    ]);
    let o = env.same(&["network", "inspect", "-f", "{{.Name}}", "plain", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    env.same(&["network", "inspect", "nope1", "nope2"]);

    // Errors: duplicates, IPAM checks, argument counts.
    for args in [
        &["network", "create", "plain"][..],
        &["network", "create", "--gateway", "10.1.0.1", "x"],
        &[
            "network",
            "create",
            "--subnet",
            "10.232.0.0/24",
            "--gateway",
            "10.9.0.1",
            "x",
        ],
        &["network", "create", "-d", "nodriver", "x"],
        &["network", "create"],
        &["network", "create", "a", "b"],
        &["network", "rm"],
        &["network", "connect", "plain"],
        &["network", "disconnect"],
        &["network", "rm", "nope", "nope2"],
        &["network", "rm", "host"],
    ] {
        let o = env.same(args);
        assert!(!o.status.success(), "{args:?} must fail");
    }

    // connect / disconnect a container, with aliases and a fixed address.
    ok(
        &env.docker(&["create", "--name", "c1", "busybox", "true"]),
        "create c1",
    );
    ok(
        &env.berth(&["network", "create", "--subnet", "10.233.0.0/24", "sub"]),
        "create sub",
    );
    let o = env.berth(&[
        "network",
        "connect",
        "--alias",
        "a1",
        "--alias",
        "a2",
        "--ip",
        "10.233.0.77",
        "sub",
        "c1",
    ]);
    ok(&o, "network connect");
    assert_eq!(stdout(&o), "");
    // (dockerd adds the container's short id as a third alias)
    let ep = env.field(
        "container",
        "{{json .NetworkSettings.Networks.sub.Aliases}} {{.NetworkSettings.Networks.sub.IPAMConfig.IPv4Address}}",
        "c1",
    );
    assert!(
        ep.starts_with(r#"["a1","a2""#) && ep.ends_with(" 10.233.0.77"),
        "{ep}"
    );
    env.same(&["network", "connect", "sub", "nope"]);
    ok(
        &env.berth(&["network", "disconnect", "sub", "c1"]),
        "disconnect",
    );
    let nets = env.field("container", "{{json .NetworkSettings.Networks}}", "c1");
    assert!(!nets.contains("\"sub\""), "still connected: {nets}");
    // Not connected any more: docker's error, naming the container's id.
    env.same(&["network", "disconnect", "sub", "c1"]);
    env.same(&["network", "disconnect", "-f", "sub", "c1"]);
    // dockerd lets a network go while a created (not running) container is connected.
    ok(
        &env.berth(&["network", "connect", "sub", "c1"]),
        "reconnect",
    );
    let o = env.berth(&["network", "rm", "sub"]);
    ok(&o, "network rm sub");
    assert_eq!(stdout(&o), "sub\n");
    ok(&env.docker(&["rm", "c1"]), "rm c1");

    // prune: "n" keeps everything; a filter keeps the labelled one; then all go.
    let o = env.same_with(&["network", "prune"], Some(b"n\n"));
    assert!(stdout(&o).contains("Are you sure you want to continue? [y/N] "));
    let o = env.berth(&["network", "prune", "-f", "--filter", "label!=keep"]);
    ok(&o, "prune with filter");
    // (in the daemon's order)
    let out = stdout(&o);
    assert!(
        out.starts_with("Deleted Networks:\n") && out.ends_with("\n\n"),
        "{out}"
    );
    let mut gone: Vec<&str> = out.lines().skip(1).filter(|l| !l.is_empty()).collect();
    gone.sort();
    assert_eq!(gone, ["plain", "v6net"]);
    let o = env.berth(&["network", "prune", "-f"]);
    assert_eq!(stdout(&o), "Deleted Networks:\nkeeper\n\n");
    // Nothing left to prune: nothing printed, as docker.
    env.same(&["network", "prune", "-f"]);
    let o = env.docker(&["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(stdout(&o).lines().collect::<Vec<_>>(), BUILTIN_NETWORKS);
}

#[test]
fn volume_verbs_match_docker() {
    let Some(env) = Env::start(true) else { return };
    let o = env.same(&["volume", "create", "v1"]);
    assert_eq!(stdout(&o), "v1\n");
    // (the second create of an existing name is a no-op for dockerd, as for docker)
    let o = env.berth(&[
        "volume",
        "create",
        "-d",
        "local",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m",
        "--label",
        "x=y",
        "v2",
    ]);
    ok(&o, "volume create with options");
    assert_eq!(
        env.field(
            "volume",
            "{{json .Options}} {{json .Labels}} {{.Driver}}",
            "v2"
        ),
        r#"{"device":"tmpfs","o":"size=1m","type":"tmpfs"} {"x":"y"} local"#
    );
    let o = env.berth(&["volume", "create"]);
    ok(&o, "anonymous volume create");
    let anon = stdout(&o).trim().to_string();
    assert_eq!(anon.len(), 64, "an anonymous volume's name: {anon}");

    for args in [
        &["volume", "ls"][..],
        &["volume", "ls", "-q"],
        &["volume", "ls", "--format", "json"],
        &[
            "volume",
            "ls",
            "--format",
            "table {{.Name}}\t{{.Mountpoint}}\t{{.Size}}\t{{.Links}}\t{{.Scope}}\t{{.Labels}}",
        ],
        &[
            "volume",
            "ls",
            "-f",
            "label=x",
            "--format",
            "{{.Name}} {{.Labels}}",
        ],
        &["volume", "ls", "-f", "name=v", "-f", "dangling=true"],
        &["volume", "ls", "-f", "driver=local", "-q"],
        &["volume", "ls", "-f", "bad"],
        &["volume", "inspect", "v1", "v2"],
        &["volume", "inspect", "-f", "{{.Name}} {{.Mountpoint}}", "v1"],
        &["volume", "inspect", "nope"],
        &["volume", "inspect"],
        &["volume", "rm"],
        &["volume", "ls", "extra"],
    ] {
        env.same(args);
    }

    // rm: a volume in use is refused; several names go on past a failure.
    ok(
        &env.docker(&[
            "create", "--name", "user", "-v", "v1:/data", "busybox", "true",
        ]),
        "create user",
    );
    let o = env.same(&["volume", "rm", "v1"]);
    assert_eq!(o.status.code(), Some(1));
    let o = env.berth(&["volume", "rm", "nope", "v2"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "v2\n");
    assert_eq!(
        stderr(&o),
        "Error response from daemon: get nope: no such volume\n"
    );
    env.same(&["volume", "rm", "-f", "nope"]);

    // prune: "n" keeps the volumes; then the unused ones go (dockerd 20.10, API 1.41, prunes
    // named volumes too, and has no --all).
    let o = env.same_with(&["volume", "prune"], Some(b"n\n"));
    assert!(stdout(&o).contains("[y/N] "));
    env.same(&["volume", "prune", "-a", "-f"]);
    let o = env.berth(&["volume", "prune", "-f"]);
    ok(&o, "volume prune");
    assert_eq!(
        stdout(&o),
        format!("Deleted Volumes:\n{anon}\n\nTotal reclaimed space: 0B\n")
    );
    let o = env.same(&["volume", "prune", "-f"]);
    assert_eq!(stdout(&o), "Total reclaimed space: 0B\n");
    // The volume in use stays until its container goes.
    env.same(&["volume", "ls", "-q"]);
    ok(&env.docker(&["rm", "user"]), "rm user");
    ok(&env.berth(&["volume", "rm", "v1"]), "volume rm v1");
    let o = env.docker(&["volume", "ls", "-q"]);
    assert_eq!(stdout(&o), "", "volumes left behind");
    // `system df` shows the volumes section as docker does.
    ok(&env.docker(&["volume", "create", "dfv"]), "create dfv");
    env.same(&["system", "df"]);
    env.same(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Active}}",
    ]);
    ok(&env.docker(&["volume", "rm", "dfv"]), "rm dfv");
}

#[test]
fn port_and_ps_ports_match_docker() {
    let Some(env) = Env::start(true) else { return };
    // --bridge=none: publish on a user network (--iptables=false still records bindings).
    ok(
        &env.docker(&["network", "create", "pnet"]),
        "network create",
    );
    // dockerd's userland proxy binds the host ports for real: pick free ones.
    let (web, web2) = (free_ports(1).to_string(), free_ports(3));
    let udp = format!("127.0.0.1:{}-{}:9000-9002/udp", web2, web2 + 2);
    let (r0, r1) = (free_ports(2), free_ports(2));
    let range = format!("{r0}-{}:6000-6001", r0 + 1);
    let same_range = format!("{r1}-{}:{r1}-{}", r1 + 1, r1 + 1);
    let web_p = format!("{web}:80");
    let o = env.berth(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "pnet",
        "-p",
        &web_p,
        "-p",
        &udp,
        "-p",
        &range,
        "-p",
        &same_range,
        "--expose",
        "7000-7001",
        "busybox",
        "sleep",
        "1000",
    ]);
    ok(&o, "run -d with -p");
    for args in [
        &["ps", "--format", "{{.Names}} {{.Ports}}"][..],
        &["ps"],
        &["port", "web"],
        &["port", "web", "80"],
        &["port", "web", "80/tcp"],
        &["port", "web", "9001/udp"],
        &["port", "web", "81"],
        &["port", "web", "80/udp"],
        &["port", "web", "abc"],
        &["port", "web", "70000"],
        &["port", "nope"],
        &["port"],
        &["container", "port", "web", "6001"],
    ] {
        env.same(args);
    }
    // Ports published on their own number collapse into one range per address.
    let o = env.berth(&["ps", "--format", "{{.Ports}}"]);
    assert!(
        stdout(&o).contains(&format!(
            "0.0.0.0:{r1}-{}->{r1}-{}/tcp, [::]:{r1}-{}->{r1}-{}/tcp",
            r1 + 1,
            r1 + 1,
            r1 + 1,
            r1 + 1
        )),
        "{}",
        stdout(&o)
    );
    // -P publishes every exposed port on a port the daemon picks.
    ok(
        &env.berth(&[
            "run",
            "-d",
            "--name",
            "all",
            "--network",
            "pnet",
            "-P",
            "--expose",
            "5000",
            "busybox",
            "sleep",
            "1000",
        ]),
        "run -P",
    );
    env.same(&["port", "all"]);
    env.same(&["ps", "-a", "--format", "{{.Names}} {{.Ports}}"]);
    ok(&env.docker(&["rm", "-f", "web", "all"]), "rm");
    ok(&env.docker(&["network", "rm", "pnet"]), "network rm");
}

#[test]
fn run_network_and_mount_flags_send_what_docker_sends() {
    let Some(env) = Env::start(true) else { return };
    ok(
        &env.docker(&["network", "create", "--subnet", "10.234.0.0/24", "mnet"]),
        "network create",
    );
    ok(
        &env.docker(&[
            "create", "--name", "src", "-v", "/shared", "busybox", "true",
        ]),
        "src",
    );
    let bind_dir = env.config.path().join("bindsrc");
    std::fs::create_dir_all(&bind_dir).expect("mkdir");
    let b = bind_dir.to_str().expect("utf-8");
    let common = |ip: &str| -> Vec<String> {
        [
            "--network", "mnet", "--ip", ip, "--network-alias", "web", "-v", "/data", "-v",
            "named:/named:ro", &format!("{b}:/b:rw"),
            "--mount", &format!("type=bind,src={b},dst=/b2,readonly,bind-propagation=rshared"),
            "--mount", "type=volume,source=mv,target=/v2,volume-nocopy,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-driver=local",
            "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770",
            "--mount", "type=volume,dst=/anon",
            "--tmpfs", "/run:rw,size=2m", "--tmpfs", "/x", "--volumes-from", "src:ro",
            "-p", "8000-8002:80-82", "-p", "[::1]:90:90", "-p", "127.0.0.1:7000-7001:70/udp",
            "--expose", "6000-6001", "--dns", "10.0.0.53", "--add-host", "h:10.0.0.9",
            "busybox", "true",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    // (-v takes the next value: the bind is its own -v)
    let fix = |mut v: Vec<String>| {
        let i = v.iter().position(|s| s.ends_with(":/b:rw")).expect("bind");
        v.insert(i, "-v".into());
        v
    };
    let d_args = fix(common("10.234.0.10"));
    let b_args = fix(common("10.234.0.11"));
    let mut d = vec!["create".to_string(), "--name".into(), "dref".into()];
    d.extend(d_args);
    let mut bb = vec!["create".to_string(), "--name".into(), "bref".into()];
    bb.extend(b_args);
    ok(&env.docker(&as_str(&d)), "docker create");
    ok(&env.berth(&as_str(&bb)), "berth create");
    // docker CLI sends -v binds in Go map order (random): compare them as a set.
    let binds = |name: &str| {
        let mut b: Vec<String> = env
            .field(
                "container",
                "{{range .HostConfig.Binds}}{{println .}}{{end}}",
                name,
            )
            .lines()
            .map(String::from)
            .collect();
        b.sort();
        b
    };
    assert_eq!(binds("bref"), binds("dref"));
    assert_eq!(binds("bref").len(), 2);
    let shape = "{{json .HostConfig.Mounts}} {{json .HostConfig.Tmpfs}} {{json .HostConfig.VolumesFrom}} {{json .HostConfig.PortBindings}} {{.HostConfig.NetworkMode}} {{json .HostConfig.Dns}} {{json .HostConfig.ExtraHosts}} {{json .Config.ExposedPorts}} {{json .Config.Volumes}} {{json .NetworkSettings.Networks.mnet.Aliases}}";
    let by_docker = env.field("container", shape, "dref");
    assert_eq!(env.field("container", shape, "bref"), by_docker);
    assert!(by_docker.contains("\"Mode\":1016"), "{by_docker}");
    assert_eq!(
        env.field(
            "container",
            "{{.NetworkSettings.Networks.mnet.IPAMConfig.IPv4Address}}",
            "bref"
        ),
        "10.234.0.11"
    );
    // Flag errors: docker's words and status, before anything is created.
    for args in [
        &["create", "-p", "abc", "busybox"][..],
        &["create", "-p", "8000:80-81", "busybox"],
        &["create", "-p", "80/xyz", "busybox"],
        &["create", "--expose", "9:8", "busybox"],
        &["create", "--expose", "abc", "busybox"],
        &["create", "--mount", "type", "busybox"],
        &["create", "--mount", "dst=/x,bogus=1", "busybox"],
        &["create", "--mount", "type=volume", "busybox"],
        &[
            "create",
            "--mount",
            "type=tmpfs,dst=/x,tmpfs-mode=999",
            "busybox",
        ],
        &[
            "create",
            "--mount",
            "type=bind,src=/tmp,dst=/x,volume-nocopy",
            "busybox",
        ],
        &["create", "--mount", "type=foo,dst=/x", "busybox"],
        &["create", "--network-alias", "x", "busybox"],
        &[
            "create",
            "--network",
            "mnet",
            "--network",
            "host",
            "busybox",
        ],
        &[
            "create",
            "--network",
            "mnet",
            "--network",
            "mnet",
            "busybox",
        ],
        &["create", "--mac-address", "zz", "busybox"],
        &["run", "--rm", "--mount", "type=foo,dst=/x", "busybox"],
    ] {
        let o = env.same(args);
        assert!(!o.status.success(), "{args:?} must fail");
    }
    ok(&env.docker(&["rm", "-v", "dref", "bref", "src"]), "rm");
    ok(&env.docker(&["volume", "rm", "named", "mv"]), "volume rm");
    let o = env.docker(&["ps", "-aq"]);
    assert_eq!(stdout(&o), "", "containers left behind");
    ok(&env.docker(&["network", "rm", "mnet"]), "network rm");
}

#[test]
fn inspect_finds_networks_and_volumes() {
    let Some(env) = Env::start(false) else { return };
    ok(
        &env.docker(&["network", "create", "inet"]),
        "network create",
    );
    ok(&env.docker(&["volume", "create", "ivol"]), "volume create");
    for args in [
        &["inspect", "inet"][..],
        &["inspect", "ivol"],
        &["inspect", "-f", "{{.Name}}", "inet", "ivol"],
        &["inspect", "--type", "volume", "ivol"],
        &["inspect", "--type", "network", "-f", "{{.Driver}}", "inet"],
        &["inspect", "--type", "network", "ivol"],
        &["inspect", "nothing"],
    ] {
        env.same(args);
    }
    ok(&env.docker(&["network", "rm", "inet"]), "network rm");
    ok(&env.docker(&["volume", "rm", "ivol"]), "volume rm");
}

fn as_str(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A free TCP port followed by `n - 1` more free ones.
fn free_ports(n: u16) -> u16 {
    for _ in 0..100 {
        let p = berth_e2e::free_port();
        if p.checked_add(n).is_none() {
            continue;
        }
        let all = (p..p + n).all(|q| {
            std::net::TcpListener::bind(("0.0.0.0", q)).is_ok()
                && std::net::UdpSocket::bind(("127.0.0.1", q)).is_ok()
        });
        if all {
            return p;
        }
    }
    panic!("no {n} consecutive free ports");
}
