//! Outbound events (SPEC section 7), built once: the body is serialised to JSON text
//! when the event is made, stored in the outbox from that text and published as it;
//! what the daemon needs to know about an event (its id, lead, kind) is carried typed
//! beside the text, never read back out of it.
use super::decisions::Via;
use super::placement::PlacementRef;
use crate::routing::{LeadStatus, RoutingDecision};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use uuid::Uuid;

pub const ROUTING_KEY_ALERT_UNASSIGNED: &str = "lead.alert.unassigned";
pub const ROUTING_KEY_ASSIGNEES_CHANGED: &str = "lead.assignees_changed";

/// One event, as written to and relayed from the outbox.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    /// Unique; consumers dedupe on it (the AMQP `message_id`).
    pub event_id: Uuid,
    pub lead_id: String,
    pub kind: EventKind,
    /// The JSON body, serialised once.
    body: Box<RawValue>,
}

/// What an event announces; it names the routing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// `lead.assigned`, `lead.queued`, `lead.unassigned`: the lead's owner state changed.
    LeadChange(LeadStatus),
    /// `lead.assignees_changed`: assignees added or removed; the owner state stays.
    AssigneesChanged,
    /// `lead.alert.unassigned`: ownerless too long, since then.
    UnassignedAlert { unassigned_since: DateTime<Utc> },
    /// Read back from the outbox with a routing key this version does not write (an
    /// event of a newer instance, during an upgrade): relayed as stored.
    Other { routing_key: String },
    // Next: `lead.offered`, `lead.offer_ended`.
}

impl EventKind {
    pub fn routing_key(&self) -> &str {
        match self {
            Self::LeadChange(status) => routing_key_for(*status),
            Self::AssigneesChanged => ROUTING_KEY_ASSIGNEES_CHANGED,
            Self::UnassignedAlert { .. } => ROUTING_KEY_ALERT_UNASSIGNED,
            Self::Other { routing_key } => routing_key,
        }
    }

    /// The kind of an event read back from the outbox: its routing key, and for an
    /// alert the body's `unassigned_since` (RFC 3339).
    pub(super) fn stored(routing_key: String, unassigned_since: Option<&str>) -> EventKind {
        let key = routing_key.as_str();
        for status in [
            LeadStatus::Assigned,
            LeadStatus::Queued,
            LeadStatus::Unassigned,
        ] {
            if key == routing_key_for(status) {
                return Self::LeadChange(status);
            }
        }
        if key == ROUTING_KEY_ASSIGNEES_CHANGED {
            return Self::AssigneesChanged;
        }
        let since = unassigned_since.and_then(|s| DateTime::parse_from_rfc3339(s).ok());
        match since {
            Some(since) if key == ROUTING_KEY_ALERT_UNASSIGNED => Self::UnassignedAlert {
                unassigned_since: since.with_timezone(&Utc),
            },
            _ => Self::Other { routing_key },
        }
    }
}

/// The routing key for a lead reaching `status`: `lead.assigned` / `lead.queued` / `lead.unassigned`.
pub fn routing_key_for(status: LeadStatus) -> &'static str {
    match status {
        LeadStatus::Assigned => "lead.assigned",
        LeadStatus::Queued => "lead.queued",
        LeadStatus::Unassigned => "lead.unassigned",
    }
}

impl OutboxEvent {
    /// The event for any change of a lead: of its owner state (router, reassign, claim,
    /// offboard: `lead.assigned` / `lead.queued` / `lead.unassigned`), or of its
    /// assignees only (`lead.assignees_changed`, with `added` and `removed`).
    pub(super) fn lead_change(change: &LeadEvent<'_>) -> OutboxEvent {
        let event_id = Uuid::new_v4();
        let to = change.to;
        let kind = match change.assignees_changed {
            Some(_) => EventKind::AssigneesChanged,
            None => EventKind::LeadChange(to.status),
        };
        let delta = change.assignees_changed;
        let body = json_text(&LeadEventBody {
            event: kind.routing_key(),
            event_id,
            lead_id: change.lead_id,
            status: to.status,
            owner_id: to.owner_id,
            queue: to.queue,
            pool: to.pool,
            rule: to.rule,
            at: rfc3339(change.at),
            actor: change.actor,
            via: change.via.as_str(),
            assignees: change.assignees,
            added: delta.map(|d| d.added),
            removed: delta.map(|d| d.removed),
            previous_owner_id: change.previous_owner_id,
            note: change.note,
            bulk_id: change.bulk_id,
            unassigned_since: None,
        });
        OutboxEvent {
            event_id,
            lead_id: change.lead_id.to_owned(),
            kind,
            body,
        }
    }

