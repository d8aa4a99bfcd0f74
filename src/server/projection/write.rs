//! Planned writes: what the projection layer decides and the store carries out. A
//! [`Write`] names a document, the conditions under which it applies (its guards) and
//! the update; the store runs writes without knowing what they stand for, and answers
//! with what each one did ([`Ran`]).
//!
//! The guards are the write path's invariants, each one function here:
//! - **exactly once per event key** ([`once`]): the keys are recorded in the document by
//!   the same write that applies their effects, and a write whose keys are already there
//!   matches nothing;
//! - **newest wins per register** ([`newer`]): a register is replaced only by a higher
//!   order, so any arrival order leaves the newest;
//! - the customer's per-field merge and the name copy build on the same order test
//!   (see `customer` and `names`).

use mongodb::bson::{Bson, Document, doc};

/// The collection a write goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collection {
    Conversations,
    Customers,
}

/// One conditional update of one document.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub collection: Collection,
    /// The document's `_id` and the guards' conditions.
    pub filter: Document,
    pub update: Document,
    /// Whether the write creates the document when the filter matches nothing. An upsert
    /// whose document exists but fails the guards collides on `_id` (see [`Ran`]).
    pub upsert: bool,
}

/// What one write did: changed its document (`true`), matched nothing or changed nothing
/// (`false`), or was refused by the server (the message), which fails that write alone.
pub type WriteOutcome = Result<bool, String>;

/// What running a list of writes did: each one's outcome, in order, and the positions of
/// the upserts that collided on `_id` (the document exists, but the filter did not match).
#[derive(Debug, Default)]
pub struct Ran {
    pub outcomes: Vec<WriteOutcome>,
    pub collided: Vec<usize>,
}

impl Ran {
    /// The first refusal among `outcomes`, if any.
    pub fn refusal(outcomes: &[WriteOutcome]) -> Option<&str> {
        outcomes
            .iter()
            .find_map(|o| o.as_ref().err().map(String::as_str))
    }
}

/// The field recording which events a conversation holds.
pub const APPLIED: &str = "applied";

/// Exactly once per event key: the condition that none of `keys` is recorded yet, and
/// the `$addToSet` operand recording them all.
pub fn once(keys: &[String]) -> (Document, Document) {
    (
        doc! { APPLIED: { "$nin": keys } },
        doc! { APPLIED: { "$each": keys } },
    )
}

/// Newest wins per register: the condition that register `field` was set by an order
/// below `order`, or never. The register keeps its order in `<field>.order`.
pub fn newer(field: &str, order: i64) -> Document {
    below(&format!("{field}.order"), order)
}

/// `field` is absent or below `order`. One predicate on the field, not an `$or` of "less
/// than" and "absent": some servers plan a top-level `$or` as a collection scan even
/// beside an `_id` (secantusd-rs does, which made every guarded write cost a pass over
/// the collection).
pub fn below(field: &str, order: impl Into<Bson>) -> Document {
    doc! { field: { "$not": { "$gte": order.into() } } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guards_say_what_they_test() {
        let keys = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(
            once(&keys),
            (
                doc! { "applied": { "$nin": ["a", "b"] } },
                doc! { "applied": { "$each": ["a", "b"] } }
            )
        );
        assert_eq!(
            newer("decision", 7),
            doc! { "decision.order": { "$not": { "$gte": 7_i64 } } }
        );
        assert_eq!(
            Ran::refusal(&[Ok(true), Err("no".into()), Err("later".into())]),
            Some("no")
        );
    }
}
