//! The typed instructions, built from the logical lines as BuildKit's
//! `instructions/parse.go`: argument counts, flags, forms and BuildKit's error messages.
//! Arguments are kept as written (quotes and variables included) where BuildKit expands them
//! later ([`crate::lex::expands_variables`]); the executor expands them with the stage's
//! variables.

use std::time::Duration;

use crate::error::{ParseError, Span};
use crate::flags::{Flags, Kind};
use crate::heredoc::{parse_heredoc, Heredoc};
use crate::parser::{column_of, Args, Node};

/// One instruction, where it is, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// What it does.
    pub command: Command,
    /// Its lines (continuations and heredoc bodies included) and column.
    pub span: Span,
    /// The logical line as written, continuations joined: the text history's `created_by`
    /// derives from.
    pub original: String,
}

/// A key and its value (ENV, LABEL), both as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// An ARG declaration: a name and an optional default, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

/// A command line of RUN, CMD, ENTRYPOINT: exec form (JSON array) or shell form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// The JSON array's strings (exec form), or the whole text as one string (shell form).
    pub args: Vec<String>,
    /// Shell form: run through the stage's SHELL (`/bin/sh -c` by default).
    pub shell_form: bool,
    /// Heredocs opened on the line (RUN only), in order.
    pub heredocs: Vec<Heredoc>,
}

/// A `--mount=` of RUN, split into its comma-separated fields (`type=cache,target=/x,ro`);
/// a field without `=` (`ro`, `readonly`) has no value. Validated by the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountFlag {
    pub raw: String,
    pub fields: Vec<(String, Option<String>)>,
}

/// RUN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub cmdline: CommandLine,
    pub mounts: Vec<MountFlag>,
    /// `--network=default|none|host`, as written.
    pub network: Option<String>,
    /// `--security=sandbox|insecure`, as written.
    pub security: Option<String>,
    /// `--device=`, as written.
    pub devices: Vec<String>,
    /// The flags given, for cache keys and diagnostics.
    pub flags_used: Vec<String>,
}

/// A heredoc used as a source of COPY/ADD: a file named `name` holding `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineSource {
    pub name: String,
    /// The body (tabs already stripped for `<<-`).
    pub data: String,
    /// Variables in `data` are expanded (the delimiter was not quoted).
    pub expand: bool,
}

/// Sources and destination of COPY and ADD, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcesAndDest {
    pub sources: Vec<String>,
    pub inline: Vec<InlineSource>,
    pub dest: String,
    /// The JSON form was used (no heredocs, spaces in paths).
    pub json: bool,
}

/// COPY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub paths: SourcesAndDest,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
}

/// ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    pub paths: SourcesAndDest,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub keep_git_dir: bool,
    pub checksum: Option<String>,
    pub exclude: Vec<String>,
    /// `--unpack=true|false`; `None`: auto (local archives are unpacked, URLs are not).
    pub unpack: Option<bool>,
}

/// FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// The image, stage name or `scratch`, as written (may hold `${ARG}`s).
    pub image: String,
    /// `AS name`, lower-cased as BuildKit does.
    pub name: Option<String>,
    /// `--platform=`, as written.
    pub platform: Option<String>,
}

/// HEALTHCHECK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disables any inherited check (config `Test: ["NONE"]`).
    None,
    Check {
        /// `["CMD", args...]` (exec form) or `["CMD-SHELL", command]`, as docker stores it.
        test: Vec<String>,
        interval: Option<Duration>,
        timeout: Option<Duration>,
        start_period: Option<Duration>,
        start_interval: Option<Duration>,
        retries: Option<i32>,
    },
}

/// What an instruction does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    From(Base),
    Run(Run),
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    Label(Vec<KeyValue>),
    Maintainer(String),
    /// Ports as written, sorted as BuildKit sorts them.
    Expose(Vec<String>),
    Env(Vec<KeyValue>),
    Add(Add),
    Copy(Copy),
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    Arg(Vec<ArgDecl>),
    /// The trigger's text (ONBUILD removed), stored in the image and parsed when it fires.
    Onbuild(String),
    StopSignal(String),
    Healthcheck(Healthcheck),
    /// The JSON array of SHELL.
    Shell(Vec<String>),
}

impl Command {
    /// The keyword, upper-case.
    pub fn keyword(&self) -> &'static str {
        match self {
            Command::From(_) => "FROM",
            Command::Run(_) => "RUN",
            Command::Cmd(_) => "CMD",
            Command::Entrypoint(_) => "ENTRYPOINT",
            Command::Label(_) => "LABEL",
            Command::Maintainer(_) => "MAINTAINER",
            Command::Expose(_) => "EXPOSE",
            Command::Env(_) => "ENV",
            Command::Add(_) => "ADD",
            Command::Copy(_) => "COPY",
            Command::Volume(_) => "VOLUME",
            Command::User(_) => "USER",
            Command::Workdir(_) => "WORKDIR",
            Command::Arg(_) => "ARG",
            Command::Onbuild(_) => "ONBUILD",
            Command::StopSignal(_) => "STOPSIGNAL",
            Command::Healthcheck(_) => "HEALTHCHECK",
            Command::Shell(_) => "SHELL",
        }
    }
}

