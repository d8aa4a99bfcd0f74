//! The customer profile built from `applicationDetail_changed`: fields merged, only those
//! present change, the newest event's value winning per field whatever the arrival order,
//! and links to the customer's conversations and applications.
//!
//! A customer's events come from several conversations, whose `seq`s do not compare, so
//! the order is the event time, then `seq`. Each field is stored as `"<order>|<value>"`
//! with a fixed-width order, so a plain `$max` keeps the newest value in one write, and
//! applying an event again changes nothing: the per-field merge is [`newest`], in a batch
//! ([`merge`]) as in the store. The merged name is copied on by `names`.
//!
//! A customer is searched by the words of their id and of every name and email address
//! an event gave them ([`SEARCHED`]), kept as a set: a union of every event's words is
//! the same whatever the batches and the order, as the projections must be. Words, not
//! every beginning of them: a term is then a range of the index rather than one point,
//! but a store that rewrites a document's index entries on every change (secantusd-rs)
//! lost a quarter of ingest's speed to a customer's 17 to 40 beginnings (BENCHMARKS.md).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use mongodb::bson::{Bson, Document, doc};

use super::SEARCH_WORDS;
use super::write::{Collection, Write};
use crate::api::search_terms;
use crate::contract::{Address, Body, CustomerPatch, Event};

/// Where unnamed customers sort: after every name.
pub const UNNAMED: &str = "~";

/// The profile fields a customer is found by, besides their id.
pub const SEARCHED: [&str; 5] = [
    "profile.first_name",
    "profile.middle_name",
    "profile.last_name",
    "profile.preferred_name",
    "profile.email_address",
];

/// How much of a value is searched: bounds a customer's words whatever an event sends.
const SEARCHED_CHARS: usize = 200;

/// The search words of customer `id` with profile `fields` (paths and stored values):
/// those of the id and of each [`SEARCHED`] field, folded as a search is.
pub fn customer_words<'a>(
    id: &str,
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> BTreeSet<String> {
    let mut words: BTreeSet<String> = words_of(id).collect();
    words.extend(searched_words(fields));
    words
}

/// The words of the first [`SEARCHED_CHARS`] characters of `text`, folded.
fn words_of(text: &str) -> impl Iterator<Item = String> {
    let head: String = text.chars().take(SEARCHED_CHARS).collect();
    search_terms(&head).into_iter()
}

/// The search words of the [`SEARCHED`] fields among `fields`.
fn searched_words<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> impl Iterator<Item = String> {
    fields
        .into_iter()
        .filter(|(path, _)| SEARCHED.contains(path))
        .flat_map(|(_, value)| words_of(stored_value(value)))
}

/// The order prefix of a field set at `at_ms` by an event with `seq`: 16 digits of
/// milliseconds, then 12 of `seq`, so strings compare as (time, `seq`) pairs do.
pub fn order_prefix(at_ms: i64, seq: Option<i64>) -> String {
    format!("{:016}{:012}|", at_ms.max(0), seq.unwrap_or(0).max(0))
}

/// Per-field newest: of two stored `"<order>|<value>"` fields, the one with the newer
/// order (the same comparison the store's `$max` makes).
pub fn newest<'a>(a: &'a str, b: &'a str) -> &'a str {
    if b > a { b } else { a }
}

/// The value of a stored `"<order>|<value>"` field.
pub fn stored_value(field: &str) -> &str {
    field.split_once('|').map_or(field, |(_, value)| value)
}

/// The order of a stored `"<order>|<value>"` field; strings of equal width compare as
/// their orders do.
pub fn order_of(field: &str) -> &str {
    field.split_once('|').map_or("", |(order, _)| order)
}

/// Whom a customer name learnt from an event is copied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The event's own conversation (it links the conversation to a known customer).
    ThisConversation,
    /// Every conversation of the customer (the event may change their name).
    EveryConversation,
}

/// What one event says of its customer: the links to its conversation and application,
/// and each profile field it sets as `"<order>|<value>"`. Every part merges with any
/// other (set union, newest value per field), so a batch's facts about one customer
/// become one write, in any order.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerFacts {
    pub id: String,
    pub conversation: String,
    pub application: Option<String>,
    /// Profile paths (`profile.first_name`, ...) and their ordered values.
    pub fields: Vec<(String, String)>,
    pub reach: Reach,
}

