//! `--mount` (docker's `opts.MountOpt`: CSV fields into one HostConfig.Mounts entry, with its
//! checks and error texts) and `-v/--volume` (binds vs anonymous volumes, relative host paths
//! made absolute), so the daemon receives what docker CLI 28 sends.

use super::run::ram_in_bytes;
use anyhow::{anyhow, bail, Result};
use serde_json::{json, Map, Value};

/// One CSV record as Go's encoding/csv reads it: fields split on commas, `"..."` quoting with
/// `""` for a quote.
fn csv_fields(s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            }
            '"' if at_start => quoted = true,
            ',' if !quoted => {
                out.push(std::mem::take(&mut cur));
                at_start = true;
                continue;
            }
            c => cur.push(c),
        }
        at_start = false;
    }
    if quoted {
        bail!(
            "parse error on line 1, column {}: extraneous or missing \" in quoted-field",
            s.len() + 1
        );
    }
    out.push(cur);
    Ok(out)
}

fn parse_bool(key: &str, v: &str) -> Result<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => bail!("invalid value for {key}: {v}"),
    }
}

/// Sets `key=value` (or `key` alone, to "") in a map; an empty key is ignored as docker does.
fn set_on_map(m: &mut Map<String, Value>, v: &str) {
    let (k, val) = v.split_once('=').unwrap_or((v, ""));
    if !k.is_empty() {
        m.insert(k.into(), json!(val));
    }
}

/// A boolean of BindOptions as Go's `omitempty` sends it: present only when true.
fn set_true(m: &mut Map<String, Value>, key: &str, v: bool) {
    if v {
        m.insert(key.into(), json!(true));
    } else {
        m.remove(key);
    }
}

