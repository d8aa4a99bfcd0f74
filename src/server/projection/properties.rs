//! Property tests of the write path's invariants (issue 21), each stated as a function of
//! this layer and checked over random arrival orders, redeliveries and batch splits:
//! - exactly once per event key, and newest wins per register (`write::once`,
//!   `write::newer`, through `coalesce` and `batch`);
//! - per-field newest customer merge (`customer::order_prefix`, `customer::merge`);
//! - the name copy ordered (`names::Shown::takes`, `names::NameCopy`'s writes).
//!
//! The planned writes are run by [`Model`], which reads their filters and updates for the
//! few operators the guards use, and answers as the store does (changed, unchanged, or an
//! upsert colliding on `_id`) in any order. It checks the plans' logic over many cases;
//! the integration tests check the same invariants against a real store.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use mongodb::bson::{Bson, Document, doc};
use proptest::prelude::*;

use super::batch::{Batch, BatchOutcome, Settled};
use super::coalesce::EventWrite;
use super::customer::{self, CustomerFacts, Reach, order_prefix};
use super::names::{CustomerName, NameCopy, Seen, Shown};
use super::write::{Collection, Ran, Write};
use super::{Limits, plan};
use crate::contract::{Event, RawEntry};

/// Documents by collection and `_id`, each a map of dotted paths to values.
#[derive(Debug, Default)]
struct Model {
    docs: HashMap<(Collection, String), HashMap<String, Bson>>,
}

impl Model {
    /// Runs `writes` in the order `seed` picks (the store's bulk write is unordered).
    fn run(&mut self, writes: Vec<Write>, seed: u64) -> Ran {
        let mut order: Vec<usize> = (0..writes.len()).collect();
        let mut state = seed | 1;
        for i in (1..order.len()).rev() {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            order.swap(i, (state >> 33) as usize % (i + 1));
        }
        let mut ran = Ran {
            outcomes: vec![Ok(false); writes.len()],
            collided: Vec::new(),
        };
        for i in order {
            let w = &writes[i];
            let id = w.filter.get_str("_id").unwrap_or_default().to_owned();
            let key = (w.collection, id.clone());
            match self.docs.get_mut(&key) {
                Some(fields) if holds(&w.filter, fields) => {
                    apply(&w.update, fields);
                    ran.outcomes[i] = Ok(true);
                }
                Some(_) if w.upsert => ran.collided.push(i),
                Some(_) => {}
                None if w.upsert => {
                    let mut fields = HashMap::from([("_id".to_owned(), Bson::from(id))]);
                    apply(&w.update, &mut fields);
                    self.docs.insert(key, fields);
                    ran.outcomes[i] = Ok(true);
                }
                None => {}
            }
        }
        ran.collided.sort_unstable();
        ran
    }

    fn field(&self, collection: Collection, id: &str, path: &str) -> Option<&Bson> {
        self.docs.get(&(collection, id.to_owned()))?.get(path)
    }
}

/// Whether `filter` holds: equality, `$ne`, `$nin` (of an array field) and `$not: {$gte}`.
fn holds(filter: &Document, fields: &HashMap<String, Bson>) -> bool {
    filter.iter().all(|(path, condition)| {
        let held = fields.get(path);
        let Bson::Document(c) = condition else {
            return held == Some(condition);
        };
        if let Ok(not) = c.get_document("$not") {
            let bound = not.get("$gte");
            return !matches!((held, bound), (Some(h), Some(b)) if at_least(h, b));
        }
        if let Ok(keys) = c.get_array("$nin") {
            let list = match held {
                Some(Bson::Array(list)) => list.as_slice(),
                _ => &[],
            };
            return !keys.iter().any(|k| list.contains(k));
        }
        match c.get("$ne") {
            Some(value) => held != Some(value),
            None => held == Some(condition),
        }
    })
}

