//! The `customers` collection and the customer's name on each of their conversations.
//!
//! Profile fields are merged per field, newest first (see `projection::customer`). The
//! merged full name is then copied to where a supervisor searches and reads it: the
//! customer (`name`, `sort_name`) and every conversation linked to them
//! (`customer_name`). A copy is written only when the name's own order (`name_order`, the
//! newest order among the name fields) is newer than the copy's, so processes merging the
//! same customer at once, or an event applied twice, can never leave an older name
//! behind; and a conversation's version moves only when the name it shows changes.

use std::collections::{BTreeMap, HashMap};

use mongodb::bson::{self, Bson, Document, doc};

use super::batch::{Update, WriteOutcome};
use super::listing::regex_escape;
use super::{Store, StoreError, SummaryDoc, below, summary_projection};
use crate::api::{ConversationSummary, Customer, CustomerPage, CustomerProfile, CustomerSummary};
use crate::server::projection::add_search_words;
use crate::server::projection::customer::{CustomerFacts, Reach, order_of, stored_value};

/// Where unnamed customers sort: after every name.
const UNNAMED: &str = "~";

/// A customer's name after a merge, and how new it is.
#[derive(Debug, Clone, PartialEq)]
struct CustomerName {
    name: String,
    order: String,
    conversations: Vec<String>,
}

/// One customer's facts from a batch, as one write: links added as sets, each profile
/// field's newest value kept.
struct Merge<'a> {
    id: &'a str,
    conversations: Vec<&'a str>,
    applications: Vec<&'a str>,
    fields: BTreeMap<&'a str, &'a str>,
    /// Conversations linked by the batch, which a known name reaches.
    linked: Vec<&'a str>,
    /// Whether the name reaches every conversation of the customer.
    everywhere: bool,
}

impl<'a> Merge<'a> {
    fn new(id: &'a str) -> Self {
        Self {
            id,
            conversations: Vec::new(),
            applications: Vec::new(),
            fields: BTreeMap::new(),
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
            let newest = self.fields.entry(path).or_insert(value);
            if value.as_str() > *newest {
                *newest = value;
            }
        }
        match facts.reach {
            Reach::ThisConversation => add(&mut self.linked, &facts.conversation),
            Reach::EveryConversation => self.everywhere = true,
        }
    }

