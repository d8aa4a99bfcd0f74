//! What needs a supervisor now: the attention queue's rules, and the overview's figures.
//! The rules are pure and shared: the server decides a conversation's place in the queue
//! (`?attention=1`, the overview) by them, and the browser applies them to live changes
//! and to the passing of time (a wait crosses `WAIT_ALERT_SECS` with no event at all).
//!
//! Where the issue is silent (README, "Where the contract is silent"):
//! - a customer *waits* while their conversation is in progress (active or paused) and
//!   their last message has no reply; the wait runs from their first unanswered message;
//!   once the conversation soft-ends (20 minutes without a message) it has left;
//! - a high-severity fraud assessment (`HIGH` or `CRITICAL`) and a failed identity risk
//!   (`FAIL`, `FAILED`) hold a conversation in the queue until its final decision, or
//!   until it hard-ends (24 hours without a message);
//! - a referred decision holds it for 24 hours after the decision.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::{ConversationSummary, Status};

/// Why a conversation needs a human, in the order the chips show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Waiting,
    FraudHigh,
    IdentityFailed,
    Referred,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::FraudHigh => "fraud_high",
            Self::IdentityFailed => "identity_failed",
            Self::Referred => "referred",
        }
    }

    /// What the chip says.
    pub fn label(self) -> &'static str {
        match self {
            Self::Waiting => "Waiting for reply",
            Self::FraudHigh => "High fraud risk",
            Self::IdentityFailed => "Identity failed",
            Self::Referred => "Referred",
        }
    }
}

/// The facts about a conversation the queue and the overview are made from, kept in its
/// summary (see `store::SummaryDoc`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signals {
    /// When the customer's first unanswered message was sent, if their last message has
    /// no reply yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since_ms: Option<i64>,
    /// When the final decision was made (the decision event's time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at_ms: Option<i64>,
    /// The fraud-check assessment's severity is high.
    #[serde(default, skip_serializing_if = "is_false")]
    pub fraud_high: bool,
    /// The identity-risk assessment failed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub identity_failed: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Signals {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Whether a fraud check's `severity` counts as high.
pub fn is_high_severity(severity: &str) -> bool {
    ["high", "critical"]
        .iter()
        .any(|s| severity.trim().eq_ignore_ascii_case(s))
}

/// Whether an identity-risk `decision` is a failure.
pub fn is_failed(decision: &str) -> bool {
    ["fail", "failed"]
        .iter()
        .any(|s| decision.trim().eq_ignore_ascii_case(s))
}

/// The conversations "in progress": started, undecided, not yet soft-ended.
pub fn in_progress(status: Status) -> bool {
    matches!(status, Status::Active | Status::Paused)
}

/// How long a referral stays in the queue.
pub const REFERRED_FOR_MS: i64 = 24 * 3600 * 1000;

/// Since when the customer has waited for a reply, if they are waiting now.
pub fn waiting_since(status: Status, signals: &Signals) -> Option<i64> {
    signals.waiting_since_ms.filter(|_| in_progress(status))
}

/// Why `c` needs a human at `now_ms`, given waits become alerts after `alert_ms`; empty
/// when it does not.
pub fn reasons(c: &ConversationSummary, now_ms: i64, alert_ms: i64) -> Vec<Reason> {
    reasons_of(c.status, &c.signals, now_ms, alert_ms)
}

/// [`reasons`] of a conversation in `status` with `signals`.
pub fn reasons_of(status: Status, signals: &Signals, now_ms: i64, alert_ms: i64) -> Vec<Reason> {
    let mut reasons = Vec::new();
    if waiting_since(status, signals).is_some_and(|since| now_ms - since >= alert_ms) {
        reasons.push(Reason::Waiting);
    }
    let undecided = !matches!(
        status,
        Status::Approved | Status::Declined | Status::Referred | Status::HardEnd
    );
    if undecided && signals.fraud_high {
        reasons.push(Reason::FraudHigh);
    }
    if undecided && signals.identity_failed {
        reasons.push(Reason::IdentityFailed);
    }
    if status == Status::Referred
        && signals
            .decided_at_ms
            .is_none_or(|at| now_ms - at < REFERRED_FOR_MS)
    {
        reasons.push(Reason::Referred);
    }
    reasons
}

