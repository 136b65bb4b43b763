//! The event bus behind `/events` and `berth events`: every state change is published to live
//! subscribers and kept in a bounded history so `--since` can replay recent events.

use bollard_stubs::models::{
    EventActor, EventMessage, EventMessageScopeEnum, EventMessageTypeEnum,
};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::broadcast;

const HISTORY: usize = 1024;

/// Publishes events and keeps the recent ones.
#[derive(Debug)]
pub struct EventBus {
    tx: broadcast::Sender<EventMessage>,
    history: Mutex<VecDeque<EventMessage>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            tx: broadcast::channel(HISTORY).0,
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
        }
    }
}

impl EventBus {
    /// Publishes one event of `typ` with `action` about the object `id`, with attributes.
    pub fn publish(
        &self,
        typ: EventMessageTypeEnum,
        action: &str,
        id: &str,
        attributes: HashMap<String, String>,
    ) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let msg = EventMessage {
            typ: Some(typ),
            action: Some(action.to_string()),
            actor: Some(EventActor {
                id: Some(id.to_string()),
                attributes: Some(attributes),
            }),
            scope: Some(EventMessageScopeEnum::LOCAL),
            time: Some(now.as_secs() as i64),
            time_nano: Some(now.as_nanos() as i64),
        };
        {
            let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back(msg.clone());
        }
        let _ = self.tx.send(msg);
    }

    /// The events kept so far and a receiver for the ones after them. Taken under the history
    /// lock so no event falls between the two.
    pub fn subscribe(&self) -> (Vec<EventMessage>, broadcast::Receiver<EventMessage>) {
        let h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.tx.subscribe();
        (h.iter().cloned().collect(), rx)
    }
}

/// Docker's event filters (`type`, `event`/`action`, `container`, `image`, `label`), as
/// `key -> values`; values of one key are ORed, keys are ANDed.
#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    pub filters: HashMap<String, Vec<String>>,
}

impl EventFilter {
    /// Whether `e` passes the filter.
    pub fn matches(&self, e: &EventMessage) -> bool {
        let typ = e.typ.map(|t| t.to_string()).unwrap_or_default();
        let action = e.action.clone().unwrap_or_default();
        // "exec_start: sh" matches the filter "exec_start".
        let action_base = action.split(':').next().unwrap_or("").to_string();
        let id = e
            .actor
            .as_ref()
            .and_then(|a| a.id.clone())
            .unwrap_or_default();
        let attrs = e
            .actor
            .as_ref()
            .and_then(|a| a.attributes.clone())
            .unwrap_or_default();
        let name = attrs.get("name").cloned().unwrap_or_default();
        for (key, values) in &self.filters {
            let ok = match key.as_str() {
                "type" => values.contains(&typ),
                "event" | "action" => values.iter().any(|v| *v == action || *v == action_base),
                "container" => {
                    typ == "container"
                        && values
                            .iter()
                            .any(|v| *v == name || (!v.is_empty() && id.starts_with(v.as_str())))
                }
                "image" => values.iter().any(|v| {
                    attrs.get("image").map(|i| i == v).unwrap_or(false)
                        || (typ == "image" && (id == *v || name == *v))
                }),
                "label" => values.iter().all(|v| match v.split_once('=') {
                    Some((k, want)) => attrs.get(k).map(|x| x == want).unwrap_or(false),
                    None => attrs.contains_key(v.as_str()),
                }),
                "scope" => values.iter().any(|v| v == "local"),
                _ => true,
            };
            if !ok {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_history() {
        let bus = EventBus::default();
        let mut attrs = HashMap::new();
        attrs.insert("name".to_string(), "web".to_string());
        attrs.insert("image".to_string(), "busybox".to_string());
        bus.publish(EventMessageTypeEnum::CONTAINER, "start", "abc123", attrs);
        bus.publish(
            EventMessageTypeEnum::IMAGE,
            "pull",
            "busybox:latest",
            HashMap::new(),
        );
        let (hist, _rx) = bus.subscribe();
        assert_eq!(hist.len(), 2);
        let mut f = EventFilter::default();
        f.filters.insert("container".into(), vec!["web".into()]);
        assert!(f.matches(&hist[0]));
        assert!(!f.matches(&hist[1]));
        f.filters.insert("event".into(), vec!["die".into()]);
        assert!(!f.matches(&hist[0]));
        let mut t = EventFilter::default();
        t.filters.insert("type".into(), vec!["image".into()]);
        assert!(t.matches(&hist[1]) && !t.matches(&hist[0]));
    }
}
