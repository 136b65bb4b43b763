//! container prune: removes every container that is not running, optionally only those
//! created before `until` or matching `label` / `label!` filters, as dockerd does.

use crate::error::{Error, Result};
use crate::Engine;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub deleted: Vec<String>,
    /// Bytes of the removed containers' writable layers.
    pub space_reclaimed: u64,
}

impl Engine {
    /// Removes the stopped containers that pass `filters` (Docker's `until`, `label`,
    /// `label!`); publishes `prune` with the reclaimed bytes.
    pub async fn container_prune(&self, filters: &HashMap<String, Vec<String>>) -> Result<Pruned> {
        let f = PruneFilter::parse(filters, SystemTime::now())?;
        let mut out = Pruned::default();
        for c in self.containers.all() {
            let rec = c.record();
            if rec.state.status.is_live()
                || matches!(
                    rec.state.status,
                    crate::containers::Status::Restarting | crate::containers::Status::Removing
                )
            {
                continue;
            }
            let created = crate::util::parse_rfc3339(&rec.created);
            let labels = rec.config.labels.clone().unwrap_or_default();
            if !f.matches(created, &labels) {
                continue;
            }
            let size = self.images.snapshots().usage(&rec.snapshot).unwrap_or(0);
            match self.container_remove(&rec.id, false, false).await {
                Ok(()) => {
                    out.deleted.push(rec.id.clone());
                    out.space_reclaimed += size;
                }
                // Started or removed by someone else meanwhile: not ours to report.
                Err(e) => tracing::warn!(container = %rec.id, error = %e, "prune: not removed"),
            }
        }
        let mut attrs = HashMap::new();
        attrs.insert("reclaimed".to_string(), out.space_reclaimed.to_string());
        self.events.publish(
            bollard_stubs::models::EventMessageTypeEnum::CONTAINER,
            "prune",
            "",
            attrs,
        );
        Ok(out)
    }
}

/// Parsed prune filters.
#[derive(Debug, Default)]
pub(crate) struct PruneFilter {
    until: Option<SystemTime>,
    label: Vec<String>,
    not_label: Vec<String>,
}

impl PruneFilter {
    pub(crate) fn parse(
        filters: &HashMap<String, Vec<String>>,
        now: SystemTime,
    ) -> Result<PruneFilter> {
        let mut f = PruneFilter::default();
        for (k, values) in filters {
            match k.as_str() {
                "until" => {
                    if values.len() > 1 {
                        return Err(Error::InvalidArgument(
                            "more than one until filter specified".into(),
                        ));
                    }
                    if let Some(v) = values.first() {
                        f.until = Some(parse_until(v, now)?);
                    }
                }
                "label" => f.label.extend(values.iter().cloned()),
                "label!" => f.not_label.extend(values.iter().cloned()),
                other => return Err(Error::InvalidArgument(format!("Invalid filter '{other}'"))),
            }
        }
        Ok(f)
    }

    pub(crate) fn matches(
        &self,
        created: Option<SystemTime>,
        labels: &HashMap<String, String>,
    ) -> bool {
        if let Some(until) = self.until {
            match created {
                Some(c) if c < until => {}
                _ => return false,
            }
        }
        let has = |want: &str| match want.split_once('=') {
            Some((k, v)) => labels.get(k).map(|x| x == v).unwrap_or(false),
            None => labels.contains_key(want),
        };
        self.label.iter().all(|l| has(l)) && !self.not_label.iter().any(|l| has(l))
    }
}

/// Docker's timestamps: a Go duration before now ("10m", "24h"), Unix seconds (with optional
/// fraction), or an RFC 3339 date or date-time.
fn parse_until(v: &str, now: SystemTime) -> Result<SystemTime> {
    let bad = || {
        Error::InvalidArgument(format!(
            "invalid filter 'until={v}': not a timestamp or duration"
        ))
    };
    if let Ok(d) = humantime::parse_duration(v) {
        return now.checked_sub(d).ok_or_else(bad);
    }
    if let Ok(secs) = v.parse::<f64>() {
        if secs >= 0.0 {
            return Ok(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs));
        }
    }
    if let Some(t) = crate::util::parse_rfc3339(v) {
        return Ok(t);
    }
    if v.len() == 10 {
        if let Some(t) = crate::util::parse_rfc3339(&format!("{v}T00:00:00Z")) {
            return Ok(t);
        }
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(pairs: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            m.entry(k.to_string()).or_default().push(v.to_string());
        }
        m
    }

    #[test]
    fn until_and_labels() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let f = PruneFilter::parse(&filters(&[("until", "1h"), ("label", "env=test")]), now)
            .expect("parse");
        let labels: HashMap<String, String> = [("env".to_string(), "test".to_string())]
            .into_iter()
            .collect();
        let old = Some(now - Duration::from_secs(7200));
        let new = Some(now - Duration::from_secs(60));
        assert!(f.matches(old, &labels));
        assert!(!f.matches(new, &labels));
        assert!(!f.matches(old, &HashMap::new()));
        let f = PruneFilter::parse(&filters(&[("label!", "keep")]), now).expect("parse");
        let keep: HashMap<String, String> =
            [("keep".to_string(), String::new())].into_iter().collect();
        assert!(!f.matches(new, &keep));
        assert!(f.matches(new, &labels));
    }

    #[test]
    fn until_forms_and_bad_filters() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_until("1600000000", now).expect("unix"),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000)
        );
        assert!(parse_until("2023-11-14T22:13:20Z", now).is_ok());
        assert!(parse_until("2023-11-14", now).is_ok());
        assert!(parse_until("yesterday-ish", now).is_err());
        let e = PruneFilter::parse(&filters(&[("status", "exited")]), now).expect_err("bad key");
        assert_eq!(e.to_string(), "Invalid filter 'status'");
    }
}
