//! `ps`: the container summaries, with Docker's filters.

use super::{ContainerRecord, Status};
use crate::error::{Error, Result};
use crate::Engine;
use serde_json::{json, Value};
use std::collections::HashMap;

/// What `ps` asks for.
#[derive(Debug, Default, Clone)]
pub struct ListOptions {
    pub all: bool,
    pub limit: Option<usize>,
    pub size: bool,
    pub filters: HashMap<String, Vec<String>>,
}

const FILTERS: &[&str] = &[
    "id", "name", "label", "status", "exited", "ancestor", "before", "since", "health", "is-task",
    "network", "volume", "publish", "expose",
];

impl Engine {
    /// The containers `ps` shows, newest first.
    pub fn container_list(&self, opts: &ListOptions) -> Result<Vec<Value>> {
        for k in opts.filters.keys() {
            if !FILTERS.contains(&k.as_str()) {
                return Err(Error::InvalidArgument(format!("invalid filter '{k}'")));
            }
        }
        if let Some(st) = opts.filters.get("status") {
            for s in st {
                if ![
                    "created",
                    "restarting",
                    "running",
                    "removing",
                    "paused",
                    "exited",
                    "dead",
                ]
                .contains(&s.as_str())
                {
                    return Err(Error::InvalidArgument(format!(
                        "invalid filter 'status={s}'"
                    )));
                }
            }
        }
        let mut recs: Vec<ContainerRecord> =
            self.containers.all().iter().map(|c| c.record()).collect();
        recs.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
        let created_of =
            |key: &str| -> Result<String> { Ok(self.containers.find(key)?.record().created) };
        let before = opts
            .filters
            .get("before")
            .and_then(|v| v.first())
            .map(|k| created_of(k))
            .transpose()?;
        let since = opts
            .filters
            .get("since")
            .and_then(|v| v.first())
            .map(|k| created_of(k))
            .transpose()?;
        // Filters that ask about stopped containers imply --all, as in Docker.
        let implied_all = opts.all
            || opts.filters.contains_key("exited")
            || opts
                .filters
                .get("status")
                .is_some_and(|s| s.iter().any(|x| x != "running" && x != "paused"));
        let now = std::time::SystemTime::now();
        let mut out = Vec::new();
        for r in recs {
            if !implied_all && !r.state.status.is_live() && r.state.status != Status::Restarting {
                continue;
            }
            if let Some(b) = &before {
                if r.created >= *b {
                    continue;
                }
            }
            if let Some(s) = &since {
                if r.created <= *s {
                    continue;
                }
            }
            if !matches_filters(&r, &opts.filters) {
                continue;
            }
            if !self.matches_network_filters(&r, &opts.filters) {
                continue;
            }
            let mut v = summary(&r, now);
            v["Ports"] = crate::networks::container_view::ps_ports(&r);
            v["NetworkSettings"] = json!({"Networks": self.networks_json(&r)});
            if opts.size {
                let rw = self.images.snapshots().usage(&r.snapshot).unwrap_or(0) as i64;
                v["SizeRw"] = json!(rw);
                v["SizeRootFs"] = json!(rw);
            }
            out.push(v);
            if opts.limit.is_some_and(|l| l > 0 && out.len() >= l) {
                break;
            }
        }
        Ok(out)
    }
}

impl Engine {
    /// Docker's `network` (name or id), `publish` and `expose` (PORT[/PROTO], or a range)
    /// filters.
    fn matches_network_filters(
        &self,
        r: &ContainerRecord,
        f: &HashMap<String, Vec<String>>,
    ) -> bool {
        if let Some(nets) = f.get("network") {
            let ok = nets.iter().any(|n| {
                let found = self.networks.lock().find(n).map(|x| x.id.clone());
                found.is_ok_and(|id| r.networks.find(&id).is_some())
            });
            if !ok {
                return false;
            }
        }
        let port_match = |spec: &str, port: u16, proto: &str| -> bool {
            let (ports, want_proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
            let (lo, hi) = match ports.split_once('-') {
                Some((a, b)) => (a.parse().unwrap_or(1), b.parse().unwrap_or(0)),
                None => {
                    let p = ports.parse().unwrap_or(0);
                    (p, p)
                }
            };
            want_proto == proto && (lo..=hi).contains(&port)
        };
        if let Some(specs) = f.get("publish") {
            let ok = specs.iter().any(|s| {
                r.networks
                    .ports
                    .iter()
                    .any(|p| port_match(s, p.host_port, p.proto.as_str()))
            });
            if !ok {
                return false;
            }
        }
        if let Some(specs) = f.get("expose") {
            let exposed = r.config.exposed_ports.clone().unwrap_or_default();
            let ok = specs.iter().any(|s| {
                exposed.iter().any(|e| {
                    crate::networks::ports::parse_port_key(e)
                        .is_ok_and(|(port, proto)| port_match(s, port, proto.as_str()))
                })
            });
            if !ok {
                return false;
            }
        }
        true
    }
}

fn matches_filters(r: &ContainerRecord, f: &HashMap<String, Vec<String>>) -> bool {
    let labels = r.config.labels.clone().unwrap_or_default();
    for (k, values) in f {
        let ok = match k.as_str() {
            "id" => values.iter().any(|v| r.id.starts_with(v.as_str())),
            "name" => values
                .iter()
                .any(|v| r.name.contains(v.trim_start_matches('/'))),
            "label" => values.iter().all(|v| match v.split_once('=') {
                Some((k, want)) => labels.get(k).is_some_and(|x| x == want),
                None => labels.contains_key(v.as_str()),
            }),
            "status" => values.iter().any(|v| v == r.state.status.as_str()),
            "exited" => {
                r.state.status == Status::Exited
                    && values
                        .iter()
                        .any(|v| v.parse::<i64>().ok() == Some(r.state.exit_code))
            }
            "ancestor" => values.iter().any(|v| {
                r.config.image.as_deref() == Some(v.as_str())
                    || r.image == *v
                    || r.image
                        .trim_start_matches("sha256:")
                        .starts_with(v.as_str())
                    || r.config.image.as_deref().map(|i| format!("{i}:latest")) == Some(v.clone())
                    || (!v.contains(':')
                        && r.config.image.as_deref() == Some(&format!("{v}:latest")))
            }),
            "health" => values.iter().any(|v| {
                let h = r
                    .state
                    .health
                    .as_ref()
                    .and_then(|h| h.status)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "none".into());
                *v == h
            }),
            "is-task" => values.iter().all(|v| v == "false"),
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    true
}

fn summary(r: &ContainerRecord, now: std::time::SystemTime) -> Value {
    let command = std::iter::once(r.path.clone())
        .chain(r.args.iter().map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.clone()
            }
        }))
        .collect::<Vec<_>>()
        .join(" ");
    let network_mode = r
        .host_config
        .network_mode
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "bridge".into());
    json!({
        "Id": r.id,
        "Names": [format!("/{}", r.name)],
        "Image": r.config.image.clone().unwrap_or_default(),
        "ImageID": r.image,
        "Command": command,
        "Created": crate::util::unix_seconds(&r.created),
        "Labels": r.config.labels.clone().unwrap_or_default(),
        "State": r.state.status.as_str(),
        "Status": super::inspect::status_line(r, now),
        "HostConfig": {"NetworkMode": network_mode},
        "Mounts": [],
    })
}