/// A `--mount` value as a HostConfig.Mounts entry; the error is the part docker prints after
/// `invalid argument "..." for "--mount" flag: `.
fn parse_mount_inner(value: &str) -> Result<Value> {
    let mut ty = "volume".to_string();
    let mut m = Map::new();
    let mut volume: Option<Map<String, Value>> = None;
    let mut bind: Option<Map<String, Value>> = None;
    let mut tmpfs: Option<Map<String, Value>> = None;
    fn opts(o: &mut Option<Map<String, Value>>) -> &mut Map<String, Value> {
        o.get_or_insert_with(Map::new)
    }
    for field in csv_fields(value)? {
        // docker CLI 28 lowercases keys (not values).
        let (key, val, has_value) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), v, true),
            None => (field.to_lowercase(), "", false),
        };
        let key = key.as_str();
        if !has_value {
            match key {
                "readonly" | "ro" => {
                    m.insert("ReadOnly".into(), json!(true));
                }
                "volume-nocopy" => {
                    opts(&mut volume).insert("NoCopy".into(), json!(true));
                }
                "bind-nonrecursive" => {
                    opts(&mut bind).insert("NonRecursive".into(), json!(true));
                }
                _ => bail!("invalid field '{field}' must be a key=value pair"),
            }
            continue;
        };
        match key {
            "type" => ty = val.to_lowercase(),
            "source" | "src" => {
                let mut src = val.to_string();
                if val == "." || val.starts_with("./") {
                    if let Ok(cwd) = std::env::current_dir() {
                        src = cwd
                            .join(val)
                            .to_string_lossy()
                            .trim_end_matches("/.")
                            .to_string();
                    }
                }
                m.insert("Source".into(), json!(src));
            }
            "target" | "dst" | "destination" => {
                m.insert("Target".into(), json!(val));
            }
            "readonly" | "ro" => {
                m.insert("ReadOnly".into(), json!(parse_bool(key, val)?));
            }
            "consistency" => {
                m.insert("Consistency".into(), json!(val.to_lowercase()));
            }
            "bind-propagation" => {
                opts(&mut bind).insert("Propagation".into(), json!(val.to_lowercase()));
            }
            "bind-nonrecursive" => {
                let b = parse_bool(key, val)?;
                set_true(opts(&mut bind), "NonRecursive", b);
            }
            "bind-recursive" => match val {
                // Read-only mounts are recursively read-only where the kernel and runtime can.
                "enabled" => {}
                "disabled" => set_true(opts(&mut bind), "NonRecursive", true),
                // Read-only at the top only (Docker 24 and older).
                "writable" => set_true(opts(&mut bind), "ReadOnlyNonRecursive", true),
                // Recursively read-only or an error.
                "readonly" => set_true(opts(&mut bind), "ReadOnlyForceRecursive", true),
                _ => bail!(
                    "invalid value for {key}: {val} (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")"
                ),
            },
            "volume-nocopy" => {
                let b = parse_bool("volume-nocopy", val)?;
                opts(&mut volume).insert("NoCopy".into(), json!(b));
            }
            "volume-label" => {
                let v = opts(&mut volume);
                let labels = v.entry("Labels").or_insert_with(|| json!({}));
                if let Value::Object(l) = labels {
                    set_on_map(l, val);
                }
            }
            "volume-driver" => {
                let v = opts(&mut volume);
                let d = v.entry("DriverConfig").or_insert_with(|| json!({}));
                d["Name"] = json!(val);
            }
            "volume-opt" => {
                let v = opts(&mut volume);
                let d = v.entry("DriverConfig").or_insert_with(|| json!({}));
                if d.get("Options").is_none() {
                    d["Options"] = json!({});
                }
                if let Some(Value::Object(o)) = d.get_mut("Options") {
                    set_on_map(o, val);
                }
            }
            "volume-subpath" => {
                opts(&mut volume).insert("Subpath".into(), json!(val));
            }
            "tmpfs-size" => {
                let n = ram_in_bytes(val).map_err(|_| anyhow!("invalid value for {key}: {val}"))?;
                opts(&mut tmpfs).insert("SizeBytes".into(), json!(n));
            }
            "tmpfs-mode" => {
                let n = u32::from_str_radix(val, 8)
                    .map_err(|_| anyhow!("invalid value for {key}: {val}"))?;
                opts(&mut tmpfs).insert("Mode".into(), json!(n));
            }
            _ => bail!("unexpected key '{key}' in '{field}'"),
        }
    }
    if ty.is_empty() {
        bail!("type is required");
    }
    if !m.contains_key("Target") {
        bail!("target is required");
    }
    for (set, kind, want) in [
        (volume.is_some(), "volume-*", "volume"),
        (bind.is_some(), "bind-*", "bind"),
        (tmpfs.is_some(), "tmpfs-*", "tmpfs"),
    ] {
        if set && ty != want {
            bail!("cannot mix '{kind}' options with mount type '{ty}'");
        }
    }
    if let Some(b) = &bind {
        let read_only = m.get("ReadOnly") == Some(&json!(true));
        if b.contains_key("ReadOnlyNonRecursive") && !read_only {
            bail!("option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction");
        }
        if b.contains_key("ReadOnlyForceRecursive") {
            if !read_only {
                bail!("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction");
            }
            if b.get("Propagation") != Some(&json!("rprivate")) {
                bail!("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction");
            }
        }
    }
    let mut out = Map::new();
    out.insert("Type".into(), json!(ty));
    for k in ["Source", "Target", "ReadOnly", "Consistency"] {
        if let Some(v) = m.remove(k) {
            out.insert(k.into(), v);
        }
    }
    if let Some(b) = bind {
        out.insert("BindOptions".into(), Value::Object(b));
    }
    if let Some(v) = volume {
        out.insert("VolumeOptions".into(), Value::Object(v));
    }
    if let Some(t) = tmpfs {
        out.insert("TmpfsOptions".into(), Value::Object(t));
    }
    Ok(Value::Object(out))
}

/// A `--mount` value as a HostConfig.Mounts entry, or docker's flag error.
pub fn parse_mount(value: &str) -> Result<Value> {
    parse_mount_inner(value)
        .map_err(|e| anyhow!("invalid argument {value:?} for \"--mount\" flag: {e}"))
}

/// `-v` values split as docker does: `SRC:DST[:OPTS]` is a bind or named volume (a relative
/// `./src` made absolute) for HostConfig.Binds; a lone path is an anonymous volume for
/// Config.Volumes.
pub fn volumes(items: &[String]) -> Result<(Vec<String>, Map<String, Value>)> {
    let mut binds = Vec::new();
    let mut anon = Map::new();
    for v in items {
        match v.split_once(':') {
            Some((src, rest)) => {
                if src.is_empty() || rest.is_empty() || rest.starts_with(':') {
                    bail!("invalid spec: {v}: empty section between colons");
                }
                let src = if src.starts_with('.') {
                    std::env::current_dir()
                        .map(|d| {
                            let p = d.join(src);
                            normalize(&p.to_string_lossy())
                        })
                        .unwrap_or_else(|_| src.to_string())
                } else {
                    src.to_string()
                };
                binds.push(format!("{src}:{rest}"));
            }
            None => {
                anon.insert(v.clone(), json!({}));
            }
        }
    }
    Ok((binds, anon))
}

