//! Output as docker prints it: `--format` Go-template basics evaluated over JSON values, the
//! `table` prefix with docker's tabwriter settings (min width 10, padding 3), `--format json`,
//! and go-units' human sizes and durations. Written by hand: a Go-template crate would bring a
//! whole language for the handful of forms docker users type.

use anyhow::{anyhow, bail, Result};
use serde_json::{Map, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One parsed piece of a template.
#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Vec<Vec<Token>>),
}

/// A command argument: `.A.B`, `.`, a function name, a string or a number.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Path(Vec<String>),
    Ident(String),
    Str(String),
    Num(i64),
}

/// A compiled Go-style template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

impl Template {
    /// Parses `{{...}}` actions (with `{{-`/`-}}` trimming and `|` pipelines) around text.
    pub fn parse(src: &str) -> Result<Template> {
        let mut nodes = Vec::new();
        let mut rest = src;
        while let Some(start) = rest.find("{{") {
            let mut text = rest[..start].to_string();
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| anyhow!("template parsing error: unclosed action in {src:?}"))?;
            let mut inner = &after[..end];
            if let Some(s) = inner.strip_prefix('-') {
                if s.starts_with(char::is_whitespace) {
                    text = text.trim_end().to_string();
                    inner = s;
                }
            }
            let mut trim_right = false;
            if let Some(s) = inner.strip_suffix('-') {
                if s.ends_with(char::is_whitespace) {
                    trim_right = true;
                    inner = s;
                }
            }
            if !text.is_empty() {
                nodes.push(Node::Text(text));
            }
            let inner = inner.trim();
            if !inner.starts_with("/*") {
                nodes.push(Node::Action(parse_pipeline(inner)?));
            }
            rest = &after[end + 2..];
            if trim_right {
                rest = rest.trim_start();
            }
        }
        if !rest.is_empty() {
            nodes.push(Node::Text(rest.to_string()));
        }
        Ok(Template { nodes })
    }

    pub fn render(&self, data: &Value) -> Result<String> {
        let mut out = String::new();
        for n in &self.nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(cmds) => {
                    let mut prev: Option<Value> = None;
                    for cmd in cmds {
                        prev = Some(eval_command(cmd, data, prev)?);
                    }
                    if let Some(v) = prev {
                        out.push_str(&go_print(&v));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The field names of plain `{{.Field}}` actions, in order (for table headers).
    fn fields(&self) -> Vec<Option<String>> {
        self.nodes
            .iter()
            .filter_map(|n| match n {
                Node::Action(cmds) => Some(cmds.first().and_then(|c| match c.as_slice() {
                    [Token::Path(p)] if p.len() == 1 => Some(p[0].clone()),
                    _ => None,
                })),
                Node::Text(_) => None,
            })
            .collect()
    }

    /// The header line: each `{{.Field}}` replaced by its docker header, other text kept.
    fn header(&self, headers: &dyn Fn(&str) -> String) -> String {
        let mut out = String::new();
        let mut fields = self.fields().into_iter();
        for n in &self.nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(_) => {
                    if let Some(Some(f)) = fields.next() {
                        out.push_str(&headers(&f));
                    }
                }
            }
        }
        out
    }
}

fn parse_pipeline(s: &str) -> Result<Vec<Vec<Token>>> {
    let mut cmds = Vec::new();
    let mut cur = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '|' {
            cmds.push(std::mem::take(&mut cur));
            i += 1;
        } else if c == '"' || c == '`' {
            let mut j = i + 1;
            let mut lit = String::new();
            while j < chars.len() && chars[j] != c {
                if chars[j] == '\\' && c == '"' && j + 1 < chars.len() {
                    j += 1;
                    lit.push(match chars[j] {
                        'n' => '\n',
                        't' => '\t',
                        o => o,
                    });
                } else {
                    lit.push(chars[j]);
                }
                j += 1;
            }
            if j >= chars.len() {
                bail!("template parsing error: unterminated string in {s:?}");
            }
            cur.push(Token::Str(lit));
            i = j + 1;
        } else {
            let mut j = i;
            while j < chars.len() && !chars[j].is_whitespace() && chars[j] != '|' {
                j += 1;
            }
            let word: String = chars[i..j].iter().collect();
            if word == "." {
                cur.push(Token::Path(Vec::new()));
            } else if let Some(p) = word.strip_prefix('.') {
                cur.push(Token::Path(p.split('.').map(String::from).collect()));
            } else if let Ok(n) = word.parse::<i64>() {
                cur.push(Token::Num(n));
            } else if word.chars().all(|c| c.is_alphanumeric() || c == '_') {
                cur.push(Token::Ident(word));
            } else {
                bail!("template parsing error: unexpected {word:?} in {s:?}");
            }
            i = j;
        }
    }
    cmds.push(cur);
    if cmds.iter().any(Vec::is_empty) {
        bail!("template parsing error: missing value for command in {s:?}");
    }
    Ok(cmds)
}

