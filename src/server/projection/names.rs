//! The customer's name where a supervisor searches and reads it: the customer (`name`,
//! `sort_name`) and every conversation linked to them (`customer_name`).
//!
//! The name is the merged first, middle and last names, and its order (`name_order`) the
//! newest order among them (see `customer`). **A copy is written only where what is held
//! is older** ([`Shown::takes`], and the same test as a write condition), so processes
//! merging the same customer at once, or an event applied twice, can never leave an older
//! name behind; and a conversation's version moves only when the name it shows changes.

use std::collections::HashMap;

use mongodb::bson::{Document, doc};

use super::add_search_words;
use super::customer::{CustomerMerge, order_of, stored_value};
use super::write::{Collection, Write, below};

/// A customer's merged name, how new it is, and their conversations, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerName {
    pub name: String,
    pub order: String,
    pub conversations: Vec<String>,
}

impl CustomerName {
    /// The name of a stored customer (its `profile` and `conversations`), if they have one.
    pub fn of(doc: &Document) -> Option<Self> {
        let profile = doc.get_document("profile").ok()?;
        let parts: Vec<&str> = ["first_name", "middle_name", "last_name"]
            .iter()
            .filter_map(|k| profile.get_str(k).ok())
            .collect();
        let order = parts.iter().map(|p| order_of(p)).max()?.to_owned();
        let name = parts
            .iter()
            .map(|p| stored_value(p).trim())
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if name.is_empty() {
            return None;
        }
        Some(Self {
            name,
            order,
            conversations: strings(doc, "conversations"),
        })
    }
}

/// The strings of the array `key` of `doc` (none if it has no such array).
pub fn strings(doc: &Document, key: &str) -> Vec<String> {
    doc.get_array(key)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// What a conversation shows of its customer's name when the batch looks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shown {
    pub name: Option<String>,
    pub order: Option<String>,
}

/// What a conversation showed when the batch looked, before writing: a hint that saves
/// writes, never a guard (each write keeps its own conditions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Not stored yet: only a write of its own events (which creates it) can take the name.
    Missing,
    /// A name as new as this one, or newer: nothing to do.
    Newer,
    /// The same name, older: the order moves, and the conversation does not change.
    Same,
    /// Another name, or none: the conversation is renamed.
    Other,
}

impl Shown {
    /// Name copy ordered: whether a copy of `name` with `order` may replace what this
    /// shows, and how.
    pub fn takes(shown: Option<&Self>, name: &str, order: &str) -> Seen {
        match shown {
            None => Seen::Missing,
            Some(Self {
                order: Some(held), ..
            }) if held.as_str() >= order => Seen::Newer,
            Some(Self {
                name: Some(held), ..
            }) if held == name => Seen::Same,
            Some(_) => Seen::Other,
        }
    }
}

/// A customer's merged name, to be copied to their record and to the conversations it
/// reaches (`targets`) wherever what those hold is older.
#[derive(Debug, Clone, PartialEq)]
pub struct NameCopy {
    customer: String,
    name: String,
    order: String,
    targets: Vec<(String, Seen)>,
}

impl NameCopy {
    /// The copies a batch's merges call for, given the merged `names` of their customers
    /// (those without a name have none): to every conversation of the customer for a
    /// profile change, to the linked ones only for a new link.
    pub fn plan(merges: &[CustomerMerge], mut names: HashMap<String, CustomerName>) -> Vec<Self> {
        merges
            .iter()
            .filter_map(|m| {
                let name = names.remove(m.id)?;
                let targets = if m.everywhere {
                    name.conversations
                } else {
                    m.linked.iter().map(|c| (*c).to_owned()).collect()
                };
                Some(Self {
                    customer: m.id.to_owned(),
                    name: name.name,
                    order: name.order,
                    targets: targets.into_iter().map(|c| (c, Seen::Other)).collect(),
                })
            })
            .collect()
    }

    /// The conversations every copy of `copies` reaches.
    pub fn conversations(copies: &[Self]) -> Vec<&str> {
        copies
            .iter()
            .flat_map(|c| c.targets.iter().map(|(conv, _)| conv.as_str()))
            .collect()
    }

    /// Notes what each target conversation shows now (`shown`, by id).
    pub fn look(&mut self, shown: &HashMap<String, Shown>) {
        for (conv, seen) in &mut self.targets {
            *seen = Shown::takes(shown.get(conv.as_str()), &self.name, &self.order);
        }
    }

    pub fn targets(&self) -> &[(String, Seen)] {
        &self.targets
    }

    /// The write putting the name on the customer's record.
    pub fn on_customer(&self) -> Write {
        let mut filter = below("name_order", self.order.as_str());
        filter.insert("_id", &self.customer);
        Write {
            collection: Collection::Customers,
            filter,
            update: doc! { "$set": {
                "name": &self.name,
                "name_order": &self.order,
                "sort_name": self.name.to_lowercase(),
            } },
            upsert: false,
        }
    }

    /// The two writes putting the name on conversation `conv` on its own; the second is
    /// the one that changes the name it shows.
    pub fn on_conversation(&self, conv: &str) -> [Write; 2] {
        let older = || below("customer_name_order", self.order.as_str());
        // The same name, newer (an event delivered twice, or a field that changed
        // elsewhere): only the order moves, and the conversation does not change.
        let mut same = older();
        same.insert("_id", conv);
        same.insert("customer_name", &self.name);
        let mut other = older();
        other.insert("_id", conv);
        other.insert("customer_name", doc! { "$ne": &self.name });
        let mut rename = self.rename();
        rename.insert("$inc", doc! { "version": 1_i64 });
        let write = |filter, update| Write {
            collection: Collection::Conversations,
            filter,
            update,
            upsert: false,
        };
        [
            write(
                same,
                doc! { "$set": { "customer_name_order": &self.order } },
            ),
            write(other, rename),
        ]
    }

    /// The rename as part of a write of the conversation's own events: the conditions it
    /// adds and the update it merges in (the write counts it in the version).
    pub fn as_part(&self) -> (Document, Document) {
        let mut condition = below("customer_name_order", self.order.as_str());
        condition.insert("customer_name", doc! { "$ne": &self.name });
        (condition, self.rename())
    }

    fn rename(&self) -> Document {
        let mut update = doc! {
            "$set": { "customer_name": &self.name, "customer_name_order": &self.order },
        };
        add_search_words(&mut update, &self.name);
        update
    }
}
