//! Settling deliveries: ack (multiple for a contiguous done run, single otherwise)
//! and requeue, on the channel and connection generation they came from.
//!
//! A batch the daemon could not commit should normally just be kept and retried
//! (the deliveries stay unacked, holding the prefetch window, which is the
//! backpressure we want while PostgreSQL is down). [`Acker::requeue`] is for giving
//! a batch back instead, e.g. when shutting down without having committed it.
use std::collections::BTreeMap;
use std::sync::Arc;

use lapin::options::{BasicAckOptions, BasicNackOptions};
use tracing::warn;

use super::session::Session;
use super::{Broker, BrokerError, InboundDelivery};

/// What happened to one delivery we were asked to settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Sent to the broker (acked, requeued, or dead-lettered then acked).
    Done,
    /// Its connection is gone: the broker requeued it and will deliver it again, so
    /// nothing was sent. Not an error; the daemon's idempotency absorbs the redelivery.
    Stale,
}

/// Counts for a batch settled at once.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AckReport {
    /// Settled on the broker now.
    pub settled: usize,
    /// From a dead connection: will be redelivered (see [`Settled::Stale`]).
    pub stale: usize,
}

/// Settles deliveries from the broker's consumer. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Acker {
    pub(crate) broker: Broker,
}

/// Frames to send for one ack call.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct AckPlan {
    /// `basic.ack multiple` up to this tag: every outstanding tag ≤ it is done.
    up_to: Option<u64>,
    /// Done tags behind a pending one: acked one by one.
    singles: Vec<u64>,
}

/// Marks `done` tags (those still outstanding) and takes every done tag out of
/// `outstanding`, as one multiple-ack for the done prefix plus single acks.
pub(crate) fn plan(
    outstanding: &mut BTreeMap<u64, bool>,
    done: impl IntoIterator<Item = u64>,
) -> AckPlan {
    for tag in done {
        if let Some(state) = outstanding.get_mut(&tag) {
            *state = true;
        }
    }
    let mut plan = AckPlan::default();
    while let Some(entry) = outstanding.first_entry() {
        if !*entry.get() {
            break;
        }
        plan.up_to = Some(*entry.key());
        entry.remove();
    }
    outstanding.retain(|&tag, &mut is_done| {
        if is_done {
            plan.singles.push(tag);
        }
        !is_done
    });
    plan
}

impl Acker {
    pub(crate) fn new(broker: Broker) -> Self {
        Self { broker }
    }

    /// Acks these deliveries. Consecutive done tags go out as one `multiple` ack,
    /// the rest one by one. Deliveries from an earlier connection are skipped and
    /// counted as stale. Acking a delivery twice is harmless (the second is ignored).
    pub async fn ack(&self, deliveries: &[InboundDelivery]) -> Result<AckReport, BrokerError> {
        let mut report = AckReport::default();
        let Some(session) = self.current(deliveries, &mut report) else {
            return Ok(report);
        };
        let tags = deliveries
            .iter()
            .filter(|d| d.generation == session.generation)
            .map(|d| d.delivery_tag);
        report.settled = self
            .send_acks(&session, |outstanding| plan(outstanding, tags))
            .await?;
        Ok(report)
    }

    /// Acks one delivery.
    pub async fn ack_one(&self, delivery: &InboundDelivery) -> Result<Settled, BrokerError> {
        let report = self.ack(std::slice::from_ref(delivery)).await?;
        Ok(if report.stale > 0 {
            Settled::Stale
        } else {
            Settled::Done
        })
    }

    /// Acks *every* outstanding delivery of `generation` with a tag ≤ `tag`, with a
    /// single `multiple` ack: for a caller that settles strictly in order and knows
    /// all of them are done. Anything not yet done stays safe only if its tag is
    /// greater; prefer [`Acker::ack`], which tracks that for you.
    pub async fn ack_up_to(&self, generation: u64, tag: u64) -> Result<Settled, BrokerError> {
        let Some(session) = self.broker.session().filter(|s| s.generation == generation) else {
            return Ok(Settled::Stale);
        };
        self.send_acks(&session, |outstanding| {
            let covered: Vec<u64> = outstanding.range(..=tag).map(|(&t, _)| t).collect();
            plan(outstanding, covered)
        })
        .await?;
        Ok(Settled::Done)
    }