/// When `c`'s reasons next change by the clock alone (a wait becoming an alert, a
/// referral expiring), if they will; lets a view recheck at that moment, not poll.
pub fn next_change(c: &ConversationSummary, now_ms: i64, alert_ms: i64) -> Option<i64> {
    next_change_of(c.status, &c.signals, now_ms, alert_ms)
}

/// [`next_change`] of a conversation in `status` with `signals`.
pub fn next_change_of(
    status: Status,
    signals: &Signals,
    now_ms: i64,
    alert_ms: i64,
) -> Option<i64> {
    let alert = waiting_since(status, signals)
        .map(|since| since + alert_ms)
        .filter(|at| *at > now_ms);
    let expiry = (status == Status::Referred)
        .then_some(signals.decided_at_ms)
        .flatten()
        .map(|at| at + REFERRED_FOR_MS)
        .filter(|at| *at > now_ms);
    alert.into_iter().chain(expiry).min()
}

/// The overview (`/`): what is happening now, in the browser's day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    /// When the figures were made (server time, ms).
    pub now_ms: i64,
    /// The browser's offset from UTC the day and hours were cut by, in minutes.
    pub offset_minutes: i32,
    /// The start of the browser's day (ms).
    pub day_start_ms: i64,
    pub active: i64,
    pub paused: i64,
    /// Customers waiting for Billie's reply now, and since when the longest has waited.
    pub waiting: i64,
    pub longest_wait_since_ms: Option<i64>,
    /// The conversation of the longest wait.
    pub longest_wait_id: Option<String>,
    /// Decisions made today, by outcome.
    pub approved_today: i64,
    pub declined_today: i64,
    pub referred_today: i64,
    /// Median time from start to decision of today's decisions.
    pub median_to_decision_ms: Option<i64>,
    /// The last 24 hours, hour by hour, oldest first: the hour's start, conversations
    /// started and decisions made in it.
    pub hours: Vec<HourBar>,
    /// The attention queue: most recent activity first, at most [`QUEUE_SHOWN`].
    pub queue: Vec<ConversationSummary>,
    /// How many conversations are in the queue in all.
    pub queue_total: i64,
    /// `WAIT_ALERT_SECS`, in ms.
    pub wait_alert_ms: i64,
    /// For admins only: what ingest is doing.
    pub ingest: Option<IngestHealth>,
    /// When the figures next change by the clock alone (a wait becoming an alert, a
    /// referral expiring, the next hour of the chart): the page reads them again then.
    #[serde(default)]
    pub next_change_ms: Option<i64>,
}

/// Conversations the overview lists from the queue.
pub const QUEUE_SHOWN: usize = 50;

impl Overview {
    /// Decisions today, all outcomes.
    pub fn decided_today(&self) -> i64 {
        self.approved_today + self.declined_today + self.referred_today
    }

    /// Approved among today's decisions, in percent.
    pub fn approval_rate(&self) -> Option<f64> {
        let all = self.decided_today();
        (all > 0).then(|| self.approved_today as f64 * 100.0 / all as f64)
    }
}

/// One hour of the overview's chart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourBar {
    pub start_ms: i64,
    pub started: i64,
    pub decided: i64,
}

/// Ingest's health, as admins see it on the overview.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestHealth {
    /// Entries moved to the dead-letter stream in the last 24 hours (by the hour: this
    /// hour and the 23 before), if Redis says.
    pub dead_letters: Option<i64>,
    /// Entries of the ledger not yet read by the consumer group, if Redis says.
    pub lag: Option<i64>,
    /// Entries read but not yet acknowledged.
    pub pending: Option<i64>,
}

/// The start of the day holding `now_ms`, for a clock `offset_minutes` ahead of UTC.
pub fn day_start(now_ms: i64, offset_minutes: i32) -> i64 {
    let offset = i64::from(offset_minutes) * 60_000;
    (now_ms + offset).div_euclid(86_400_000) * 86_400_000 - offset
}

/// The start of the hour holding `now_ms`, for a clock `offset_minutes` ahead of UTC.
pub fn hour_start(now_ms: i64, offset_minutes: i32) -> i64 {
    let offset = i64::from(offset_minutes) * 60_000;
    (now_ms + offset).div_euclid(3_600_000) * 3_600_000 - offset
}

