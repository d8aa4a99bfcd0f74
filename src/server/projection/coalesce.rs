//! Coalescing a batch's events per conversation. A store write costs about the same
//! whatever it changes, so the events of one conversation in a batch become one write
//! when their updates can be merged: transcript pushes concatenate, `$inc`s add up,
//! `$min`/`$max` keep the extreme, and the guards combine (none of the events applied
//! before, every register older). Updates that touch the same path any other way (two
//! decisions, say) stay separate writes.
//!
//! The items a write adds to lists (transcript messages, applied keys, search words) are
//! kept apart while merging and put back in [`Group::write`], so that taking an event in
//! copies the small rest of the update, not every message gathered so far.
//!
//! A combined write either applies all of its events or none: when its guards do not
//! all hold (some event was stored before, a register is newer), the batch writes those
//! events one by one instead, each with its own guard (see [`super::batch`]).

use std::cmp::Ordering;

use mongodb::bson::{Bson, Document, doc};

use super::Guard;
use super::write::{Collection, Write, newer, once};

/// Events of one conversation written as one update.
#[derive(Debug, Clone)]
pub struct Group {
    pub conv: String,
    /// Positions of the events in the batch.
    pub members: Vec<usize>,
    once: Vec<String>,
    newer: Vec<(&'static str, i64)>,
    /// Conditions of parts that are not events (a customer name copied along), and how
    /// many such parts the write holds: each counts as a change in the version.
    conditions: Document,
    parts: usize,
    /// The update with its lists' items taken out into `lists`.
    update: Document,
    lists: Vec<List>,
}

/// The items of one `$push` or `$addToSet` of a write, in order.
#[derive(Debug, Clone)]
struct List {
    op: &'static str,
    path: String,
    items: Vec<Bson>,
}

impl Group {
    /// A write of event `i` alone.
    pub fn new(i: usize, conv: &str, guard: &Guard, mut update: Document) -> Self {
        let lists = take_lists(&mut update);
        let mut group = Self {
            conv: conv.to_owned(),
            members: vec![i],
            once: Vec::new(),
            newer: Vec::new(),
            conditions: Document::new(),
            parts: 0,
            update,
            lists,
        };
        group.add_guard(guard);
        group
    }

    fn add_guard(&mut self, guard: &Guard) {
        match guard {
            Guard::Once(key) => self.once.push(key.clone()),
            Guard::Newer { field, order } => self.newer.push((field, *order)),
        }
    }

    /// Takes event `i` into this write if its update merges; says whether it did.
    fn absorb(&mut self, i: usize, guard: &Guard, update: &Document) -> bool {
        // The same event twice (delivered again) or the same register: separate writes,
        // so the guard keeps the second from applying.
        let clash = match guard {
            Guard::Once(key) => self.once.contains(key),
            Guard::Newer { field, .. } => self.newer.iter().any(|(f, _)| f == field),
        };
        if clash {
            return false;
        }
        let mut update = update.clone();
        let lists = take_lists(&mut update);
        match merge(&self.update, &update) {
            Some(merged) => {
                self.update = merged;
                self.add_lists(lists);
                self.members.push(i);
                self.add_guard(guard);
                true
            }
            None => false,
        }
    }

    /// Takes a part that is not an event (`condition` on the document, `update` to it)
    /// into this write if its update merges; says whether it did. The part then holds
    /// or fails with the events.
    pub fn fold(&mut self, (condition, mut update): (Document, Document)) -> bool {
        let clash = condition.keys().any(|k| self.conditions.contains_key(k));
        let lists = take_lists(&mut update);
        match merge(&self.update, &update) {
            Some(merged) if !clash => {
                self.update = merged;
                self.add_lists(lists);
                self.conditions.extend(condition);
                self.parts += 1;
                true
            }
            _ => false,
        }
    }

    /// Appends merged lists' items to those gathered so far.
    fn add_lists(&mut self, lists: Vec<List>) {
        for list in lists {
            match self
                .lists
                .iter_mut()
                .find(|l| l.op == list.op && l.path == list.path)
            {
                Some(gathered) => gathered.items.extend(list.items),
                None => self.lists.push(list),
            }
        }
    }

