//! Whether a pool member may be dealt or offered a lead now (SPEC 3.4). Checked in this
//! order, the first that fails being the skip reason in the trace: halted, inactive
//! (the `agents` table), off hours (its schedule), the daily cap, the open cap. Off
//! hours comes before the caps because it needs no count, and says the most (the
//! member is not working); the daily cap before the open cap because it is the one
//! that resets, at the member's local midnight.
//!
//! Only pool deals and offers ask this: schedules and caps never block a lead
//! addressed to one agent (`agent_from`, a script's `agent`, a known contact), though
//! such leads count toward the caps.
use super::decision::Availability;
use crate::rules::MemberSettings;
use crate::rules::schedule::local_day;
use chrono::{DateTime, NaiveDate, Utc};

/// What the caps count, for one agent at the decision time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Leads the router gave the agent on its local day: pool deals, direct
    /// assignments (counted, never blocked) and accepted offers.
    pub given_today: u64,
    /// Offers open to the agent now.
    pub open_offers: u64,
    /// Assigned leads the agent owns now (open leads, whoever assigned them).
    pub open_assigned: u64,
}

impl Counts {
    /// What the daily cap is compared with: the leads given today and the offers open
    /// now (an open offer is a lead the agent may still take today).
    pub fn daily(&self) -> u64 {
        self.given_today + self.open_offers
    }
}

/// The member's availability at `at`. `base` is its state in the `agents` table
/// (available, halted or inactive); `counts` is asked only when a cap applies, with the
/// agent's local day (its schedule's date, UTC without one), so a ruleset without caps
/// reads no count.
pub fn member_availability(
    base: Availability,
    settings: &MemberSettings<'_>,
    at: DateTime<Utc>,
    counts: impl FnOnce(NaiveDate) -> Counts,
) -> Availability {
    if base != Availability::Available {
        return base;
    }
    if settings.schedule.is_some_and(|s| !s.is_open(at)) {
        return Availability::OffHours;
    }
    if settings.daily_cap.is_none() && settings.open_cap.is_none() {
        return Availability::Available;
    }
    let c = counts(local_day(settings.day, at));
    let reached = |cap: Option<u32>, n: u64| cap.is_some_and(|cap| n >= u64::from(cap));
    if reached(settings.daily_cap, c.daily()) {
        Availability::DailyCap
    } else if reached(settings.open_cap, c.open_assigned) {
        Availability::OpenCap
    } else {
        Availability::Available
    }
}