    /// Gives deliveries back to the queue (`basic.nack`, requeue) for another
    /// consumer or a later attempt; they come back with `redelivered` set.
    pub async fn requeue(&self, deliveries: &[InboundDelivery]) -> Result<AckReport, BrokerError> {
        let mut report = AckReport::default();
        let Some(session) = self.current(deliveries, &mut report) else {
            return Ok(report);
        };
        let mut outstanding = session.acks.lock().await;
        for d in deliveries
            .iter()
            .filter(|d| d.generation == session.generation)
        {
            if outstanding.remove(&d.delivery_tag).is_none() {
                continue; // already settled
            }
            let options = BasicNackOptions {
                multiple: false,
                requeue: true,
            };
            if let Err(e) = session.consume.basic_nack(d.delivery_tag, options).await {
                session.mark_dead("basic.nack failed");
                return Err(BrokerError::Amqp {
                    op: "basic.nack",
                    source: e,
                });
            }
            report.settled += 1;
        }
        Ok(report)
    }

    /// The current session, counting deliveries from other generations as stale.
    fn current(
        &self,
        deliveries: &[InboundDelivery],
        report: &mut AckReport,
    ) -> Option<Arc<Session>> {
        let session = self.broker.session();
        let generation = session.as_ref().map(|s| s.generation);
        report.stale = deliveries
            .iter()
            .filter(|d| Some(d.generation) != generation)
            .count();
        session.filter(|_| report.stale < deliveries.len())
    }

    /// Plans and sends acks under the session's ack lock; returns how many
    /// deliveries the frames settled.
    pub(crate) async fn send_acks(
        &self,
        session: &Session,
        make_plan: impl FnOnce(&mut BTreeMap<u64, bool>) -> AckPlan,
    ) -> Result<usize, BrokerError> {
        let mut outstanding = session.acks.lock().await;
        let before = outstanding.len();
        let plan = make_plan(&mut outstanding);
        let settled = before - outstanding.len();
        let frames = plan
            .up_to
            .map(|tag| (tag, true))
            .into_iter()
            .chain(plan.singles.iter().map(|&tag| (tag, false)));
        for (tag, multiple) in frames {
            if let Err(e) = session
                .consume
                .basic_ack(tag, BasicAckOptions { multiple })
                .await
            {
                // The channel is gone; everything unacked on it will be redelivered.
                warn!(generation = session.generation, error = %e, "ack failed");
                session.mark_dead("basic.ack failed");
                return Err(BrokerError::Amqp {
                    op: "basic.ack",
                    source: e,
                });
            }
        }
        Ok(settled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outstanding(tags: &[u64]) -> BTreeMap<u64, bool> {
        tags.iter().map(|&t| (t, false)).collect()
    }

    #[test]
    fn contiguous_prefix_is_one_multiple_ack() {
        let mut o = outstanding(&[1, 2, 3, 4]);
        assert_eq!(
            plan(&mut o, [1, 2, 3]),
            AckPlan {
                up_to: Some(3),
                singles: vec![]
            }
        );
        assert_eq!(o.keys().copied().collect::<Vec<_>>(), vec![4]);
    }

    #[test]
    fn done_behind_pending_goes_single() {
        let mut o = outstanding(&[1, 2, 3, 4, 5]);
        assert_eq!(
            plan(&mut o, [2, 4, 5]),
            AckPlan {
                up_to: None,
                singles: vec![2, 4, 5]
            }
        );
        assert_eq!(
            plan(&mut o, [1]),
            AckPlan {
                up_to: Some(1),
                singles: vec![]
            }
        );
        assert_eq!(o.keys().copied().collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn unknown_or_repeated_tags_are_ignored() {
        let mut o = outstanding(&[5, 6]);
        assert_eq!(
            plan(&mut o, [1, 5]),
            AckPlan {
                up_to: Some(5),
                singles: vec![]
            }
        );
        assert_eq!(plan(&mut o, [5]), AckPlan::default());
    }
}