/// Every keyword, upper-case.
pub const INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// An error on `node`; the message, and optionally the flag or token to point the column at.
struct Fail(String, Option<String>);

impl From<String> for Fail {
    fn from(m: String) -> Self {
        Fail(m, None)
    }
}

impl From<&str> for Fail {
    fn from(m: &str) -> Self {
        Fail(m.to_owned(), None)
    }
}

/// Types one logical line.
pub(crate) fn typed(file: &str, node: &Node) -> Result<Instruction, ParseError> {
    command(node)
        .map(|command| Instruction {
            command,
            span: node.span,
            original: node.original.clone(),
        })
        .map_err(|Fail(message, token)| {
            let column = match token {
                Some(t) if node.first_line.contains(&t) => column_of(&node.first_line, &t),
                _ => node.span.column,
            };
            node.span.error_at(file, column, message)
        })
}

fn list(node: &Node) -> &[String] {
    match &node.args {
        Args::List(v) => v,
        _ => &[],
    }
}

fn flags<'a>(node: &'a Node, declared: &[(&'static str, Kind)]) -> Result<Flags<'a>, Fail> {
    let mut f = Flags::new(&node.flags);
    for (n, k) in declared {
        f = f.declare(n, *k);
    }
    f.parse().map_err(|(m, arg)| Fail(m, Some(arg)))?;
    Ok(f)
}

fn no_flags(node: &Node) -> Result<(), Fail> {
    flags(node, &[]).map(|_| ())
}

fn exactly_one(node: &Node, kw: &str) -> Result<String, Fail> {
    match list(node) {
        [one] => {
            no_flags(node)?;
            Ok(one.clone())
        }
        _ => Err(format!("{kw} requires exactly one argument").into()),
    }
}

fn cmdline(node: &Node) -> CommandLine {
    let args = list(node).to_vec();
    CommandLine {
        args,
        shell_form: !node.json,
        heredocs: node.heredocs.clone(),
    }
}

fn pairs(node: &Node, kw: &str) -> Result<Vec<KeyValue>, Fail> {
    no_flags(node)?;
    let pairs = match &node.args {
        Args::Pairs(p) => p.as_slice(),
        _ => &[],
    };
    if pairs.is_empty() {
        return Err(format!("{kw} requires at least one argument").into());
    }
    pairs
        .iter()
        .map(|(k, v)| {
            if k.is_empty() {
                Err(format!("{kw} names can not be blank").into())
            } else {
                Ok(KeyValue {
                    key: k.clone(),
                    value: v.clone(),
                })
            }
        })
        .collect()
}

fn command(node: &Node) -> Result<Command, Fail> {
    let kw = node.keyword.to_ascii_lowercase();
    Ok(match kw.as_str() {
        "from" => Command::From(parse_from(node)?),
        "run" => Command::Run(parse_run(node)?),
        "cmd" => {
            no_flags(node)?;
            Command::Cmd(cmdline(node))
        }
        "entrypoint" => {
            no_flags(node)?;
            Command::Entrypoint(cmdline(node))
        }
        "env" => Command::Env(pairs(node, "ENV")?),
        "label" => Command::Label(pairs(node, "LABEL")?),
        "maintainer" => Command::Maintainer(exactly_one(node, "MAINTAINER")?),
        "user" => Command::User(exactly_one(node, "USER")?),
        "workdir" => Command::Workdir(exactly_one(node, "WORKDIR")?),
        "stopsignal" => Command::StopSignal(exactly_one(node, "STOPSIGNAL")?),
        "expose" => {
            let mut ports = list(node).to_vec();
            if ports.is_empty() {
                return Err("EXPOSE requires at least one argument".into());
            }
            no_flags(node)?;
            ports.sort();
            Command::Expose(ports)
        }
        "volume" => {
            if list(node).is_empty() {
                return Err("VOLUME requires at least one argument".into());
            }
            no_flags(node)?;
            let mut vols = Vec::new();
            for v in list(node) {
                let v = v.trim();
                if v.is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                vols.push(v.to_owned());
            }
            Command::Volume(vols)
        }
        "arg" => {
            if list(node).is_empty() {
                return Err("ARG requires at least one argument".into());
            }
            let mut decls = Vec::new();
            for a in list(node) {
                decls.push(match a.split_once('=') {
                    Some(("", _)) => return Err("ARG names can not be blank".into()),
                    Some((k, v)) => ArgDecl {
                        name: k.to_owned(),
                        default: Some(v.to_owned()),
                    },
                    None => ArgDecl {
                        name: a.clone(),
                        default: None,
                    },
                });
            }
            Command::Arg(decls)
        }
        "shell" => {
            no_flags(node)?;
            let args = list(node);
            if args.is_empty() {
                return Err("SHELL requires at least one argument".into());
            }
            if !node.json {
                return Err(format!(
                    "SHELL requires the arguments to be in JSON form: {}",
                    node.original
                )
                .into());
            }
            Command::Shell(args.to_vec())
        }
        "add" => Command::Add(parse_add(node)?),
        "copy" => Command::Copy(parse_copy(node)?),
        "onbuild" => Command::Onbuild(parse_onbuild(node)?),
        "healthcheck" => Command::Healthcheck(parse_healthcheck(node)?),
        _ => {
            let mut msg = format!("unknown instruction: {}", node.keyword);
            if let Some(s) = crate::suggest(&node.keyword.to_ascii_uppercase(), INSTRUCTIONS) {
                msg.push_str(&format!(" (did you mean {s}?)"));
            }
            return Err(msg.into());
        }
    })
}

fn parse_from(node: &Node) -> Result<Base, Fail> {
    let args = list(node);
    let name = match args {
        [_, as_, name] if as_.eq_ignore_ascii_case("as") => {
            let lower = name.to_ascii_lowercase();
            if !valid_stage_name(&lower) {
                return Err(Fail(
                    format!(
                        "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                    ),
                    Some(name.clone()),
                ));
            }
            Some(lower)
        }
        [_] => None,
        _ => return Err("FROM requires either one or three arguments".into()),
    };
    let f = flags(node, &[("platform", Kind::String)])?;
    Ok(Base {
        image: args[0].clone(),
        name,
        platform: f.string("platform"),
    })
}

/// `^[a-z][a-z0-9-_.]*$`
fn valid_stage_name(n: &str) -> bool {
    let mut c = n.chars();
    c.next().is_some_and(|f| f.is_ascii_lowercase())
        && c.all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "-_.".contains(ch))
}

fn parse_run(node: &Node) -> Result<Run, Fail> {
    let f = flags(
        node,
        &[
            ("mount", Kind::Strings),
            ("network", Kind::String),
            ("security", Kind::String),
            ("device", Kind::Strings),
        ],
    )?;
    let mounts = f
        .strings("mount")
        .into_iter()
        .map(|raw| {
            let fields = csv_fields(&raw)
                .into_iter()
                .map(|fl| match fl.split_once('=') {
                    Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                    None => (fl, None),
                })
                .collect();
            MountFlag { raw, fields }
        })
        .collect();
    Ok(Run {
        cmdline: cmdline(node),
        mounts,
        network: f.string("network"),
        security: f.string("security"),
        devices: f.strings("device"),
        flags_used: f.used(),
    })
}

/// The fields of a CSV record (`a,"b,c",d`), as BuildKit reads `--mount` with encoding/csv.
fn csv_fields(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn sources_and_dest(node: &Node, kw: &str) -> Result<SourcesAndDest, Fail> {
    let args = list(node);
    let Some((dest, srcs)) = args.split_last() else {
        return Err(no_destination(kw));
    };
    if srcs.is_empty() {
        return Err(no_destination(kw));
    }
    if !node.json && parse_heredoc(dest).is_some() {
        return Err(format!("{kw} cannot accept a heredoc as a destination").into());
    }
    let mut sources = Vec::new();
    let mut inline = Vec::new();
    for src in srcs {
        match parse_heredoc(src).filter(|_| !node.json) {
            Some(h) => {
                let body = node
                    .heredocs
                    .iter()
                    .find(|d| d.name == h.name)
                    .map(Heredoc::body)
                    .unwrap_or_default();
                inline.push(InlineSource {
                    name: h.name,
                    data: body,
                    expand: h.expand,
                });
            }
            None => sources.push(src.clone()),
        }
    }
    Ok(SourcesAndDest {
        sources,
        inline,
        dest: dest.clone(),
        json: node.json,
    })
}

fn no_destination(kw: &str) -> Fail {
    format!(
        "{kw} requires at least two arguments, but only one was provided. Destination could not be determined"
    )
    .into()
}

fn parse_copy(node: &Node) -> Result<Copy, Fail> {
    if list(node).len() < 2 {
        return Err(no_destination("COPY"));
    }
    let f = flags(
        node,
        &[
            ("chown", Kind::String),
            ("from", Kind::String),
            ("chmod", Kind::String),
            ("link", Kind::Bool),
            ("parents", Kind::Bool),
            ("exclude", Kind::Strings),
        ],
    )?;
    Ok(Copy {
        paths: sources_and_dest(node, "COPY")?,
        from: f.string("from"),
        chown: f.string("chown"),
        chmod: f.string("chmod"),
        link: f.bool("link"),
        parents: f.bool("parents"),
        exclude: f.strings("exclude"),
    })
}

fn parse_add(node: &Node) -> Result<Add, Fail> {
    if list(node).len() < 2 {
        return Err(no_destination("ADD"));
    }
    let f = flags(
        node,
        &[
            ("chown", Kind::String),
            ("chmod", Kind::String),
            ("link", Kind::Bool),
            ("keep-git-dir", Kind::Bool),
            ("checksum", Kind::String),
            ("exclude", Kind::Strings),
            ("unpack", Kind::Bool),
        ],
    )?;
    Ok(Add {
        paths: sources_and_dest(node, "ADD")?,
        chown: f.string("chown"),
        chmod: f.string("chmod"),
        link: f.bool("link"),
        keep_git_dir: f.bool("keep-git-dir"),
        checksum: f.string("checksum"),
        exclude: f.strings("exclude"),
        unpack: f.string("unpack").map(|v| v == "true"),
    })
}

fn parse_onbuild(node: &Node) -> Result<String, Fail> {
    let Args::Sub(sub) = &node.args else {
        return Err("ONBUILD requires at least one argument".into());
    };
    no_flags(node)?;
    let trigger = sub.keyword.to_ascii_uppercase();
    match trigger.as_str() {
        "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
        "MAINTAINER" | "FROM" => {
            return Err(format!("{trigger} isn't allowed as an ONBUILD trigger").into())
        }
        _ => {}
    }
    // (?i)^\s*ONBUILD\s*
    let o = node.original.trim_start();
    let mut expr = match o.get(..7) {
        Some(k) if k.eq_ignore_ascii_case("onbuild") => o[7..].trim_start().to_owned(),
        _ => o.to_owned(),
    };
    for h in &node.heredocs {
        expr.push('\n');
        expr.push_str(&h.content);
        expr.push_str(&h.name);
    }
    Ok(expr)
}

fn parse_healthcheck(node: &Node) -> Result<Healthcheck, Fail> {
    let args = list(node);
    let Some((typ, rest)) = args.split_first() else {
        return Err("HEALTHCHECK requires at least one argument".into());
    };
    let typ = typ.to_ascii_uppercase();
    if typ == "NONE" {
        if !rest.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Healthcheck::None);
    }
    let f = flags(
        node,
        &[
            ("interval", Kind::String),
            ("timeout", Kind::String),
            ("start-period", Kind::String),
            ("start-interval", Kind::String),
            ("retries", Kind::String),
        ],
    )?;
    if typ != "CMD" {
        return Err(format!("Unknown type {typ:?} in HEALTHCHECK (try CMD)").into());
    }
    if rest.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let mut test = vec![if node.json { "CMD" } else { "CMD-SHELL" }.to_owned()];
    test.extend(rest.iter().cloned());
    let interval = |name: &str| -> Result<Option<Duration>, Fail> {
        let Some(v) = f.string(name).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let d = parse_go_duration(&v).map_err(|m| Fail(m, Some(format!("--{name}"))))?;
        match d {
            (_, d) if d.is_zero() => Ok(None),
            (neg, d) if neg || d < Duration::from_millis(1) => Err(Fail(
                format!("Interval {name:?} cannot be less than 1ms"),
                Some(format!("--{name}")),
            )),
            (_, d) => Ok(Some(d)),
        }
    };
    let retries = match f.string("retries").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => {
            let n: i32 = v.parse().map_err(|_| {
                Fail(
                    format!("strconv.ParseInt: parsing {v:?}: invalid syntax"),
                    Some("--retries".to_owned()),
                )
            })?;
            if n < 0 {
                return Err(Fail(
                    format!("--retries cannot be negative ({n})"),
                    Some("--retries".to_owned()),
                ));
            }
            Some(n)
        }
    };
    Ok(Healthcheck::Check {
        test,
        interval: interval("interval")?,
        timeout: interval("timeout")?,
        start_period: interval("start-period")?,
        start_interval: interval("start-interval")?,
        retries,
    })
}

/// Go's `time.ParseDuration` (`1h2m3.5s`, `300ms`, `-1s`...): whether it is negative, and
/// its magnitude.
pub fn parse_go_duration(s: &str) -> Result<(bool, Duration), String> {
    let bad = || format!("time: invalid duration {s:?}");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok((false, Duration::ZERO));
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(bad());
        }
        let value: f64 = num.parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            u => return Err(format!("time: unknown unit {u:?} in duration {s:?}")),
        };
        total += value * nanos;
        rest = &rest[unit_end..];
    }
    if total > 9.2e18 {
        return Err(bad());
    }
    Ok((neg && total > 0.0, Duration::from_nanos(total as u64)))
}