    /// The event for a router decision.
    pub fn for_decision(
        lead_id: &str,
        decision: &RoutingDecision,
        at: DateTime<Utc>,
        actor: &str,
    ) -> OutboxEvent {
        Self::lead_change(&LeadEvent {
            lead_id,
            to: decision.into(),
            at,
            actor,
            via: Via::Route,
            assignees: &decision.assignees,
            assignees_changed: None,
            previous_owner_id: None,
            note: None,
            bulk_id: None,
        })
    }

    /// `lead.alert.unassigned`: raised by the sweeper (actor `sweeper`).
    pub(super) fn unassigned_alert(alert: &UnassignedAlert<'_>) -> OutboxEvent {
        let event_id = Uuid::new_v4();
        let waiting = alert.waiting;
        let body = json_text(&LeadEventBody {
            event: ROUTING_KEY_ALERT_UNASSIGNED,
            event_id,
            lead_id: alert.lead_id,
            status: waiting.status,
            owner_id: None,
            queue: waiting.queue,
            pool: waiting.pool,
            rule: waiting.rule,
            at: rfc3339(alert.at),
            actor: "sweeper",
            via: alert.via,
            assignees: alert.assignees,
            added: None,
            removed: None,
            previous_owner_id: None,
            note: None,
            bulk_id: None,
            unassigned_since: Some(rfc3339(alert.unassigned_since)),
        });
        OutboxEvent {
            event_id,
            lead_id: alert.lead_id.to_owned(),
            kind: EventKind::UnassignedAlert {
                unassigned_since: alert.unassigned_since,
            },
            body,
        }
    }

    /// An event read back from the outbox, its body as stored.
    pub(super) fn stored(
        event_id: Uuid,
        lead_id: String,
        kind: EventKind,
        body: Box<RawValue>,
    ) -> OutboxEvent {
        OutboxEvent {
            event_id,
            lead_id,
            kind,
            body,
        }
    }

    pub fn routing_key(&self) -> &str {
        self.kind.routing_key()
    }

    /// The body: JSON text, as stored and published.
    pub fn body(&self) -> &str {
        self.body.get()
    }

    pub(super) fn body_json(&self) -> &RawValue {
        &self.body
    }

    /// The body's bytes, to publish (no copy).
    pub fn into_body(self) -> Vec<u8> {
        Box::<str>::from(self.body).into_boxed_bytes().into_vec()
    }
}

/// A change of a lead, as announced by its event: the one shape every lead event is
/// built from.
#[derive(Debug, Clone, Copy)]
pub(super) struct LeadEvent<'a> {
    pub lead_id: &'a str,
    /// Where the change put it (where it stays, for an assignees change).
    pub to: PlacementRef<'a>,
    pub at: DateTime<Utc>,
    /// `router`, or who made the change.
    pub actor: &'a str,
    pub via: Via,
    /// The lead's assignees after the change.
    pub assignees: &'a [String],
    /// Set for a change of the assignees only (`lead.assignees_changed`).
    pub assignees_changed: Option<AssigneesDelta<'a>>,
    /// Set on manual changes of an owned lead; omitted from the body when `None`.
    pub previous_owner_id: Option<&'a str>,
    /// A manual change's note; omitted from the body when `None`.
    pub note: Option<&'a str>,
    /// The bulk pass the change belongs to; omitted when `None`.
    pub bulk_id: Option<Uuid>,
}

/// Who an assignees change added and removed.
#[derive(Debug, Clone, Copy)]
pub(super) struct AssigneesDelta<'a> {
    pub added: &'a [String],
    pub removed: &'a [String],
}

