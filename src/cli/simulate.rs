//! `billie-dashboard simulate`: appends realistic conversations to the ledger at a steady
//! rate, as Billie's chat agents would, so a demo or a load test has live data. Each
//! conversation walks through every event type of the contract; several run interleaved,
//! and one in five uses the older envelope.

use std::time::Duration;

use clap::Args;
use rand::{Rng, seq::IndexedRandom};
use redis::AsyncCommands;
use serde_json::{Value, json};

use crate::server::config::Settings;
use crate::server::startup::redis_client;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Events appended per second.
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    /// Conversations in progress at once.
    #[arg(long, default_value_t = 4)]
    conversations: usize,
    /// Stop after this many events (default: run until stopped).
    #[arg(long)]
    events: Option<u64>,
    #[command(flatten)]
    settings: Settings,
}

pub async fn run(args: SimulateArgs) -> Result<(), String> {
    if !(args.rate > 0.0 && args.rate.is_finite()) {
        return Err("--rate must be a positive number of events per second".into());
    }
    let client = redis_client(&args.settings).map_err(|e| e.to_string())?;
    let mut redis = redis::aio::ConnectionManager::new(client)
        .await
        .map_err(|e| format!("Redis: {e}"))?;
    let mut rng = rand::rng();
    let mut live: Vec<Script> = (0..args.conversations.max(1))
        .map(|_| Script::new(&mut rng))
        .collect();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    let mut sent = 0_u64;
    tracing::info!(rate = args.rate, stream = %args.settings.ledger_stream, "simulating");
    while args.events.is_none_or(|n| sent < n) {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        let slot = rng.random_range(0..live.len());
        let fields = match live[slot].next_entry() {
            Some(fields) => fields,
            None => {
                live[slot] = Script::new(&mut rng);
                continue;
            }
        };
        let _: String = redis
            .xadd(&args.settings.ledger_stream, "*", &fields)
            .await
            .map_err(|e| format!("Redis: {e}"))?;
        sent += 1;
    }
    tracing::info!(events = sent, "simulation stopped");
    Ok(())
}

const FIRST: &[&str] = &[
    "Saanvi", "Jack", "Olivia", "Noah", "Mia", "Liam", "Ava", "Leo", "Isla", "Kai", "Zara", "Ethan",
];
const LAST: &[&str] = &[
    "Citizen", "Kelly", "Rossi", "Nguyen", "Smith", "Patel", "Brown", "Wilson", "Taylor", "Chen",
];
const PURPOSES: &[&str] = &[
    "Electricity bill",
    "Vet bill",
    "Dental work",
    "Car repairs",
    "Rent bond",
    "Phone repair",
];
const SUBURBS: &[(&str, &str, &str)] = &[
    ("Braddon", "ACT", "2612"),
    ("Fremantle", "WA", "6160"),
    ("Fitzroy", "VIC", "3065"),
    ("Newtown", "NSW", "2042"),
    ("Sandy Bay", "TAS", "7005"),
];

