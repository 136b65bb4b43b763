//! `network inspect` and `network ls`, in Docker's JSON shape.

use super::record::NetworkRecord;
use crate::error::{Error, Result};
use crate::Engine;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

const FILTERS: &[&str] = &["driver", "id", "label", "name", "scope", "type", "dangling"];

impl Engine {
    /// One network as `GET /networks/{id}` shows it, with its running containers.
    pub fn network_inspect(&self, key: &str) -> Result<Value> {
        let r = self.networks.lock().find(key)?.clone();
        Ok(self.network_json(&r, true))
    }

    /// The networks `GET /networks` lists, filtered as Docker filters them.
    pub fn network_list(&self, filters: &HashMap<String, Vec<String>>) -> Result<Vec<Value>> {
        for k in filters.keys() {
            if !FILTERS.contains(&k.as_str()) {
                return Err(Error::InvalidArgument(format!("invalid filter '{k}'")));
            }
        }
        if let Some(types) = filters.get("type") {
            for t in types {
                if t != "custom" && t != "builtin" {
                    return Err(Error::InvalidArgument(format!(
                        "invalid filter: 'type'='{t}'"
                    )));
                }
            }
        }
        let records: Vec<NetworkRecord> = self.networks.lock().records.values().cloned().collect();
        let used = self.networks_in_use();
        let mut out: Vec<(String, Value)> = Vec::new();
        for r in records {
            if !matches(&r, filters, used.contains(&r.id))? {
                continue;
            }
            out.push((r.name.clone(), self.network_json(&r, false)));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out.into_iter().map(|(_, v)| v).collect())
    }

    /// Ids of networks some container (running or not) is attached to.
    fn networks_in_use(&self) -> std::collections::HashSet<String> {
        self.containers
            .all()
            .iter()
            .flat_map(|c| {
                c.record()
                    .networks
                    .attachments
                    .into_iter()
                    .map(|a| a.network_id)
            })
            .collect()
    }

    fn network_json(&self, r: &NetworkRecord, with_containers: bool) -> Value {
        let mut containers = Map::new();
        if with_containers {
            for c in self.containers.all() {
                let rec = c.record();
                let Some(a) = rec.networks.find(&r.id) else {
                    continue;
                };
                let Some(live) = &a.live else { continue };
                containers.insert(
                    rec.id.clone(),
                    json!({
                        "Name": rec.name,
                        "EndpointID": live.endpoint_id,
                        "MacAddress": live.mac,
                        "IPv4Address": live.address.to_string(),
                        "IPv6Address": "",
                    }),
                );
            }
        }
        let config: Vec<Value> = r
            .subnets
            .iter()
            .map(|s| {
                let mut c =
                    json!({"Subnet": s.subnet.to_string(), "Gateway": s.gateway.to_string()});
                if let Some(range) = s.ip_range {
                    c["IPRange"] = json!(range.to_string());
                }
                c
            })
            .collect();
        json!({
            "Name": r.name,
            "Id": r.id,
            "Created": r.created,
            "Scope": "local",
            "Driver": r.driver,
            "EnableIPv6": r.enable_ipv6,
            "IPAM": {
                "Driver": "default",
                "Options": r.ipam_options,
                "Config": config,
            },
            "Internal": r.internal,
            "Attachable": r.attachable,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": containers,
            "Options": r.options,
            "Labels": r.labels,
        })
    }
}

fn matches(r: &NetworkRecord, f: &HashMap<String, Vec<String>>, used: bool) -> Result<bool> {
    let any = |key: &str, pred: &dyn Fn(&str) -> bool| -> bool {
        f.get(key)
            .map(|vs| vs.is_empty() || vs.iter().any(|v| pred(v)))
            .unwrap_or(true)
    };
    if let Some(d) = f.get("dangling") {
        for v in d {
            let want = match v.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(Error::InvalidArgument(format!(
                        "invalid filter 'dangling={v}'"
                    )))
                }
            };
            // Docker never lists the predefined networks as dangling.
            let dangling = !used && !r.predefined;
            if dangling != want {
                return Ok(false);
            }
        }
    }
    let label_ok = f.get("label").is_none_or(|ls| {
        ls.iter().all(|l| match l.split_once('=') {
            Some((k, v)) => r.labels.get(k).is_some_and(|x| x == v),
            None => r.labels.contains_key(l),
        })
    });
    Ok(label_ok
        && any("driver", &|v| r.driver == v)
        && any("id", &|v| r.id.starts_with(v))
        && any("name", &|v| r.name.contains(v))
        && any("scope", &|v| v == "local")
        && any("type", &|v| (v == "builtin") == r.predefined))
}