/// Go's `filepath.Clean` for absolute paths: `.` and `..` resolved, slashes squeezed.
fn normalize(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_as_docker_sends_them() {
        assert_eq!(
            parse_mount("type=bind,src=/s,dst=/b2,readonly,bind-propagation=rshared").expect("ok"),
            json!({"Type": "bind", "Source": "/s", "Target": "/b2", "ReadOnly": true,
                   "BindOptions": {"Propagation": "rshared"}})
        );
        assert_eq!(
            parse_mount("type=volume,source=mv2,target=/v2,volume-nocopy,volume-opt=type=tmpfs,volume-driver=local")
                .expect("ok"),
            json!({"Type": "volume", "Source": "mv2", "Target": "/v2",
                   "VolumeOptions": {"NoCopy": true,
                                     "DriverConfig": {"Options": {"type": "tmpfs"}, "Name": "local"}}})
        );
        assert_eq!(
            parse_mount("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770").expect("ok"),
            json!({"Type": "tmpfs", "Target": "/t",
                   "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 1016}})
        );
        assert_eq!(
            parse_mount("dst=/anon").expect("ok"),
            json!({"Type": "volume", "Target": "/anon"})
        );
        for (v, bo) in [
            ("enabled", None),
            ("disabled", Some(json!({"NonRecursive": true}))),
            ("writable", Some(json!({"ReadOnlyNonRecursive": true}))),
        ] {
            let mut want =
                json!({"Type": "bind", "Source": "/s", "Target": "/b", "ReadOnly": true});
            if let Some(bo) = bo {
                want["BindOptions"] = bo;
            }
            assert_eq!(
                parse_mount(&format!("type=bind,src=/s,dst=/b,ro,bind-recursive={v}")).expect(v),
                want
            );
        }
        assert_eq!(
            parse_mount("Type=bind,src=/s,dst=/b,readonly,bind-propagation=rprivate,bind-recursive=readonly")
                .expect("ok"),
            json!({"Type": "bind", "Source": "/s", "Target": "/b", "ReadOnly": true,
                   "BindOptions": {"Propagation": "rprivate", "ReadOnlyForceRecursive": true}})
        );
    }

    #[test]
    fn mount_errors_are_dockers() {
        let e = |s: &str| parse_mount(s).expect_err(s).to_string();
        let flag =
            |s: &str, why: &str| format!("invalid argument \"{s}\" for \"--mount\" flag: {why}");
        for (s, why) in [
            ("dst=/x,bogus=1", "unexpected key 'bogus' in 'bogus=1'"),
            ("type=volume", "target is required"),
            (
                "type=bind,src=/tmp,dst=/x,readonly=maybe",
                "invalid value for readonly: maybe",
            ),
            (
                "type=tmpfs,dst=/x,tmpfs-size=abc",
                "invalid value for tmpfs-size: abc",
            ),
            (
                "type=tmpfs,dst=/x,tmpfs-mode=999",
                "invalid value for tmpfs-mode: 999",
            ),
            (
                "type=bind,src=/tmp,dst=/x,volume-nocopy",
                "cannot mix 'volume-*' options with mount type 'bind'",
            ),
            (
                "type=volume,dst=/x,bind-propagation=rshared",
                "cannot mix 'bind-*' options with mount type 'volume'",
            ),
            ("=x", "unexpected key '' in '=x'"),
            ("type", "invalid field 'type' must be a key=value pair"),
            (
                "type=bind,src=/tmp,dst=/x,bind-recursive=writable",
                "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction",
            ),
            (
                "type=bind,src=/tmp,dst=/x,bind-recursive=readonly",
                "option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction",
            ),
            (
                "type=bind,src=/tmp,dst=/x,ro,bind-recursive=readonly",
                "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction",
            ),
            (
                "type=bind,src=/tmp,dst=/x,ro,bind-recursive=true",
                "invalid value for bind-recursive: true (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")",
            ),
            (
                "type=volume,dst=/x,bind-recursive=disabled",
                "cannot mix 'bind-*' options with mount type 'volume'",
            ),
        ] {
            assert_eq!(e(s), flag(s, why));
        }
    }

    #[test]
    fn volume_flags_split_binds_from_anonymous_volumes() {
        let (b, a) =
            volumes(&["/data".into(), "mv:/mv:ro".into(), "/h:/b:rw,z".into()]).expect("ok");
        assert_eq!(b, ["mv:/mv:ro", "/h:/b:rw,z"]);
        assert_eq!(Value::Object(a), json!({"/data": {}}));
        assert_eq!(normalize("/a/./b/../c"), "/a/c");
    }
}