impl CustomerFacts {
    /// What `event` says of its customer; `None` when it names no customer.
    pub fn of(event: &Event) -> Option<Self> {
        match &event.body {
            Body::Started {
                customer_id: Some(customer),
                ..
            } => Some(Self {
                id: customer.clone(),
                conversation: event.conv().to_owned(),
                application: None,
                fields: Vec::new(),
                reach: Reach::ThisConversation,
            }),
            Body::ApplicationDetails(details) => project(
                event,
                details.customer.as_ref()?,
                details.application_number.as_deref(),
            ),
            _ => None,
        }
    }
}

/// The facts of an `applicationDetail_changed` event's customer patch; `None` when it
/// names no customer.
pub fn project(
    event: &Event,
    patch: &CustomerPatch,
    application_number: Option<&str>,
) -> Option<CustomerFacts> {
    let id = patch
        .customer_id
        .clone()
        .or_else(|| event.envelope.user.clone())?;
    let prefix = order_prefix(event.at_ms, event.envelope.seq);
    let mut fields = Vec::new();
    let mut put = |name: String, value: &Option<String>| {
        if let Some(value) = value {
            fields.push((name, format!("{prefix}{value}")));
        }
    };
    for (name, value) in [
        ("title", &patch.title),
        ("preferred_name", &patch.preferred_name),
        ("first_name", &patch.first_name),
        ("middle_name", &patch.middle_name),
        ("last_name", &patch.last_name),
        ("email_address", &patch.email_address),
        ("mobile_phone_number", &patch.mobile_phone_number),
        ("date_of_birth", &patch.date_of_birth),
    ] {
        put(format!("profile.{name}"), value);
    }
    for (which, address) in [
        ("residential_address", &patch.residential_address),
        ("mailing_address", &patch.mailing_address),
    ] {
        let Some(address) = address else { continue };
        for (name, value) in address_fields(address) {
            put(format!("profile.{which}.{name}"), value);
        }
    }
    Some(CustomerFacts {
        id,
        conversation: event.conv().to_owned(),
        application: application_number.map(str::to_owned),
        fields,
        reach: Reach::EveryConversation,
    })
}

/// One customer's facts from a batch, as one write: links added as sets, each profile
/// field's newest value kept.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerMerge<'a> {
    pub id: &'a str,
    conversations: Vec<&'a str>,
    applications: Vec<&'a str>,
    fields: BTreeMap<&'a str, &'a str>,
    /// The search words of the id and of every searched value of the batch, not only
    /// the newest.
    words: BTreeSet<String>,
    /// Conversations linked by the batch, which a known name reaches.
    pub linked: Vec<&'a str>,
    /// Whether the name reaches every conversation of the customer.
    pub everywhere: bool,
}

/// The batch's facts as one merge per customer, in order of first mention.
pub fn merge(facts: &[CustomerFacts]) -> Vec<CustomerMerge<'_>> {
    let mut merges: Vec<CustomerMerge> = Vec::new();
    let mut place: HashMap<&str, usize> = HashMap::new();
    for f in facts {
        let at = *place.entry(f.id.as_str()).or_insert_with(|| {
            merges.push(CustomerMerge::new(&f.id));
            merges.len() - 1
        });
        merges[at].absorb(f);
    }
    merges
}

impl<'a> CustomerMerge<'a> {
    fn new(id: &'a str) -> Self {
        Self {
            id,
            conversations: Vec::new(),
            applications: Vec::new(),
            fields: BTreeMap::new(),
            words: customer_words(id, []),
            linked: Vec::new(),
            everywhere: false,
        }
    }

    fn absorb(&mut self, facts: &'a CustomerFacts) {
        let add = |set: &mut Vec<&'a str>, value: &'a str| {
            if !set.contains(&value) {
                set.push(value);
            }
        };
        add(&mut self.conversations, &facts.conversation);
        if let Some(app) = &facts.application {
            add(&mut self.applications, app);
        }
        for (path, value) in &facts.fields {
            let kept = self.fields.entry(path).or_insert(value);
            *kept = newest(kept, value);
        }
        let fields = facts.fields.iter().map(|(p, v)| (p.as_str(), v.as_str()));
        self.words.extend(searched_words(fields));
        match facts.reach {
            Reach::ThisConversation => add(&mut self.linked, &facts.conversation),
            Reach::EveryConversation => self.everywhere = true,
        }
    }

    /// The newest value of each profile field the batch sets.
    pub fn fields(&self) -> &BTreeMap<&'a str, &'a str> {
        &self.fields
    }