    /// The write: the events' effects, guarded together, and the conversation's
    /// `version` moved by one per event (and per folded part). It creates the
    /// conversation if there is none.
    pub fn write(&self) -> Write {
        let mut filter = doc! { "_id": &self.conv };
        let mut update = self.update.clone();
        for list in &self.lists {
            if let Ok(fields) = update.get_document_mut(list.op)
                && let Some(Bson::Document(spec)) = fields.get_mut(&list.path)
            {
                spec.insert("$each", list.items.clone());
            }
        }
        if !self.once.is_empty() {
            let (condition, record) = once(&self.once);
            filter.extend(condition);
            // Beside any other set the events add to (a conversation's search words).
            let mut add = update
                .get_document("$addToSet")
                .cloned()
                .unwrap_or_default();
            add.extend(record);
            update.insert("$addToSet", add);
        }
        for (field, order) in &self.newer {
            filter.extend(newer(field, *order));
        }
        filter.extend(self.conditions.clone());
        let mut inc = update.get_document("$inc").cloned().unwrap_or_default();
        inc.insert("version", (self.members.len() + self.parts) as i64);
        update.insert("$inc", inc);
        Write {
            collection: Collection::Conversations,
            filter,
            update,
            upsert: true,
        }
    }
}

/// One event's write as the projection plans it: its conversation, guard and update.
pub type EventWrite = (String, Guard, Document);

/// The write of one event alone.
pub fn single(conv: &str, guard: &Guard, update: Document) -> Write {
    Group::new(0, conv, guard, update).write()
}

/// The batch's writes as groups, in the order of each group's first event.
pub fn group(writes: &[EventWrite]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    // Each conversation's newest group: an event merges into it or starts another.
    let mut newest: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, (conv, guard, update)) in writes.iter().enumerate() {
        if let Some(&g) = newest.get(conv.as_str())
            && groups[g].absorb(i, guard, update)
        {
            continue;
        }
        newest.insert(conv.as_str(), groups.len());
        groups.push(Group::new(i, conv, guard, update.clone()));
    }
    groups
}

/// Moves the items of `update`'s `$push` and `$addToSet` lists out, in order, leaving
/// each `$each` empty.
fn take_lists(update: &mut Document) -> Vec<List> {
    let mut lists = Vec::new();
    for op in ["$push", "$addToSet"] {
        let Ok(fields) = update.get_document_mut(op) else {
            continue;
        };
        for (path, spec) in fields.iter_mut() {
            if let Bson::Document(spec) = spec
                && let Ok(each) = spec.get_array_mut("$each")
            {
                lists.push(List {
                    op,
                    path: path.clone(),
                    items: std::mem::take(each),
                });
            }
        }
    }
    lists
}

/// `a` and `b` as one update with the effect of both, or `None` if they clash.
fn merge(a: &Document, b: &Document) -> Option<Document> {
    let mut out = a.clone();
    for (op, fields) in b {
        let Bson::Document(fields) = fields else {
            return None;
        };
        for (path, value) in fields {
            let same = out.get_document(op).ok().and_then(|f| f.get(path)).cloned();
            if let Some(existing) = same {
                let merged = combine(op, &existing, value)?;
                out.get_document_mut(op).ok()?.insert(path, merged);
                continue;
            }
            // A value set only on insert yields to any other change of its path: `$inc`
            // on a missing count starts from zero, and `$set` is what an insert followed
            // by that change would leave.
            let others = touching(&out, path);
            if op == "$setOnInsert" && !others.is_empty() {
                if others.iter().all(|o| o != "$setOnInsert") {
                    continue;
                }
                return None;
            }
            match others.as_slice() {
                [] => {}
                [only] if only == "$setOnInsert" => {
                    let on_insert = out.get_document_mut("$setOnInsert").ok()?;
                    let gone: Vec<String> = on_insert
                        .keys()
                        .filter(|p| overlaps(p, path))
                        .cloned()
                        .collect();
                    for p in gone {
                        on_insert.remove(&p);
                    }
                }
                _ => return None,
            }
            match out.get_document_mut(op) {
                Ok(target) => {
                    target.insert(path, value.clone());
                }
                Err(_) => {
                    out.insert(op, doc! { path: value.clone() });
                }
            }
        }
    }
    let empty: Vec<String> = out
        .iter()
        .filter(|(_, v)| matches!(v, Bson::Document(d) if d.is_empty()))
        .map(|(op, _)| op.clone())
        .collect();
    for op in empty {
        out.remove(&op);
    }
    Some(out)
}