fn at_least(held: &Bson, bound: &Bson) -> bool {
    match (held, bound) {
        (Bson::Int64(h), Bson::Int64(b)) => h >= b,
        (Bson::String(h), Bson::String(b)) => h >= b,
        _ => false,
    }
}

/// Applies `$inc`, `$set` (a register's `order` as `<field>.order`) and `$addToSet`.
fn apply(update: &Document, fields: &mut HashMap<String, Bson>) {
    for (op, paths) in update {
        let Bson::Document(paths) = paths else {
            continue;
        };
        for (path, value) in paths {
            match (op.as_str(), value) {
                ("$inc", Bson::Int64(n)) => {
                    let held = fields.entry(path.clone()).or_insert(Bson::Int64(0));
                    *held = Bson::Int64(held.as_i64().unwrap_or(0) + n);
                }
                ("$set", Bson::Document(register)) if register.contains_key("order") => {
                    fields.insert(
                        format!("{path}.order"),
                        register.get("order").cloned().unwrap_or(Bson::Null),
                    );
                }
                ("$set", value) => {
                    fields.insert(path.clone(), value.clone());
                }
                ("$addToSet", Bson::Document(each)) => {
                    let held = fields
                        .entry(path.clone())
                        .or_insert(Bson::Array(Vec::new()));
                    if let (Bson::Array(list), Ok(items)) = (held, each.get_array("$each")) {
                        for item in items {
                            if !list.contains(item) {
                                list.push(item.clone());
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// Writes one batch as ingest does: the first round, then the second if the plan asks.
fn write_batch(
    model: &mut Model,
    events: &[EventWrite],
    names: &[NameCopy],
    seed: u64,
) -> BatchOutcome {
    let batch = Batch::plan(events, names);
    let ran = model.run(batch.writes(), seed);
    match batch.settle(ran).expect("no refusals in the model") {
        Settled::Done(outcome) => outcome,
        Settled::Retry(retry) => {
            let ran = model.run(retry.writes(), seed.rotate_left(7));
            retry.settle(ran).expect("no refusals in the model")
        }
    }
}

/// An event of the contract: a message (`kind` 0), a decision (1) or a fraud assessment
/// (2) of conversation `conv` with `seq`. The same three numbers make the same event.
fn event(conv: u8, kind: u8, seq: u8) -> Event {
    let (typ, payload) = match kind {
        0 => ("user_input", format!(r#"{{"utterance":"m{seq}"}}"#)),
        1 => (
            "final_decision",
            format!(
                r#"{{"outcome":"{}"}}"#,
                ["APPROVED", "DECLINED"][usize::from(seq % 2)]
            ),
        ),
        _ => (
            "fraud_risk.assessment.v1",
            r#"{"severity":"LOW"}"#.to_owned(),
        ),
    };
    let fields = [
        ("conv", format!("c{conv}")),
        ("typ", typ.to_owned()),
        ("agt", "a".to_owned()),
        ("seq", seq.to_string()),
        ("payload", payload),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Event::parse(&RawEntry::new("1793696408000-0", fields)).expect("a valid event")
}

fn limits() -> &'static Limits {
    static LIMITS: OnceLock<Limits> = OnceLock::new();
    LIMITS.get_or_init(Limits::default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    /// Events redelivered, in any order, split into any batches, with each round's writes
    /// run in any order: every message applies exactly once, every register ends at its
    /// newest order (set exactly once by that order), and a conversation's version counts
    /// exactly the events reported as changing it.
    #[test]
    fn each_event_applies_once_and_the_newest_register_wins(
        picks in prop::collection::vec((0u8..3, 0u8..3, 1u8..10), 1..60),
        cuts in prop::collection::vec(1usize..20, 1..8),
        seed in any::<u64>(),
    ) {
        let events: Vec<Event> = picks.iter().map(|&(c, k, s)| event(c, k, s)).collect();
        let writes: Vec<EventWrite> = events
            .iter()
            .filter_map(|e| plan(e, limits()).map(|p| (e.conv().to_owned(), p.guard, p.update)))
            .collect();
        let mut model = Model::default();
        let mut outcomes = Vec::new();
        let mut start = 0;
        for (round, cut) in cuts.iter().cycle().enumerate() {
            if start >= writes.len() {
                break;
            }
            let end = (start + cut).min(writes.len());
            let batch = &writes[start..end];
            let outcome = write_batch(&mut model, batch, &[], seed.wrapping_add(round as u64));
            outcomes.extend(outcome.events);
            start = end;
        }
        prop_assert!(outcomes.iter().all(Result::is_ok));
        let changed = |i: usize| outcomes[i] == Ok(true);

        for conv in 0..3u8 {
            let id = format!("c{conv}");
            let of = |kind: u8| -> Vec<usize> {
                (0..picks.len()).filter(|&i| picks[i].0 == conv && picks[i].1 == kind).collect()
            };
            // Messages: each distinct key changed the conversation exactly once.
            let mut times: BTreeMap<u8, usize> = BTreeMap::new();
            for i in of(0) {
                *times.entry(picks[i].2).or_default() += usize::from(changed(i));
            }
            prop_assert!(times.values().all(|&n| n == 1), "messages applied {:?}", times);
            let count = model.field(Collection::Conversations, &id, "message_count");
            prop_assert_eq!(count.and_then(Bson::as_i64).unwrap_or(0), times.len() as i64);
            // Registers: the newest order is held, and was set exactly once.
            for (kind, field) in [(1, "decision"), (2, "fraud_check")] {
                let events = of(kind);
                let newest = events.iter().map(|&i| i64::from(picks[i].2)).max();
                let held = model
                    .field(Collection::Conversations, &id, &format!("{field}.order"))
                    .and_then(Bson::as_i64);
                prop_assert_eq!(held, newest);
                let set_by_newest = events
                    .iter()
                    .filter(|&&i| Some(i64::from(picks[i].2)) == newest && changed(i))
                    .count();
                prop_assert_eq!(set_by_newest, usize::from(newest.is_some()));
            }
            let reported = (0..picks.len()).filter(|&i| picks[i].0 == conv && changed(i)).count();
            let version = model.field(Collection::Conversations, &id, "version").and_then(Bson::as_i64);
            prop_assert_eq!(version.unwrap_or(0), reported as i64);
        }
    }

    /// Per-field newest: the prefix orders as (time, `seq`) does, and a batch's merge keeps
    /// each field's newest value whatever order the facts come in.
    #[test]
    fn the_customer_merge_keeps_each_fields_newest_value_in_any_order(
        facts in prop::collection::vec((0usize..3, 0i64..10_000_000_000_000, 0i64..1_000, 0u8..4), 1..30)
            .prop_shuffle(),
        a in (0i64..9_999_999_999_999_999, 0i64..999_999_999_999),
        b in (0i64..9_999_999_999_999_999, 0i64..999_999_999_999),
    ) {
        prop_assert_eq!(order_prefix(a.0, Some(a.1)) < order_prefix(b.0, Some(b.1)), a < b);

        let paths = ["profile.first_name", "profile.last_name", "profile.email_address"];
        let as_facts = |list: &[(usize, i64, i64, u8)]| -> Vec<CustomerFacts> {
            list.iter()
                .map(|&(field, at, seq, value)| CustomerFacts {
                    id: "C".into(),
                    conversation: format!("c{value}"),
                    application: None,
                    fields: vec![(paths[field].into(), format!("{}v{value}", order_prefix(at, Some(seq))))],
                    reach: Reach::EveryConversation,
                })
                .collect()
        };
        let forward = as_facts(&facts);
        let mut reversed_list = facts.clone();
        reversed_list.reverse();
        let reversed = as_facts(&reversed_list);
        let merged = customer::merge(&forward);
        prop_assert_eq!(merged.len(), 1);
        let merged_backwards = customer::merge(&reversed);
        prop_assert_eq!(merged[0].fields(), merged_backwards[0].fields());
        for (field, path) in paths.iter().enumerate() {
            let newest = facts
                .iter()
                .filter(|f| f.0 == field)
                .max_by_key(|f| (f.1, f.2, f.3))
                .map(|f| format!("v{}", f.3));
            let kept = merged[0].fields().get(path).map(|v| customer::stored_value(v).to_owned());
            prop_assert_eq!(kept, newest);
        }
    }

    /// The name copy ordered: copies of the customer's name arriving in any order, each
    /// run on its own or folded into a write of the conversation's own events, leave
    /// the newest name on the customer and the conversation, and the conversation's
    /// version moves exactly when the name it shows changes.
    #[test]
    fn the_newest_name_is_kept_whatever_order_copies_arrive_in(
        copies in prop::collection::vec((0i64..12, any::<bool>()), 1..12),
        seed in any::<u64>(),
    ) {
        let name_of = |order: i64| ["Ann", "Bo", "Cy"][(order % 3) as usize].to_owned();
        let mut model = Model::default();
        // The customer and the conversation exist, with no name yet.
        model.run(vec![
            Write { collection: Collection::Customers, filter: doc! { "_id": "C" }, update: doc! {}, upsert: true },
            Write { collection: Collection::Conversations, filter: doc! { "_id": "c0" }, update: doc! {}, upsert: true },
        ], seed);
        let facts = [CustomerFacts {
            id: "C".into(),
            conversation: "c0".into(),
            application: None,
            fields: Vec::new(),
            reach: Reach::ThisConversation,
        }];
        let merges = customer::merge(&facts);
        let mut shows = None;
        let mut renames = 0;
        for (round, &(order, with_event)) in copies.iter().enumerate() {
            let name = CustomerName {
                name: name_of(order),
                order: order_prefix(order, None),
                conversations: vec!["c0".into()],
            };
            let mut copy = NameCopy::plan(&merges, HashMap::from([("C".to_owned(), name)]));
            let shown = Shown {
                name: model.field(Collection::Conversations, "c0", "customer_name").and_then(|b| b.as_str().map(str::to_owned)),
                order: model.field(Collection::Conversations, "c0", "customer_name_order").and_then(|b| b.as_str().map(str::to_owned)),
            };
            copy[0].look(&HashMap::from([("c0".to_owned(), shown)]));
            let seen = copy[0].targets()[0].1;
            let newer = shows.as_ref().is_none_or(|(held, _)| *held < order);
            prop_assert_eq!(seen == Seen::Newer, !newer);
            // With an event of the conversation in the batch, the copy may ride along.
            let own = event(0, 0, round as u8 + 1);
            let events: Vec<EventWrite> = if with_event {
                let p = plan(&own, limits()).expect("a message");
                vec![("c0".to_owned(), p.guard, p.update)]
            } else {
                Vec::new()
            };
            let outcome = write_batch(&mut model, &events, &copy, seed.wrapping_add(round as u64));
            let changes_name = newer && shows.as_ref().is_none_or(|(_, n)| *n != name_of(order));
            renames += usize::from(changes_name);
            if newer {
                shows = Some((order, name_of(order)));
            }
            if !with_event {
                prop_assert_eq!(outcome.renamed.len(), usize::from(changes_name));
            }
        }
        let (order, name) = shows.expect("one copy at least");
        let conversation = |path: &str| model.field(Collection::Conversations, "c0", path).cloned();
        let customer = |path: &str| model.field(Collection::Customers, "C", path).cloned();
        prop_assert_eq!(conversation("customer_name"), Some(Bson::from(name.clone())));
        prop_assert_eq!(customer("name"), Some(Bson::from(name)));
        prop_assert_eq!(customer("name_order"), Some(Bson::from(order_prefix(order, None))));
        let events = copies.iter().filter(|c| c.1).count();
        let version = conversation("version").and_then(|v| v.as_i64()).unwrap_or(0);
        prop_assert_eq!(version, (renames + events) as i64);
    }
}