/// One scripted conversation, emitted an entry at a time (also the benchmark's load).
pub struct Script {
    conv: String,
    customer: String,
    legacy: bool,
    entries: Vec<(String, &'static str, Value)>,
    next: usize,
}

impl Script {
    /// A new conversation with a random customer, amount, purpose and outcome.
    pub fn new(rng: &mut impl Rng) -> Self {
        let conv = format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            rng.random::<u32>(),
            rng.random::<u16>(),
            rng.random::<u16>(),
            rng.random::<u16>(),
            rng.random::<u64>() & 0xffff_ffff_ffff
        );
        let customer = format!("C{:07X}", rng.random_range(0..0x0FFF_FFFF_u32));
        let app = format!(
            "APP-{:05}-{}",
            rng.random_range(10_000..99_999),
            (b'A' + rng.random_range(0..26_u8)) as char
        );
        let first = FIRST.choose(rng).copied().unwrap_or("Sam");
        let last = LAST.choose(rng).copied().unwrap_or("Lee");
        let purpose = PURPOSES.choose(rng).copied().unwrap_or("Bills");
        let (suburb, state, postcode) = SUBURBS
            .choose(rng)
            .copied()
            .unwrap_or(("Braddon", "ACT", "2612"));
        let amount = rng.random_range(2..=20) * 50;
        let email = format!(
            "{}.{}@example.com",
            first.to_lowercase(),
            last.to_lowercase()
        );
        let decision = ["APPROVED", "DECLINED", "REFERRED"]
            .choose(rng)
            .copied()
            .unwrap_or("REFERRED");
        let greeting = format!("Hi {first}, I'm Billie. How much would you like to borrow?");
        let msg = |who: &'static str, text: String, rationale: Option<&str>| {
            let mut payload = json!({
                "utterance": text,
                "created_at": now_iso(),
                "conversation_id": conv,
                "application_number": app,
                "customer_id": customer,
            });
            if let Some(r) = rationale {
                payload["rationale"] = json!(r);
            }
            (who.to_owned(), "broker", payload)
        };
        let notice = |agent: &'static str, topic: &str, post: String| {
            (
                "noticeboard_updated".to_owned(),
                agent,
                json!({ "agent_name": format!("{agent}::{topic}"), "post": post, "timestamp": now_iso() }),
            )
        };
        let entries = vec![
            (
                "conversation_started".to_owned(),
                "broker",
                json!({ "application_number": app, "customer_id": customer }),
            ),
            msg(
                "assistant_response",
                greeting,
                Some("Greeting; ask for amount"),
            ),
            msg(
                "user_input",
                format!("I need ${amount} for {}", purpose.to_lowercase()),
                None,
            ),
            msg(
                "assistant_response",
                format!(
                    "Thanks! A <b>${amount}</b> loan for {}. What's your email?",
                    purpose.to_lowercase()
                ),
                Some("Amount captured; collect contact"),
            ),
            msg("user_input", email.clone(), None),
            (
                "applicationDetail_changed".to_owned(),
                "broker",
                json!({
                    "applicationNumber": app, "loanAmount": amount, "loanPurpose": purpose,
                    "loanTerm": 20, "loanFee": amount as f64 * 0.05,
                    "loanTotalPayable": amount as f64 * 1.05,
                    "customer": {
                        "customer_id": customer, "first_name": first, "last_name": last,
                        "email_address": email, "mobile_phone_number": "+61400000000",
                        "residential_address": { "suburb": suburb, "state": state, "postcode": postcode, "country": "Australia" }
                    }
                }),
            ),
            (
                "identityRisk_assessment".to_owned(),
                "identity_agent",
                json!({ "decision": "PASS", "provider": "IDMatrix", "overallResult": "Passed" }),
            ),
            notice(
                "identity_agent",
                "Identity Check",
                "Identity verified.".into(),
            ),
            notice(
                "serviceability_agent",
                "Serviceability Assessment",
                "Serviceability Assessment: first look complete.".into(),
            ),
            (
                "serviceability_assessment_results".to_owned(),
                "serviceability_agent",
                json!({ "decision": if decision == "DECLINED" { "FAIL" } else { "PASS" }, "surplus": 240, "income_monthly": 4200 }),
            ),
            notice(
                "serviceability_agent",
                "Serviceability Assessment",
                "Serviceability Assessment: income verified.".into(),
            ),
            (
                "fraudCheck_assessment".to_owned(),
                "fraud_agent",
                json!({ "severity": "LOW", "final_score": 2, "categories": [] }),
            ),
            (
                "conversation_summary".to_owned(),
                "conversation_agent",
                json!({ "purpose": format!("Loan for {}", purpose.to_lowercase()), "facts": [format!("Requested ${amount}"), format!("Lives in {suburb} {state}")] }),
            ),
            msg(
                "assistant_response",
                "Thanks, I'm checking everything now.".into(),
                Some("All data captured"),
            ),
            (
                "final_decision".to_owned(),
                "broker",
                json!({ "decision": decision }),
            ),
        ];
        Self {
            conv,
            customer,
            legacy: rng.random_ratio(1, 5),
            entries,
            next: 0,
        }
    }

    /// The conversation's id.
    pub fn conv(&self) -> &str {
        &self.conv
    }

    /// The fields of the next entry, or `None` when the conversation is over.
    pub fn next_entry(&mut self) -> Option<Vec<(&'static str, String)>> {
        let (typ, agent, payload) = self.entries.get(self.next)?;
        self.next += 1;
        let seq = self.next.to_string();
        // Times are those of sending, not of scripting.
        let mut payload = payload.clone();
        if let Some(object) = payload.as_object_mut() {
            for key in ["created_at", "timestamp"] {
                if object.contains_key(key) {
                    object.insert(key.to_owned(), Value::String(now_iso()));
                }
            }
        }
        let payload = payload.to_string();
        let fields = if self.legacy {
            vec![
                ("cid", self.conv.clone()),
                ("typ", typ.clone()),
                ("agt", (*agent).to_owned()),
                ("uid", self.customer.clone()),
                ("seq", seq),
                ("tsp", now_iso()),
                ("dat", payload),
            ]
        } else {
            vec![
                ("conv", self.conv.clone()),
                ("typ", typ.clone()),
                ("agt", (*agent).to_owned()),
                ("usr", self.customer.clone()),
                ("seq", seq),
                ("cls", "msg".to_owned()),
                ("payload", payload),
            ]
        };
        Some(fields)
    }
}

fn now_iso() -> String {
    chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use rand::SeedableRng;

    use super::*;
    use crate::contract::{Event, EventKind, RawEntry};

    /// Whatever the simulator writes follows the contract, and covers every event type.
    #[test]
    fn simulated_entries_parse_and_cover_every_type() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut kinds = BTreeSet::new();
        let mut legacy = 0;
        for n in 0..20 {
            let mut script = Script::new(&mut rng);
            legacy += usize::from(script.legacy);
            let mut i = 0;
            while let Some(fields) = script.next_entry() {
                i += 1;
                let fields = fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                let event = Event::parse(&RawEntry::new(format!("{n}-{i}"), fields))
                    .unwrap_or_else(|e| panic!("conversation {n}, entry {i}: {e}"));
                assert!(!matches!(event.kind, EventKind::Unknown(_)));
                kinds.insert(event.kind.name().to_owned());
            }
        }
        assert_eq!(kinds.len(), 10, "{kinds:?}");
        assert!(legacy > 0, "some conversations use the older envelope");
    }
}