/// The operators of `update` that change `path` or a path inside or around it.
fn touching(update: &Document, path: &str) -> Vec<String> {
    update
        .iter()
        .filter(|(_, fields)| {
            matches!(fields, Bson::Document(f) if f.keys().any(|p| overlaps(p, path)))
        })
        .map(|(op, _)| op.clone())
        .collect()
}

/// Whether one dotted path is the other or lies inside it.
fn overlaps(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    long == short || (long.starts_with(short) && long.as_bytes().get(short.len()) == Some(&b'.'))
}

/// Two values one operator applies to the same path, as one; `None` if they do not add up.
fn combine(op: &str, a: &Bson, b: &Bson) -> Option<Bson> {
    match op {
        "$inc" => match (a, b) {
            (Bson::Int64(x), Bson::Int64(y)) => Some(Bson::Int64(x + y)),
            (Bson::Int32(x), Bson::Int32(y)) => Some(Bson::Int64(i64::from(*x) + i64::from(*y))),
            _ => None,
        },
        "$min" | "$max" => {
            let order = compare(a, b)?;
            let keep_a = (op == "$min") == (order != Ordering::Greater);
            Some(if keep_a { a.clone() } else { b.clone() })
        }
        "$push" | "$addToSet" => {
            let (Bson::Document(x), Bson::Document(y)) = (a, b) else {
                return None;
            };
            let (Ok(xs), Ok(ys)) = (x.get_array("$each"), y.get_array("$each")) else {
                return None;
            };
            let mut rest_x = x.clone();
            let mut rest_y = y.clone();
            rest_x.remove("$each");
            rest_y.remove("$each");
            if rest_x != rest_y {
                return None;
            }
            let mut merged = x.clone();
            merged.insert("$each", xs.iter().chain(ys).cloned().collect::<Vec<_>>());
            Some(Bson::Document(merged))
        }
        "$set" | "$setOnInsert" if a == b => Some(a.clone()),
        _ => None,
    }
}