/// The median of `values` (sorted in place), the lower middle of an even count.
pub fn median(values: &mut [i64]) -> Option<i64> {
    values.sort_unstable();
    values.get(values.len().checked_sub(1)? / 2).copied()
}

/// The overview, the day and hours cut `offset_minutes` ahead of UTC (the browser's
/// zone: `-Date.getTimezoneOffset()`).
#[server(endpoint = "overview")]
pub async fn get_overview(offset_minutes: i32) -> Result<Overview, ServerFnError> {
    let (state, user) = crate::server::auth::require_user().await?;
    crate::server::overview::overview(&state, &user, offset_minutes)
        .await
        .map_err(|e| match &*e {
            crate::server::tally::TallyError::Loading => ServerFnError::new(e),
            other => crate::server::errors::internal(other),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(status: Status, signals: Signals) -> ConversationSummary {
        ConversationSummary {
            started_at_ms: Some(0),
            last_activity_ms: Some(0),
            message_count: 1,
            signals,
            ..ConversationSummary::example("c", status)
        }
    }

    #[test]
    fn a_wait_becomes_a_reason_at_the_alert_and_leaves_when_the_conversation_ends() {
        let waiting = Signals {
            waiting_since_ms: Some(1_000),
            ..Signals::default()
        };
        let c = conv(Status::Active, waiting.clone());
        assert!(reasons(&c, 60_999, 60_000).is_empty());
        assert_eq!(next_change(&c, 60_999, 60_000), Some(61_000));
        assert_eq!(reasons(&c, 61_000, 60_000), vec![Reason::Waiting]);
        assert_eq!(next_change(&c, 61_000, 60_000), None);
        assert_eq!(
            reasons(&conv(Status::Paused, waiting.clone()), 90_000, 60_000),
            vec![Reason::Waiting]
        );
        assert!(reasons(&conv(Status::SoftEnd, waiting), 90_000, 60_000).is_empty());
    }

    #[test]
    fn risks_hold_until_a_decision_and_a_referral_for_a_day() {
        let risky = Signals {
            fraud_high: true,
            identity_failed: true,
            ..Signals::default()
        };
        assert_eq!(
            reasons(&conv(Status::SoftEnd, risky.clone()), 0, 1),
            vec![Reason::FraudHigh, Reason::IdentityFailed]
        );
        assert!(reasons(&conv(Status::Declined, risky.clone()), 0, 1).is_empty());
        let referred = conv(
            Status::Referred,
            Signals {
                decided_at_ms: Some(10),
                ..risky
            },
        );
        assert_eq!(reasons(&referred, 10, 1), vec![Reason::Referred]);
        assert_eq!(next_change(&referred, 10, 1), Some(10 + REFERRED_FOR_MS));
        assert!(reasons(&referred, 10 + REFERRED_FOR_MS, 1).is_empty());
    }

    #[test]
    fn severities_and_decisions_are_read_whatever_their_case() {
        assert!(is_high_severity("HIGH") && is_high_severity("critical"));
        assert!(!is_high_severity("MEDIUM") && !is_high_severity("LOW"));
        assert!(is_failed("FAIL") && is_failed("Failed"));
        assert!(!is_failed("REFER") && !is_failed("PASS"));
    }

    #[test]
    fn days_and_hours_are_cut_in_the_browsers_zone() {
        // 2026-12-03T10:30:00Z
        let now = 1_796_293_800_000;
        assert_eq!(day_start(now, 0), 1_796_256_000_000);
        // Adelaide in summer, +10:30: 21:00 local, the day began at 13:30Z the day before.
        assert_eq!(day_start(now, 630), 1_796_256_000_000 - 630 * 60_000);
        assert_eq!(hour_start(now, 0), 1_796_292_000_000);
        assert_eq!(hour_start(now, 330), 1_796_293_800_000);
        // West of UTC.
        assert_eq!(day_start(now, -300), 1_796_256_000_000 + 5 * 3_600_000);
    }

    #[test]
    fn the_median_is_the_middle_value() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [5]), Some(5));
        assert_eq!(median(&mut [9, 1, 5]), Some(5));
        assert_eq!(median(&mut [4, 1, 3, 2]), Some(2));
    }
}