/// A lead that has been ownerless too long.
#[derive(Debug, Clone, Copy)]
pub(super) struct UnassignedAlert<'a> {
    pub lead_id: &'a str,
    /// Where it waits (queued or unassigned).
    pub waiting: PlacementRef<'a>,
    /// How it came to wait there (the `via` of the change that put it there).
    pub via: &'a str,
    /// Its assignees now (who may act on it with the queue's people).
    pub assignees: &'a [String],
    pub unassigned_since: DateTime<Utc>,
    /// When the alert was raised.
    pub at: DateTime<Utc>,
}

/// The body's shape. `owner_id`, `queue`, `pool` and `rule` are always present (null
/// when unset) so consumers need no "missing vs null" logic; the optional extras are
/// omitted where they do not apply.
#[derive(Serialize)]
struct LeadEventBody<'a> {
    /// The routing key again, for consumers that store bodies without it.
    event: &'a str,
    event_id: Uuid,
    lead_id: &'a str,
    status: LeadStatus,
    owner_id: Option<&'a str>,
    queue: Option<&'a str>,
    pool: Option<&'a str>,
    rule: Option<&'a str>,
    at: String,
    actor: &'a str,
    via: &'a str,
    /// Always present: the lead's assignees after the change (often `[]`).
    assignees: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    added: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    removed: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_owner_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bulk_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unassigned_since: Option<String>,
    // Next (SPEC 7, revision 2): `offered_to`, `expires_at`, `outcome`.
}