    fn update(&self) -> Document {
        let mut links = doc! { "conversations": { "$each": &self.conversations } };
        if !self.applications.is_empty() {
            links.insert("applications", doc! { "$each": &self.applications });
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
        update
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

impl NameCopy {
    pub(super) fn targets(&self) -> &[(String, Seen)] {
        &self.targets
    }

    /// The write putting the name on the customer's record.
    pub(super) fn on_customer(&self, store: &Store) -> Update {
        let mut filter = below("name_order", self.order.as_str());
        filter.insert("_id", &self.customer);
        Update {
            collection: store.customers(),
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
    pub(super) fn on_conversation(&self, store: &Store, conv: &str) -> [Update; 2] {
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
        [
            Update {
                collection: store.conversations.clone(),
                filter: same,
                update: doc! { "$set": { "customer_name_order": &self.order } },
                upsert: false,
            },
            Update {
                collection: store.conversations.clone(),
                filter: other,
                update: rename,
                upsert: false,
            },
        ]
    }

    /// The rename as part of a write of the conversation's own events: the conditions it
    /// adds and the update it merges in (the write counts it in the version).
    pub(super) fn as_part(&self) -> (Document, Document) {
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

impl Store {
    /// Stores what a batch's events say of their customers, one write per customer, and
    /// returns each one's merged name with the conversations it reaches: every one for a
    /// profile change, only the linked one for a new link. Two round trips whatever the
    /// batch holds; [`Store::apply_batch`] then writes the copies beside the
    /// conversations' own writes.
    pub async fn merge_customers(
        &self,
        facts: &[CustomerFacts],
    ) -> Result<Vec<NameCopy>, StoreError> {
        let mut merges: Vec<Merge> = Vec::new();
        let mut place: HashMap<&str, usize> = HashMap::new();
        for f in facts {
            let at = *place.entry(f.id.as_str()).or_insert_with(|| {
                merges.push(Merge::new(&f.id));
                merges.len() - 1
            });
            merges[at].absorb(f);
        }
        if merges.is_empty() {
            return Ok(Vec::new());
        }
        let merge = |m: &Merge, upsert: bool| Update {
            collection: self.customers(),
            filter: doc! { "_id": m.id },
            update: m.update(),
            upsert,
        };
        let ran = self
            .run_updates(merges.iter().map(|m| merge(m, true)).collect())
            .await?;
        refused(&ran.outcomes)?;
        if !ran.collided.is_empty() {
            // Another writer created these customers a moment ago: they exist now.
            let again = ran.collided.iter().map(|&i| merge(&merges[i], false));
            let ran = self.run_updates(again.collect()).await?;
            refused(&ran.outcomes)?;
        }

        let mut names = self.customer_names(&merges).await?;
        let mut copies: Vec<NameCopy> = merges
            .iter()
            .filter_map(|m| {
                let name = names.remove(m.id)?;
                let targets = if m.everywhere {
                    name.conversations
                } else {
                    m.linked.iter().map(|c| (*c).to_owned()).collect()
                };
                Some(NameCopy {
                    customer: m.id.to_owned(),
                    name: name.name,
                    order: name.order,
                    targets: targets.into_iter().map(|c| (c, Seen::Other)).collect(),
                })
            })
            .collect();
        self.look_at_targets(&mut copies).await?;
        Ok(copies)
    }

    /// Fills in what each copy's conversations show now (one read for the batch).
    async fn look_at_targets(&self, copies: &mut [NameCopy]) -> Result<(), StoreError> {
        let ids: Vec<&str> = copies
            .iter()
            .flat_map(|c| c.targets.iter().map(|(conv, _)| conv.as_str()))
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let mut cursor = self
            .conversations
            .find(doc! { "_id": { "$in": ids } })
            .projection(doc! { "customer_name": 1, "customer_name_order": 1 })
            .await?;
        let mut shown: HashMap<String, (Option<String>, Option<String>)> = HashMap::new();
        while cursor.advance().await? {
            let doc = cursor.deserialize_current()?;
            let text = |key: &str| doc.get_str(key).ok().map(str::to_owned);
            if let Some(id) = text("_id") {
                shown.insert(id, (text("customer_name"), text("customer_name_order")));
            }
        }
        for copy in copies {
            for (conv, seen) in &mut copy.targets {
                *seen = match shown.get(conv.as_str()) {
                    None => Seen::Missing,
                    Some((_, Some(order))) if *order >= copy.order => Seen::Newer,
                    Some((Some(name), _)) if *name == copy.name => Seen::Same,
                    Some(_) => Seen::Other,
                };
            }
        }
        Ok(())
    }

    /// The merged names of the customers of `merges` that have one.
    async fn customer_names(
        &self,
        merges: &[Merge<'_>],
    ) -> Result<HashMap<String, CustomerName>, StoreError> {
        let ids: Vec<&str> = merges.iter().map(|m| m.id).collect();
        let mut cursor = self
            .customers()
            .find(doc! { "_id": { "$in": ids } })
            .projection(doc! {
                "profile.first_name": 1,
                "profile.middle_name": 1,
                "profile.last_name": 1,
                "conversations": 1,
            })
            .await?;
        let mut names = HashMap::new();
        while cursor.advance().await? {
            let doc = cursor.deserialize_current()?;
            let Ok(id) = doc.get_str("_id") else {
                continue;
            };
            if let Some(name) = name_of(&doc) {
                names.insert(id.to_owned(), name);
            }
        }
        Ok(names)
    }

    /// A customer's profile and links.
    pub async fn get_customer(&self, id: &str) -> Result<Option<Customer>, StoreError> {
        Ok(self
            .customers()
            .find_one(doc! { "_id": id })
            .await?
            .map(|doc| customer_from(id, &doc)))
    }

    /// A customer with their conversations, most recent activity first.
    pub async fn customer_profile(&self, id: &str) -> Result<Option<CustomerProfile>, StoreError> {
        let Some(customer) = self.get_customer(id).await? else {
            return Ok(None);
        };
        let mut cursor = self
            .conversations
            .find(doc! { "$or": [
                { "customer_id": id },
                { "_id": { "$in": &customer.conversations } },
            ] })
            .sort(doc! { "last_activity_at": -1, "_id": -1 })
            .projection(summary_projection())
            .limit(500)
            .await?;
        let mut conversations = Vec::new();
        while cursor.advance().await? {
            let doc: SummaryDoc = bson::from_slice(cursor.current().as_bytes())?;
            conversations.push(ConversationSummary::from(doc));
        }
        Ok(Some(CustomerProfile {
            customer,
            conversations,
        }))
    }

    /// Customers by name (unnamed ones last) matching `search` in their name, email
    /// address or id, case-insensitive; a page after the one `after` ends.
    pub async fn list_customers(
        &self,
        search: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<CustomerPage, StoreError> {
        let mut clauses = Vec::new();
        if let Some(search) = search {
            let text = regex_escape(search);
            let contains = doc! { "$regex": &text, "$options": "i" };
            clauses.push(doc! { "$or": [
                { "name": contains.clone() },
                { "_id": contains },
                // Stored as "<order>|<value>": match the value only.
                { "profile.email_address": { "$regex": format!("^[0-9]*\\|.*{text}"), "$options": "i" } },
            ] });
        }
        if let Some(cursor) = after {
            let (sort_name, id) = cursor.split_once('\n').ok_or(StoreError::BadCursor)?;
            clauses.push(doc! { "$or": [
                { "sort_name": { "$gt": sort_name } },
                { "sort_name": sort_name, "_id": { "$gt": id } },
            ] });
        }
        let query = if clauses.is_empty() {
            Document::new()
        } else {
            doc! { "$and": clauses }
        };
        let limit = limit.clamp(1, 200);
        let mut cursor = self
            .customers()
            .find(query)
            .sort(doc! { "sort_name": 1, "_id": 1 })
            .projection(
                doc! { "name": 1, "sort_name": 1, "profile.email_address": 1, "conversations": 1 },
            )
            .limit(limit as i64 + 1)
            .await?;
        let mut rows = Vec::with_capacity(limit + 1);
        while cursor.advance().await? {
            let doc = cursor.deserialize_current()?;
            let id = doc.get_str("_id").unwrap_or_default().to_owned();
            let sort_name = doc.get_str("sort_name").unwrap_or(UNNAMED).to_owned();
            let summary = CustomerSummary {
                name: doc.get_str("name").ok().map(str::to_owned),
                email_address: doc
                    .get_document("profile")
                    .ok()
                    .and_then(|p| p.get_str("email_address").ok())
                    .map(|v| stored_value(v).to_owned()),
                conversation_count: doc.get_array("conversations").map_or(0, |a| a.len() as i64),
                id,
            };
            rows.push((sort_name, summary));
        }
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last()
                .map(|(sort_name, c)| format!("{sort_name}\n{}", c.id))
        } else {
            None
        };
        Ok(CustomerPage {
            items: rows.into_iter().map(|(_, c)| c).collect(),
            next,
        })
    }
}

/// The customer's merged full name and its order, if they have one.
fn name_of(doc: &Document) -> Option<CustomerName> {
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
    Some(CustomerName {
        name,
        order,
        conversations: strings(doc, "conversations"),
    })
}

/// The first refusal among `outcomes`, as the batch's error: the entries stay pending and
/// are retried one at a time, so only the one that keeps failing is set aside.
pub(super) fn refused(outcomes: &[WriteOutcome]) -> Result<(), StoreError> {
    match outcomes.iter().find_map(|o| o.as_ref().err()) {
        Some(reason) => Err(StoreError::Write(reason.clone())),
        None => Ok(()),
    }
}

fn customer_from(id: &str, doc: &Document) -> Customer {
    let profile = doc.get_document("profile").cloned().unwrap_or_default();
    let text = |d: &Document, key: &str| d.get_str(key).ok().map(|v| stored_value(v).to_owned());
    let address = |key: &str| {
        let a = profile.get_document(key).ok()?;
        if let Some(full) = text(a, "full_address") {
            return Some(full);
        }
        let join = |parts: &[&str]| {
            let parts: Vec<String> = parts.iter().filter_map(|k| text(a, k)).collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        };
        let line: Vec<String> = [
            join(&["unit_number", "street_number", "street_name", "street_type"]),
            join(&["suburb", "state", "postcode"]),
            join(&["country"]),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!line.is_empty()).then(|| line.join(", "))
    };
    let names: Vec<String> = ["first_name", "middle_name", "last_name"]
        .iter()
        .filter_map(|k| text(&profile, k))
        .collect();
    Customer {
        id: id.to_owned(),
        title: text(&profile, "title"),
        preferred_name: text(&profile, "preferred_name"),
        full_name: (!names.is_empty()).then(|| names.join(" ")),
        email_address: text(&profile, "email_address"),
        mobile_phone_number: text(&profile, "mobile_phone_number"),
        date_of_birth: text(&profile, "date_of_birth"),
        residential_address: address("residential_address"),
        mailing_address: address("mailing_address"),
        conversations: strings(doc, "conversations"),
        applications: strings(doc, "applications"),
    }
}

/// The strings of the array `key` of `doc` (none if it has no such array).
fn strings(doc: &Document, key: &str) -> Vec<String> {
    doc.get_array(key)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