fn compare(a: &Bson, b: &Bson) -> Option<Ordering> {
    match (a, b) {
        (Bson::DateTime(x), Bson::DateTime(y)) => Some(x.cmp(y)),
        (Bson::Int64(x), Bson::Int64(y)) => Some(x.cmp(y)),
        (Bson::Int32(x), Bson::Int32(y)) => Some(x.cmp(y)),
        (Bson::Double(x), Bson::Double(y)) => x.partial_cmp(y),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use mongodb::bson::DateTime;

    use super::*;

    fn message(n: i64) -> (String, Guard, Document) {
        let at = DateTime::from_millis(n * 1000);
        (
            "c1".into(),
            Guard::Once(format!("k{n}")),
            doc! {
                "$push": { "messages": { "$each": [{ "n": n }], "$sort": { "seq": 1 }, "$slice": -5_i64 } },
                "$inc": { "message_count": 1_i64 },
                "$min": { "started_at": at },
                "$max": { "last_activity_at": at },
                "$setOnInsert": { "status": "active" },
            },
        )
    }

    fn decision(order: i64, outcome: &str) -> (String, Guard, Document) {
        (
            "c1".into(),
            Guard::Newer {
                field: "decision",
                order,
            },
            doc! {
                "$set": { "decision": { "outcome": outcome, "order": order }, "status": outcome },
                "$max": { "last_activity_at": DateTime::from_millis(order * 1000) },
                "$setOnInsert": { "message_count": 0_i64 },
            },
        )
    }

    #[test]
    fn messages_of_a_conversation_become_one_write() {
        let groups = group(&[message(1), message(3), message(2)]);
        assert_eq!(groups.len(), 1);
        let Write { filter, update, .. } = groups[0].write();
        assert_eq!(
            filter,
            doc! { "_id": "c1", "applied": { "$nin": ["k1", "k3", "k2"] } }
        );
        let push = update.get_document("$push").unwrap();
        assert_eq!(
            push.get_document("messages").ok(),
            Some(&doc! {
                "$each": [{ "n": 1_i64 }, { "n": 3_i64 }, { "n": 2_i64 }],
                "$sort": { "seq": 1 },
                "$slice": -5_i64,
            }),
            "every message, in arrival order, with the push's own options"
        );
        assert_eq!(
            update.get_document("$inc").unwrap(),
            &doc! { "message_count": 3_i64, "version": 3_i64 }
        );
        assert_eq!(
            update.get_document("$min").unwrap(),
            &doc! { "started_at": DateTime::from_millis(1000) }
        );
        assert_eq!(
            update.get_document("$max").unwrap(),
            &doc! { "last_activity_at": DateTime::from_millis(3000) }
        );
        assert_eq!(
            update.get_document("$addToSet").unwrap(),
            &doc! { "applied": { "$each": ["k1", "k3", "k2"] } }
        );
    }

    #[test]
    fn a_value_set_on_insert_yields_to_another_change_of_its_path() {
        let groups = group(&[message(1), decision(9, "approved")]);
        assert_eq!(groups.len(), 1);
        let Write { filter, update, .. } = groups[0].write();
        assert_eq!(
            filter.get_document("decision.order").unwrap(),
            &doc! { "$not": { "$gte": 9_i64 } }
        );
        // The decision's status wins over the message's "active" on insert, and the
        // message's count over the decision's zero.
        assert_eq!(update.get_document("$setOnInsert").ok(), None);
        assert_eq!(
            update.get_document("$set").unwrap().get_str("status"),
            Ok("approved")
        );
        assert_eq!(
            update
                .get_document("$inc")
                .unwrap()
                .get_i64("message_count"),
            Ok(1)
        );
    }

    #[test]
    fn clashing_updates_and_other_conversations_stay_apart() {
        let mut other = message(5);
        other.0 = "c2".into();
        let groups = group(&[
            decision(1, "approved"),
            decision(2, "declined"),
            other,
            message(4),
        ]);
        let members: Vec<_> = groups.iter().map(|g| g.members.clone()).collect();
        assert_eq!(members, vec![vec![0], vec![1, 3], vec![2]]);
    }

    #[test]
    fn an_event_delivered_twice_is_not_merged_with_itself() {
        let groups = group(&[message(1), message(2), message(1)]);
        let members: Vec<_> = groups.iter().map(|g| g.members.clone()).collect();
        assert_eq!(members, vec![vec![0, 1], vec![2]]);
    }

    #[test]
    fn a_folded_part_adds_its_conditions_and_counts_as_a_change() {
        let mut groups = group(&[message(1), message(2)]);
        let name = (
            doc! { "customer_name": { "$ne": "Mia" } },
            doc! {
                "$set": { "customer_name": "Mia" },
                "$addToSet": { "search_words": { "$each": ["mia"] } },
            },
        );
        assert!(groups[0].fold(name.clone()));
        assert!(
            !groups[0].fold(name),
            "a second part with the same conditions stays apart"
        );
        let Write { filter, update, .. } = groups[0].write();
        assert_eq!(
            filter.get_document("customer_name").unwrap(),
            &doc! { "$ne": "Mia" }
        );
        assert_eq!(
            update.get_document("$inc").unwrap().get_i64("version"),
            Ok(3),
            "two events and the part"
        );
        assert_eq!(
            update.get_document("$addToSet").ok(),
            Some(&doc! {
                "search_words": { "$each": ["mia"] },
                "applied": { "$each": ["k1", "k2"] },
            })
        );
    }

    #[test]
    fn paths_overlap_by_whole_segments() {
        assert!(overlaps("a.b", "a"));
        assert!(overlaps("a", "a"));
        assert!(!overlaps("ab", "a"));
        assert!(!overlaps("a.b", "a.c"));
    }
}
