//! Whole Dockerfiles through `berth_build::parse`: typed instructions, stages, and errors
//! located as `FILE:LINE:COLUMN` with BuildKit's messages.

use std::time::Duration;

use berth_build::{parse, Command, Dockerfile, Healthcheck};

fn ok(src: &str) -> Dockerfile {
    match parse("Dockerfile", src) {
        Ok(d) => d,
        Err(e) => panic!("{src:?}: {e}"),
    }
}

fn err(src: &str) -> String {
    match parse("Dockerfile", src) {
        Ok(d) => panic!("{src:?} should not parse: {d:?}"),
        Err(e) => e.to_string(),
    }
}

/// The only instruction after `FROM a`.
fn one(body: &str) -> Command {
    let d = ok(&format!("FROM a\n{body}\n"));
    let ins = &d.stages[0].instructions;
    assert_eq!(ins.len(), 1, "{body:?}");
    ins[0].command.clone()
}

#[test]
fn stages_and_meta_args() {
    let d = ok("# syntax=docker/dockerfile:1\n\
                ARG BASE=alpine\n\
                ARG V\n\
                FROM --platform=$BUILDPLATFORM ${BASE} AS Build\n\
                RUN make\n\
                FROM scratch\n\
                COPY --from=build /out /\n");
    assert_eq!(d.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(d.meta_args.len(), 2);
    assert_eq!(d.stages.len(), 2);
    let b = &d.stages[0];
    assert_eq!(b.name(), Some("build"));
    assert_eq!(b.base.image, "${BASE}");
    assert_eq!(b.base.platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(b.from.span.start_line, 4);
    assert_eq!(b.instructions.len(), 1);
    assert_eq!(d.stages[1].name(), None);
    assert!(d.stage("BUILD").is_some() && d.stage("1").is_some() && d.stage("x").is_none());
    let Command::Copy(c) = &d.stages[1].instructions[0].command else {
        panic!("COPY")
    };
    assert_eq!(c.from.as_deref(), Some("build"));
    assert_eq!(
        d.stages[1].instructions[0].original,
        "COPY --from=build /out /"
    );
}

#[test]
fn run_forms_and_flags() {
    let Command::Run(r) = one("RUN --mount=type=cache,target=/root/.cache,sharing=locked,ro \\\n  --mount=type=secret,id=tok --network=none --security=insecure make all")
    else {
        panic!("RUN")
    };
    assert!(r.cmdline.shell_form);
    assert_eq!(r.cmdline.args, vec!["make all"]);
    assert_eq!(r.mounts.len(), 2);
    assert_eq!(
        r.mounts[0].raw,
        "type=cache,target=/root/.cache,sharing=locked,ro"
    );
    assert_eq!(
        r.mounts[0].fields,
        vec![
            ("type".to_owned(), Some("cache".to_owned())),
            ("target".to_owned(), Some("/root/.cache".to_owned())),
            ("sharing".to_owned(), Some("locked".to_owned())),
            ("ro".to_owned(), None),
        ]
    );
    assert_eq!(r.network.as_deref(), Some("none"));
    assert_eq!(r.security.as_deref(), Some("insecure"));
    assert_eq!(r.flags_used, vec!["mount", "network", "security"]);

    let Command::Run(r) = one(r#"RUN ["/bin/echo", "a b"]"#) else {
        panic!("RUN")
    };
    assert!(!r.cmdline.shell_form);
    assert_eq!(r.cmdline.args, vec!["/bin/echo", "a b"]);

    let Command::Run(r) = one("RUN <<EOF\nset -e\necho hi\nEOF") else {
        panic!("RUN")
    };
    assert_eq!(r.cmdline.args, vec!["<<EOF"]);
    assert_eq!(r.cmdline.heredocs[0].body(), "set -e\necho hi\n");
}

#[test]
fn copy_and_add() {
    let Command::Copy(c) = one(
        "COPY --chown=app:app --chmod=0755 --link --parents --exclude=*.md --exclude=tmp a b /dst/",
    ) else {
        panic!("COPY")
    };
    assert_eq!(c.paths.sources, vec!["a", "b"]);
    assert_eq!(c.paths.dest, "/dst/");
    assert_eq!(c.chown.as_deref(), Some("app:app"));
    assert_eq!(c.chmod.as_deref(), Some("0755"));
    assert!(c.link && c.parents);
    assert_eq!(c.exclude, vec!["*.md", "tmp"]);

    let Command::Copy(c) =
        one("COPY --link=false <<a.txt <<-\"b.sh\" /x/\nhello $USER\na.txt\n\techo\n\tb.sh")
    else {
        panic!("COPY")
    };
    assert!(!c.link);
    assert!(c.paths.sources.is_empty());
    assert_eq!(c.paths.inline.len(), 2);
    assert_eq!(c.paths.inline[0].name, "a.txt");
    assert_eq!(c.paths.inline[0].data, "hello $USER\n");
    assert!(c.paths.inline[0].expand);
    assert_eq!(c.paths.inline[1].data, "echo\n");
    assert!(!c.paths.inline[1].expand);

    let Command::Add(a) =
        one("ADD --checksum=sha256:abc --keep-git-dir --unpack=false https://x/y.tgz /y")
    else {
        panic!("ADD")
    };
    assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
    assert!(a.keep_git_dir);
    assert_eq!(a.unpack, Some(false));
    assert_eq!(a.paths.sources, vec!["https://x/y.tgz"]);

    let Command::Add(a) = one(r#"ADD ["a b", "/c d/"]"#) else {
        panic!("ADD")
    };
    assert!(a.paths.json);
    assert_eq!(a.paths.sources, vec!["a b"]);
    assert_eq!(a.paths.dest, "/c d/");
}

#[test]
fn config_instructions() {
    let Command::Env(e) = one("ENV A=1 B=\"x y\"") else {
        panic!("ENV")
    };
    assert_eq!((e[1].key.as_str(), e[1].value.as_str()), ("B", "\"x y\""));
    let Command::Env(e) = one("ENV PATH /usr/bin:$PATH") else {
        panic!("ENV")
    };
    assert_eq!(
        (e[0].key.as_str(), e[0].value.as_str()),
        ("PATH", "/usr/bin:$PATH")
    );
    let Command::Label(l) = one("LABEL a=b \"c d\"=e") else {
        panic!("LABEL")
    };
    assert_eq!(l.len(), 2);
    let Command::Arg(a) = one("ARG A B=2 C=") else {
        panic!("ARG")
    };
    assert_eq!(a[0].default, None);
    assert_eq!(a[1].default.as_deref(), Some("2"));
    assert_eq!(a[2].default.as_deref(), Some(""));
    assert_eq!(
        one("EXPOSE 8080 443/tcp 80"),
        Command::Expose(vec!["443/tcp".into(), "80".into(), "8080".into()])
    );
    assert_eq!(
        one("VOLUME [\"/a\", \"/b\"]"),
        Command::Volume(vec!["/a".into(), "/b".into()])
    );
    assert_eq!(
        one("VOLUME /a /b"),
        Command::Volume(vec!["/a".into(), "/b".into()])
    );
    assert_eq!(one("USER 1000:1000"), Command::User("1000:1000".into()));
    assert_eq!(one("WORKDIR /srv/app"), Command::Workdir("/srv/app".into()));
    assert_eq!(
        one("STOPSIGNAL SIGTERM"),
        Command::StopSignal("SIGTERM".into())
    );
    assert_eq!(one("MAINTAINER me"), Command::Maintainer("me".into()));
    assert_eq!(
        one("SHELL [\"bash\", \"-eo\", \"pipefail\", \"-c\"]"),
        Command::Shell(vec![
            "bash".into(),
            "-eo".into(),
            "pipefail".into(),
            "-c".into()
        ])
    );
    let Command::Cmd(c) = one("CMD [\"nginx\", \"-g\", \"daemon off;\"]") else {
        panic!("CMD")
    };
    assert!(!c.shell_form);
    let Command::Entrypoint(c) = one("ENTRYPOINT exec app") else {
        panic!("ENTRYPOINT")
    };
    assert!(c.shell_form);
    assert_eq!(c.args, vec!["exec app"]);
    assert_eq!(
        one("ONBUILD  run echo hi"),
        Command::Onbuild("run echo hi".into())
    );
}

#[test]
fn healthchecks() {
    assert_eq!(
        one("HEALTHCHECK NONE"),
        Command::Healthcheck(Healthcheck::None)
    );
    assert_eq!(
        one("HEALTHCHECK --interval=5s --timeout=1m30s --start-period=0s --start-interval=500ms --retries=3 CMD curl -f http://localhost/"),
        Command::Healthcheck(Healthcheck::Check {
            test: vec!["CMD-SHELL".into(), "curl -f http://localhost/".into()],
            interval: Some(Duration::from_secs(5)),
            timeout: Some(Duration::from_secs(90)),
            start_period: None,
            start_interval: Some(Duration::from_millis(500)),
            retries: Some(3),
        })
    );
    let Command::Healthcheck(Healthcheck::Check { test, .. }) =
        one("HEALTHCHECK CMD [\"probe\", \"-q\"]")
    else {
        panic!("HEALTHCHECK")
    };
    assert_eq!(test, vec!["CMD", "probe", "-q"]);
}

#[test]
fn errors_name_file_line_column() {
    let cases: &[(&str, &str)] = &[
        ("FROM a\nRUN x\nFORM b\n", "Dockerfile:3:1: unknown instruction: FORM (did you mean FROM?)"),
        ("FROM a\n  WROKDIR /x\n", "Dockerfile:2:3: unknown instruction: WROKDIR (did you mean WORKDIR?)"),
        ("FROM a\nfrobnicate\n", "Dockerfile:2:1: unknown instruction: frobnicate"),
        ("RUN x\n", "Dockerfile:1:1: no build stage in current context"),
        ("FROM\n", "Dockerfile:1:1: FROM requires either one or three arguments"),
        ("FROM a b\n", "Dockerfile:1:1: FROM requires either one or three arguments"),
        ("FROM a AS 1x\n", "Dockerfile:1:11: invalid name for build stage: \"1x\", name can't start with a number or contain symbols"),
        ("FROM --plat=x a\n", "Dockerfile:1:6: unknown flag: plat (did you mean platform?)"),
        ("FROM a\nRUN --mout=type=cache make\n", "Dockerfile:2:5: unknown flag: mout (did you mean mount?)"),
        ("FROM a\nRUN --network make\n", "Dockerfile:2:5: missing a value on flag: network"),
        ("FROM a\nCOPY --link=maybe a b\n", "Dockerfile:2:6: expecting boolean value for flag link, not: maybe"),
        ("FROM a\nCOPY --from=x --from=y a b\n", "Dockerfile:2:15: duplicate flag specified: from"),
        ("FROM a\nCOPY a\n", "Dockerfile:2:1: COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("FROM a\nADD\n", "Dockerfile:2:1: ADD requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("FROM a\nCOPY a <<EOF\nx\nEOF\n", "Dockerfile:2:1: COPY cannot accept a heredoc as a destination"),
        ("FROM a\nENV\n", "Dockerfile:2:1: ENV requires at least one argument"),
        ("FROM a\nENV =x\n", "Dockerfile:2:1: ENV names can not be blank"),
        ("FROM a\nARG\n", "Dockerfile:2:1: ARG requires at least one argument"),
        ("FROM a\nARG =x\n", "Dockerfile:2:1: ARG names can not be blank"),
        ("FROM a\nUSER\n", "Dockerfile:2:1: USER requires exactly one argument"),
        ("FROM a\nWORKDIR\n", "Dockerfile:2:1: WORKDIR requires exactly one argument"),
        ("FROM a\nEXPOSE\n", "Dockerfile:2:1: EXPOSE requires at least one argument"),
        ("FROM a\nVOLUME [\"\"]\n", "Dockerfile:2:1: VOLUME specified can not be an empty string"),
        ("FROM a\nSHELL bash -c\n", "Dockerfile:2:1: SHELL requires the arguments to be in JSON form: SHELL bash -c"),
        ("FROM a\nSHELL []\n", "Dockerfile:2:1: SHELL requires at least one argument"),
        ("FROM a\nONBUILD\n", "Dockerfile:2:1: ONBUILD requires at least one argument"),
        ("FROM a\nONBUILD ONBUILD RUN x\n", "Dockerfile:2:1: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("FROM a\nONBUILD FROM b\n", "Dockerfile:2:1: FROM isn't allowed as an ONBUILD trigger"),
        ("FROM a\nONBUILD maintainer me\n", "Dockerfile:2:1: MAINTAINER isn't allowed as an ONBUILD trigger"),
        ("FROM a\nHEALTHCHECK\n", "Dockerfile:2:1: HEALTHCHECK requires at least one argument"),
        ("FROM a\nHEALTHCHECK NONE x\n", "Dockerfile:2:1: HEALTHCHECK NONE takes no arguments"),
        ("FROM a\nHEALTHCHECK CMD\n", "Dockerfile:2:1: Missing command after HEALTHCHECK CMD"),
        ("FROM a\nHEALTHCHECK CONNECT TCP 7000\n", "Dockerfile:2:1: Unknown type \"CONNECT\" in HEALTHCHECK (try CMD)"),
        ("FROM a\nHEALTHCHECK --interval=1us CMD x\n", "Dockerfile:2:13: Interval \"interval\" cannot be less than 1ms"),
        ("FROM a\nHEALTHCHECK --timeout=5 CMD x\n", "Dockerfile:2:13: time: missing unit in duration \"5\""),
        ("FROM a\nHEALTHCHECK --retries=-1 CMD x\n", "Dockerfile:2:13: --retries cannot be negative (-1)"),
        ("FROM a\nHEALTHCHECK --bogus=1 CMD x\n", "Dockerfile:2:13: unknown flag: bogus"),
        ("FROM a\nMAINTAINER\n", "Dockerfile:2:1: MAINTAINER requires exactly one argument"),
        ("FROM a\nSTOPSIGNAL\n", "Dockerfile:2:1: STOPSIGNAL requires exactly one argument"),
        ("FROM a\nENV --x=1 A=b\n", "Dockerfile:2:5: unknown flag: x"),
        ("FROM a\nRUN echo \\\n  hi\nRUN <<EOF\n", "Dockerfile:4:1: unterminated heredoc"),
    ];
    for (src, want) in cases {
        assert_eq!(&err(src), want, "for {src:?}");
    }
    // The file name given is the one reported.
    let e = parse("build/app.Dockerfile", "FROM a\nBAD\n").expect_err("fails");
    assert_eq!(
        (e.file.as_str(), e.line, e.column),
        ("build/app.Dockerfile", 2, 1)
    );
}

#[test]
fn spans_cover_continuations_and_heredocs() {
    let d = ok("FROM a\n\nRUN a \\\n  b \\\n  c\nCOPY <<X /x\n1\n2\nX\nCMD z\n");
    let spans: Vec<(usize, usize)> = d.stages[0]
        .instructions
        .iter()
        .map(|i| (i.span.start_line, i.span.end_line))
        .collect();
    assert_eq!(spans, vec![(3, 5), (6, 9), (10, 10)]);
    assert_eq!(d.stages[0].instructions[0].original, "RUN a   b   c");
}

#[test]
fn onbuild_trigger_parses_when_it_fires() {
    let d = ok("FROM a\nONBUILD COPY <<EOF /x\nhi\nEOF\n");
    let Command::Onbuild(expr) = &d.stages[0].instructions[0].command else {
        panic!("ONBUILD")
    };
    assert_eq!(expr, "COPY <<EOF /x\nhi\nEOF");
    let span = d.stages[0].from.span;
    let t = berth_build::parse_trigger("Dockerfile", expr, span).expect("trigger parses");
    let Command::Copy(c) = t.command else {
        panic!("COPY")
    };
    assert_eq!(c.paths.inline[0].data, "hi\n");
}

#[test]
fn long_onbuild_chains_do_not_recurse() {
    let src = format!("FROM a\n{}RUN x\n", "ONBUILD ".repeat(50_000));
    assert_eq!(
        err(&src),
        "Dockerfile:2:1: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
}