fn json_text(body: &LeadEventBody<'_>) -> Box<RawValue> {
    // Strings, a uuid and an enum: serialising cannot fail.
    serde_json::value::to_raw_value(body).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

/// RFC 3339 in UTC with microseconds: PostgreSQL's precision, so `at` equals the
/// stored `decided_at` exactly.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::Trace;
    use serde_json::Value;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T12:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn body(e: &OutboxEvent) -> Value {
        serde_json::from_str(e.body()).unwrap()
    }

    #[test]
    fn decision_event_body() {
        let d = RoutingDecision {
            status: LeadStatus::Assigned,
            owner_id: Some("alice".into()),
            queue: None,
            pool: Some("west".into()),
            rule: Some("west-buyers".into()),
            trace: Trace::default(),
            assignees: vec!["isa-maria".into()],
        };
        let e = OutboxEvent::for_decision("L1", &d, at(), "router");
        assert_eq!(e.routing_key(), "lead.assigned");
        assert_eq!(e.kind, EventKind::LeadChange(LeadStatus::Assigned));
        assert_eq!(e.lead_id, "L1");
        let b = body(&e);
        assert_eq!(b["event"], "lead.assigned");
        assert_eq!(b["event_id"], e.event_id.to_string());
        assert_eq!(b["lead_id"], "L1");
        assert_eq!(b["status"], "assigned");
        assert_eq!(b["owner_id"], "alice");
        assert_eq!(b["queue"], Value::Null);
        assert_eq!(b["pool"], "west");
        assert_eq!(b["rule"], "west-buyers");
        assert_eq!(b["at"], "2024-05-01T12:00:00.123456Z");
        assert_eq!(b["actor"], "router");
        assert_eq!(b["via"], "route");
        assert_eq!(b["assignees"], serde_json::json!(["isa-maria"]));
        let obj = b.as_object().unwrap();
        assert!(obj.contains_key("queue"), "null fields are present");
        for absent in ["previous_owner_id", "note", "added", "removed", "bulk_id"] {
            assert!(!obj.contains_key(absent), "{absent}");
        }
        assert_eq!(e.event_id.get_version_num(), 4);
    }

    #[test]
    fn routing_keys_follow_status() {
        for (s, k) in [
            (LeadStatus::Assigned, "lead.assigned"),
            (LeadStatus::Queued, "lead.queued"),
            (LeadStatus::Unassigned, "lead.unassigned"),
        ] {
            assert_eq!(routing_key_for(s), k);
            assert_eq!(
                EventKind::stored(k.to_owned(), None),
                EventKind::LeadChange(s)
            );
        }
    }

    #[test]
    fn manual_change_carries_previous_owner_and_note() {
        let e = OutboxEvent::lead_change(&LeadEvent {
            lead_id: "L2",
            to: PlacementRef {
                status: LeadStatus::Queued,
                owner_id: None,
                queue: Some("office-sf"),
                pool: None,
                rule: None,
            },
            at: at(),
            actor: "jdoe",
            via: Via::Reassign,
            assignees: &[],
            assignees_changed: None,
            previous_owner_id: Some("bob"),
            note: Some("customer asked for SF office"),
            bulk_id: None,
        });
        assert_eq!(e.routing_key(), "lead.queued");
        let b = body(&e);
        assert_eq!(b["previous_owner_id"], "bob");
        assert_eq!(b["note"], "customer asked for SF office");
        assert_eq!(b["actor"], "jdoe");
        assert_eq!(b["via"], "reassign");
        assert_eq!(b["assignees"], serde_json::json!([]));
    }

    #[test]
    fn an_assignees_change_has_its_own_routing_key_and_says_who_came_and_went() {
        let now = ["carol".to_owned(), "dave".to_owned()];
        let added = ["dave".to_owned()];
        let removed = ["erin".to_owned()];
        let e = OutboxEvent::lead_change(&LeadEvent {
            lead_id: "L4",
            to: PlacementRef {
                status: LeadStatus::Assigned,
                owner_id: Some("bob"),
                queue: None,
                pool: Some("west"),
                rule: Some("west-buyers"),
            },
            at: at(),
            actor: "jdoe",
            via: Via::Assignees,
            assignees: &now,
            assignees_changed: Some(AssigneesDelta {
                added: &added,
                removed: &removed,
            }),
            previous_owner_id: None,
            note: Some("showing on Saturday"),
            bulk_id: None,
        });
        assert_eq!(e.routing_key(), "lead.assignees_changed");
        assert_eq!(e.kind, EventKind::AssigneesChanged);
        let b = body(&e);
        assert_eq!(b["event"], "lead.assignees_changed");
        assert_eq!(b["via"], "assignees");
        assert_eq!(b["owner_id"], "bob");
        assert_eq!(b["assignees"], serde_json::json!(["carol", "dave"]));
        assert_eq!(b["added"], serde_json::json!(["dave"]));
        assert_eq!(b["removed"], serde_json::json!(["erin"]));
        assert_eq!(
            EventKind::stored("lead.assignees_changed".to_owned(), None),
            EventKind::AssigneesChanged
        );
    }

    #[test]
    fn alert_event() {
        let e = OutboxEvent::unassigned_alert(&UnassignedAlert {
            lead_id: "L3",
            waiting: PlacementRef {
                status: LeadStatus::Unassigned,
                owner_id: None,
                queue: None,
                pool: None,
                rule: None,
            },
            via: "unassign",
            assignees: &["isa-maria".to_owned()],
            unassigned_since: at(),
            at: at() + chrono::Duration::hours(25),
        });
        assert_eq!(e.routing_key(), "lead.alert.unassigned");
        assert_eq!(
            e.kind,
            EventKind::UnassignedAlert {
                unassigned_since: at()
            }
        );
        let b = body(&e);
        assert_eq!(b["actor"], "sweeper");
        assert_eq!(b["via"], "unassign");
        assert_eq!(b["assignees"], serde_json::json!(["isa-maria"]));
        assert_eq!(b["unassigned_since"], "2024-05-01T12:00:00.123456Z");
        assert_eq!(b["owner_id"], Value::Null);
        // Read back: the kind again, from the routing key and the body's field.
        let since = b["unassigned_since"].as_str();
        assert_eq!(EventKind::stored(e.routing_key().to_owned(), since), e.kind);
        let text = e.body().to_owned();
        assert_eq!(e.into_body(), text.into_bytes(), "published as serialised");
    }

    #[test]
    fn unknown_routing_keys_are_relayed_as_stored() {
        for (key, since) in [
            ("lead.offered", None),
            (ROUTING_KEY_ALERT_UNASSIGNED, None),
            (ROUTING_KEY_ALERT_UNASSIGNED, Some("yesterday")),
        ] {
            let kind = EventKind::stored(key.to_owned(), since);
            assert_eq!(kind.routing_key(), key);
            assert!(matches!(kind, EventKind::Other { .. }), "{kind:?}");
        }
    }
}