fn lookup(data: &Value, path: &[String]) -> Value {
    let mut v = data;
    for p in path {
        match v.get(p) {
            Some(x) => v = x,
            None => return Value::String("<no value>".into()),
        }
    }
    v.clone()
}

fn arg_value(t: &Token, data: &Value) -> Result<Value> {
    Ok(match t {
        Token::Path(p) => lookup(data, p),
        Token::Str(s) => Value::String(s.clone()),
        Token::Num(n) => Value::from(*n),
        Token::Ident(f) => call(f, &[])?,
    })
}

fn eval_command(cmd: &[Token], data: &Value, prev: Option<Value>) -> Result<Value> {
    match &cmd[0] {
        Token::Ident(f) => {
            let mut args = cmd[1..]
                .iter()
                .map(|t| arg_value(t, data))
                .collect::<Result<Vec<_>>>()?;
            if let Some(p) = prev {
                args.push(p);
            }
            call(f, &args)
        }
        t if cmd.len() == 1 && prev.is_none() => arg_value(t, data),
        _ => bail!("template: can't give argument to non-function {:?}", cmd[0]),
    }
}

fn text(v: &Value) -> String {
    go_print(v)
}

fn call(f: &str, args: &[Value]) -> Result<Value> {
    let want = |n: usize| -> Result<()> {
        if args.len() != n {
            bail!(
                "template: wrong number of args for {f}: want {n} got {}",
                args.len()
            );
        }
        Ok(())
    };
    Ok(match f {
        "json" => {
            want(1)?;
            Value::String(go_json(&args[0]))
        }
        "upper" => {
            want(1)?;
            Value::String(text(&args[0]).to_uppercase())
        }
        "lower" => {
            want(1)?;
            Value::String(text(&args[0]).to_lowercase())
        }
        "title" => {
            want(1)?;
            let s = text(&args[0]);
            let mut c = s.chars();
            Value::String(match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            })
        }
        "len" => {
            want(1)?;
            Value::from(match &args[0] {
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                v => text(v).len(),
            })
        }
        "join" => {
            want(2)?;
            let sep = text(&args[1]);
            match &args[0] {
                Value::Array(a) => Value::String(a.iter().map(text).collect::<Vec<_>>().join(&sep)),
                v => Value::String(text(v)),
            }
        }
        "split" => {
            want(2)?;
            Value::Array(
                text(&args[0])
                    .split(&text(&args[1]))
                    .map(|s| Value::String(s.into()))
                    .collect(),
            )
        }
        "truncate" => {
            want(2)?;
            let n = args[1].as_u64().unwrap_or(0) as usize;
            Value::String(text(&args[0]).chars().take(n).collect())
        }
        "println" => Value::String(args.iter().map(text).collect::<Vec<_>>().join(" ") + "\n"),
        "print" => Value::String(args.iter().map(text).collect::<String>()),
        "index" => {
            if args.is_empty() {
                bail!("template: index of nothing");
            }
            let mut v = args[0].clone();
            for k in &args[1..] {
                v = match (&v, k) {
                    (Value::Object(o), k) => o.get(&text(k)).cloned().unwrap_or(Value::Null),
                    (Value::Array(a), Value::Number(n)) => n
                        .as_u64()
                        .and_then(|i| a.get(i as usize).cloned())
                        .ok_or_else(|| anyhow!("template: index out of range: {n}"))?,
                    _ => bail!("template: can't index item of type {}", kind(&v)),
                };
            }
            v
        }
        _ => bail!("template: function {f:?} not defined"),
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
    }
}