    /// The write storing the merge: `$addToSet` the links and search words, `$max` each
    /// field. `upsert` creates the customer (false once another writer has).
    pub fn write(&self, upsert: bool) -> Write {
        let mut links = doc! { "conversations": { "$each": &self.conversations } };
        if !self.applications.is_empty() {
            links.insert("applications", doc! { "$each": &self.applications });
        }
        if !self.words.is_empty() {
            links.insert(
                SEARCH_WORDS,
                doc! { "$each": self.words.iter().collect::<Vec<_>>() },
            );
        }
        let mut update = doc! {
            "$addToSet": links,
            "$setOnInsert": { "sort_name": UNNAMED },
        };
        if !self.fields.is_empty() {
            let newest: Document = self
                .fields
                .iter()
                .map(|(path, value)| ((*path).to_owned(), Bson::from(*value)))
                .collect();
            update.insert("$max", newest);
        }
        Write {
            collection: Collection::Customers,
            filter: doc! { "_id": self.id },
            update,
            upsert,
        }
    }
}

fn address_fields(a: &Address) -> [(&'static str, &Option<String>); 9] {
    [
        ("unit_number", &a.unit_number),
        ("street_number", &a.street_number),
        ("street_name", &a.street_name),
        ("street_type", &a.street_type),
        ("suburb", &a.suburb),
        ("state", &a.state),
        ("postcode", &a.postcode),
        ("country", &a.country),
        ("full_address", &a.full_address),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::RawEntry;

    #[test]
    fn a_customer_is_found_by_every_name_and_email_the_batch_gave_them() {
        let facts = |order: &str, fields: &[(&str, &str)]| CustomerFacts {
            id: "CU-7".into(),
            conversation: "c".into(),
            application: None,
            fields: fields
                .iter()
                .map(|(path, value)| ((*path).to_owned(), format!("{order}|{value}")))
                .collect(),
            reach: Reach::EveryConversation,
        };
        let batch = [
            facts(
                "1",
                &[("profile.first_name", "Chloé"), ("profile.title", "Dr")],
            ),
            facts(
                "2",
                &[
                    ("profile.first_name", "Zoë"),
                    ("profile.email_address", "z.tuhoe@mail.example"),
                ],
            ),
        ];
        let merges = merge(&batch);
        let write = merges[0].write(true);
        let words = write
            .update
            .get_document("$addToSet")
            .and_then(|d| d.get_document(SEARCH_WORDS))
            .and_then(|d| d.get_array("$each"))
            .unwrap();
        let words: Vec<&str> = words.iter().filter_map(|w| w.as_str()).collect();
        assert_eq!(
            words,
            ["7", "chloe", "cu", "example", "mail", "tuhoe", "z", "zoe"],
            "the older name too, folded; not the title"
        );
        assert_eq!(
            write
                .update
                .get_document("$max")
                .unwrap()
                .get_str("profile.first_name"),
            Ok("2|Zoë"),
            "the profile keeps the newest"
        );
    }

    #[test]
    fn a_value_is_searched_by_its_first_characters_only() {
        let endless = "ab".repeat(10_000);
        let words = customer_words("X", [("profile.first_name", endless.as_str())]);
        assert_eq!(words.len(), 2, "x, and one word of 200 characters");
        assert!(words.iter().all(|w| w.chars().count() <= SEARCHED_CHARS));
    }

    #[test]
    fn newer_events_sort_after_older_ones_field_by_field() {
        let event = |seq: &str, at: &str, first: &str| {
            let payload = format!(
                r#"{{"customer":{{"customer_id":"C1","first_name":"{first}"}},"timestamp":"{at}"}}"#
            );
            let fields = [
                ("conv", "c"),
                ("typ", "applicationDetail_changed"),
                ("agt", "b"),
                ("seq", seq),
                ("payload", payload.as_str()),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
            Event::parse(&RawEntry::new("1-0", fields)).unwrap()
        };
        let value = |e: &Event| {
            let crate::contract::Body::ApplicationDetails(d) = &e.body else {
                panic!()
            };
            let facts = project(e, d.customer.as_ref().unwrap(), Some("APP-1")).unwrap();
            assert_eq!(facts.id, "C1");
            assert_eq!(facts.application.as_deref(), Some("APP-1"));
            assert_eq!(facts.reach, Reach::EveryConversation);
            let (path, value) = &facts.fields[0];
            assert_eq!(path, "profile.first_name");
            value.clone()
        };
        let older = value(&event("9", "2026-01-01T00:00:00Z", "Ann"));
        let newer = value(&event("2", "2026-01-02T00:00:00Z", "Anna"));
        assert!(
            newer > older,
            "a later event wins, whatever its seq in another conversation"
        );
        assert_eq!(stored_value(&newer), "Anna");
        assert_eq!(stored_value("no prefix"), "no prefix");
    }
}