/// JSON as Go's encoder writes it: HTML characters escaped (they only occur inside strings).
pub fn go_json(v: &Value) -> String {
    serde_json::to_string(v)
        .expect("a serde_json::Value always serializes")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Re-indents JSON text keeping its key order (docker inspect prints the daemon's objects as
/// they came): `indent` per level, Go's HTML escapes.
pub fn indent_json(raw: &str, indent: &str, base: usize) -> String {
    let mut out = String::with_capacity(raw.len() * 2);
    let mut level = base;
    let mut in_str = false;
    let mut escaped = false;
    let chars: Vec<char> = raw.chars().collect();
    let newline = |out: &mut String, level: usize| {
        out.push('\n');
        for _ in 0..level {
            out.push_str(indent);
        }
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if in_str {
            match c {
                '<' => out.push_str("\\u003c"),
                '>' => out.push_str("\\u003e"),
                '&' => out.push_str("\\u0026"),
                _ => out.push(c),
            }
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                // Empty containers stay on one line, as Go prints them.
                let close = if c == '{' { '}' } else { ']' };
                let mut j = i + 1;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                if j < chars.len() && chars[j] == close {
                    out.push(c);
                    out.push(close);
                    i = j;
                } else {
                    out.push(c);
                    level += 1;
                    newline(&mut out, level);
                }
            }
            '}' | ']' => {
                level = level.saturating_sub(1);
                newline(&mut out, level);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, level);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// Go's `%v` of a decoded JSON value: maps as `map[k:v]` with sorted keys, slices as `[a b]`.
pub fn go_print(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_print).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_print(&o[*k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// Aligns tab-separated cells as Go's tabwriter with docker's settings (minwidth 10, padding 3):
/// every cell ended by a tab is padded to its column's width; the last cell of a line is not.
pub fn tabwrite(text: &str) -> String {
    tabwrite_min(text, 10)
}

/// [`tabwrite`] with another minimum cell width (docker top uses 20).
pub fn tabwrite_min(text: &str, min: usize) -> String {
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let ncols = lines.iter().map(|l| l.len()).max().unwrap_or(0);
    let mut widths = vec![0usize; ncols];
    for l in &lines {
        for (j, c) in l.iter().enumerate().take(l.len().saturating_sub(1)) {
            widths[j] = widths[j].max((c.chars().count() + 3).max(min));
        }
    }
    let mut out = String::new();
    for l in &lines {
        for (j, c) in l.iter().enumerate() {
            out.push_str(c);
            if j + 1 < l.len() {
                out.push_str(&" ".repeat(widths[j] - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

/// How rows are printed: docker's default table, a user's `table ...` or plain template, or
/// `json` (one object per line).
pub struct Formatter {
    template: Template,
    table: bool,
    headers: fn(&str) -> String,
}

impl Formatter {
    /// `user`: the `--format` value, if any; `default_table`: the verb's default (`table ...`).
    pub fn new(
        user: Option<&str>,
        default_table: &str,
        headers: fn(&str) -> String,
    ) -> Result<Formatter> {
        let raw = match user {
            None | Some("") | Some("table") => default_table.to_string(),
            Some("json") => "{{json .}}".to_string(),
            Some(f) => f.to_string(),
        };
        let (table, body) = match raw.strip_prefix("table") {
            Some(rest) => (true, rest.trim_matches(' ').to_string()),
            None => (false, raw.clone()),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        Ok(Formatter {
            template: Template::parse(&body)?,
            table,
            headers,
        })
    }

    /// All rows, rendered (with a header and alignment for tables), each ending in a newline.
    pub fn render(&self, rows: &[Value]) -> Result<String> {
        let mut out = String::new();
        if self.table {
            out.push_str(&self.template.header(&self.headers));
            out.push('\n');
        }
        for r in rows {
            out.push_str(&self.template.render(r)?);
            out.push('\n');
        }
        Ok(if self.table { tabwrite(&out) } else { out })
    }
}

/// Docker's header names for the formatter fields used by ps, images, stats and friends.
pub fn header(field: &str) -> String {
    match field {
        "ID" => "CONTAINER ID",
        "Names" => "NAMES",
        "Image" => "IMAGE",
        "Command" => "COMMAND",
        "CreatedAt" => "CREATED AT",
        "RunningFor" | "CreatedSince" => "CREATED",
        "Status" => "STATUS",
        "State" => "STATE",
        "Ports" => "PORTS",
        "Size" => "SIZE",
        "Labels" => "LABELS",
        "Mounts" => "MOUNTS",
        "Networks" => "NETWORKS",
        "LocalVolumes" => "LOCAL VOLUMES",
        "Repository" => "REPOSITORY",
        "Tag" => "TAG",
        "Digest" => "DIGEST",
        "Containers" => "CONTAINERS",
        "SharedSize" => "SHARED SIZE",
        "UniqueSize" => "UNIQUE SIZE",
        "VirtualSize" => "VIRTUAL SIZE",
        "CreatedBy" => "CREATED BY",
        "Comment" => "COMMENT",
        "Name" => "NAME",
        "CPUPerc" => "CPU %",
        "MemUsage" => "MEM USAGE / LIMIT",
        "MemPerc" => "MEM %",
        "NetIO" => "NET I/O",
        "BlockIO" => "BLOCK I/O",
        "PIDs" => "PIDS",
        "Container" => "CONTAINER",
        "Type" => "TYPE",
        "TotalCount" => "TOTAL",
        "Active" => "ACTIVE",
        "Reclaimable" => "RECLAIMABLE",
        other => return other.to_uppercase(),
    }
    .to_string()
}

/// Image ids are shown as the first 12 hex digits, without `sha256:`.
/// A labels map as "k=v,k2=v2" with the keys sorted (docker joins them in map order, which is
/// random), for the Labels column of ps, network ls and volume ls.
pub fn joined_labels(v: &Value) -> String {
    let mut l: Vec<String> = v
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    l.sort();
    l.join(",")
}

pub fn short_id(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(12).collect()
}

/// Go's `%.*g`: `prec` significant digits, trailing zeros dropped, exponent form when large.
pub fn go_g(v: f64, prec: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let s = format!("{:.*e}", prec.saturating_sub(1), v);
    let (mant, exp) = s.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is a number");
    if exp < -4 || exp >= prec as i32 {
        let mant = strip_zeros(mant);
        return format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    let decimals = (prec as i32 - 1 - exp).max(0) as usize;
    strip_zeros(&format!("{v:.decimals$}"))
}

fn strip_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// go-units `HumanSizeWithPrecision`: decimal units (kB, MB...).
pub fn human_size_prec(size: f64, prec: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let (mut s, mut i) = (size, 0);
    while s >= 1000.0 && i < UNITS.len() - 1 {
        s /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g(s, prec), UNITS[i])
}

/// go-units `HumanSize` (4 significant digits).
pub fn human_size(size: f64) -> String {
    human_size_prec(size, 4)
}

/// go-units `BytesSize`: binary units (KiB, MiB...), 4 significant digits.
pub fn bytes_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let (mut s, mut i) = (size, 0);
    while s >= 1024.0 && i < UNITS.len() - 1 {
        s /= 1024.0;
        i += 1;
    }
    format!("{}{}", go_g(s, 4), UNITS[i])
}

/// go-units `HumanDuration`: the daemon's `ps` status line uses the same function.
pub use berth_engine::containers::inspect::human_duration;

/// "N minutes ago" for a unix time in seconds.
pub fn ago(unix: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    format!(
        "{} ago",
        human_duration(Duration::from_secs((now - unix).max(0) as u64))
    )
}

/// Docker's `CreatedAt` form: `2024-01-02 15:04:05 +0000 UTC`.
pub fn created_at(unix: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64);
    let s = humantime::format_rfc3339_seconds(t).to_string();
    format!(
        "{} +0000 UTC",
        s.trim_end_matches('Z').replacen('T', " ", 1)
    )
}

/// Go's `time.Time.String()` of an RFC 3339 UTC time from the daemon:
/// `2024-01-02T15:04:05.123Z` -> `2024-01-02 15:04:05.123 +0000 UTC` (trailing zeros of the
/// fraction dropped, as Go's `.999999999` layout does). Other offsets are shown as given.
pub fn go_time(rfc3339: &str) -> String {
    let Some(t) = rfc3339.strip_suffix('Z') else {
        return rfc3339.replacen('T', " ", 1);
    };
    let (secs, frac) = t.split_once('.').unwrap_or((t, ""));
    let frac = frac.trim_end_matches('0');
    let dot = if frac.is_empty() { "" } else { "." };
    format!("{}{dot}{frac} +0000 UTC", secs.replacen('T', " ", 1))
}

/// `sortorder.NaturalLess` as an ordering: runs of digits compare as numbers, the rest byte by
/// byte (docker sorts network, volume and port listings with it).
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let (si, sj) = (i, j);
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let (x, y) = (&a[si..i], &b[sj..j]);
            let tx = &x[x.iter().take_while(|c| **c == b'0').count()..];
            let ty = &y[y.iter().take_while(|c| **c == b'0').count()..];
            let o = tx
                .len()
                .cmp(&ty.len())
                .then(tx.cmp(ty))
                .then(x.len().cmp(&y.len()));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

/// Docker's `stringutils.Ellipsis`: at most `max` characters, the last one `…` when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Builds a row object from (field, value) pairs.
pub fn row(pairs: Vec<(&str, Value)>) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert(k.to_string(), v);
    }
    Value::Object(m)
}

/// Go's `strconv.Quote` for the printable ASCII docker commands hold.
pub fn go_quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_paths_and_functions() {
        let v = json!({"State": {"Status": "running", "Pid": 42}, "Name": "/web",
                       "Config": {"Labels": {"a": "b"}}, "Args": ["x", "y"]});
        let t = |s: &str| {
            Template::parse(s)
                .expect("parses")
                .render(&v)
                .expect("renders")
        };
        assert_eq!(t("{{.State.Status}}"), "running");
        assert_eq!(t("{{.State.Pid}} {{.Name}}"), "42 /web");
        assert_eq!(t("{{json .Config.Labels}}"), r#"{"a":"b"}"#);
        assert_eq!(t("{{index .Config.Labels \"a\"}}"), "b");
        assert_eq!(t("{{.Args}}"), "[x y]");
        assert_eq!(t("{{.Config.Labels}}"), "map[a:b]");
        assert_eq!(t("{{join .Args \",\"}}"), "x,y");
        assert_eq!(t("{{.State.Status | upper}}"), "RUNNING");
        assert_eq!(t("{{.Nope}}"), "<no value>");
        assert_eq!(t("a {{- .Name -}} b"), "a/webb");
        assert!(Template::parse("{{.A").is_err());
        assert!(Template::parse("{{nosuch .A}}")
            .expect("parses")
            .render(&v)
            .is_err());
    }

    #[test]
    fn json_is_reindented_in_order() {
        assert_eq!(
            indent_json(r#"{"b":1,"a":[],"c":{"x":"<y>"}}"#, "  ", 0),
            "{\n  \"b\": 1,\n  \"a\": [],\n  \"c\": {\n    \"x\": \"\\u003cy\\u003e\"\n  }\n}"
        );
    }

    #[test]
    fn tables_align_like_go_tabwriter() {
        let f =
            Formatter::new(None, "table {{.ID}}\t{{.Image}}\t{{.Names}}", header).expect("parses");
        let out = f
            .render(&[json!({"ID": "0123456789ab", "Image": "busybox", "Names": "x"})])
            .expect("renders");
        assert_eq!(
            out,
            "CONTAINER ID   IMAGE     NAMES\n0123456789ab   busybox   x\n"
        );
    }

    #[test]
    fn sizes_and_durations_as_go_units() {
        assert_eq!(human_size_prec(1_983_000.0, 3), "1.98MB");
        assert_eq!(human_size_prec(0.0, 3), "0B");
        assert_eq!(human_size_prec(123_456.0, 3), "123kB");
        assert_eq!(human_size(2_000_000.0), "2MB");
        assert_eq!(bytes_size(1024.0 * 1024.0 * 1.5), "1.5MiB");
        assert_eq!(go_g(1000.0, 3), "1e+03");
        assert_eq!(human_duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(5)), "5 seconds");
        assert_eq!(created_at(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(ellipsis("abcdef", 4), "abc…");
    }

    #[test]
    fn go_times_and_natural_order() {
        assert_eq!(
            go_time("2026-11-23T06:16:27.355230470Z"),
            "2026-11-23 06:16:27.35523047 +0000 UTC"
        );
        assert_eq!(
            go_time("2026-11-23T06:17:20Z"),
            "2026-11-23 06:17:20 +0000 UTC"
        );
        let mut v = vec!["n10", "n9", "a", "n1", "80/tcp", "9000/udp"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["80/tcp", "9000/udp", "a", "n1", "n9", "n10"]);
    }
}
