//! The `customers` collection and the customer's name on each of their conversations.
//!
//! Profile fields are merged per field, newest first (see `projection::customer`). The
//! merged full name is then copied to where a supervisor searches and reads it: the
//! customer (`name`, `sort_name`) and every conversation linked to them
//! (`customer_name`). A copy is written only when the name's own order (`name_order`, the
//! newest order among the name fields) is newer than the copy's, so processes merging the
//! same customer at once, or an event applied twice, can never leave an older name
//! behind; and a conversation's version moves only when the name it shows changes.

use mongodb::bson::{self, Document, doc};
use mongodb::options::ReturnDocument;

use super::listing::regex_escape;
use super::{Store, StoreError, SummaryDoc, below, summary_projection};
use crate::api::{ConversationSummary, Customer, CustomerPage, CustomerProfile, CustomerSummary};
use crate::server::projection::add_search_words;
use crate::server::projection::customer::{order_of, stored_value};

/// Where unnamed customers sort: after every name.
const UNNAMED: &str = "~";

/// A customer's name after a merge, and how new it is.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerName {
    pub id: String,
    pub name: String,
    pub order: String,
    pub conversations: Vec<String>,
}

impl Store {
    /// Merges what an event says of customer `id`; returns their name as now merged.
    pub async fn merge_customer(
        &self,
        id: &str,
        mut update: Document,
    ) -> Result<Option<CustomerName>, StoreError> {
        update.insert("$setOnInsert", doc! { "sort_name": UNNAMED });
        let merged = self
            .customers()
            .find_one_and_update(doc! { "_id": id }, update)
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await?;
        if let Some(name) = merged.as_ref().and_then(|doc| name_of(id, doc)) {
            return Ok(Some(name));
        }
        // When two writers create the same customer at once, the one whose insert lost may
        // be answered with the other's document: read what is stored now.
        let stored = self.customers().find_one(doc! { "_id": id }).await?;
        Ok(stored.and_then(|doc| name_of(id, &doc)))
    }

    /// Links conversation `conv` to customer `id` (creating the customer if they are new);
    /// returns the customer's name if known.
    pub async fn link_customer(
        &self,
        id: &str,
        conv: &str,
    ) -> Result<Option<CustomerName>, StoreError> {
        self.merge_customer(id, doc! { "$addToSet": { "conversations": conv } })
            .await
    }

    /// Copies `name` to the customer's record and to `conversations` where what they hold
    /// is older; returns the conversations that changed, to be announced.
    pub async fn spread_customer_name(
        &self,
        name: &CustomerName,
        conversations: &[String],
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let older = |field: &str| below(field, name.order.as_str());
        let mut on_customer = older("name_order");
        on_customer.insert("_id", &name.id);
        self.customers()
            .update_one(
                on_customer,
                doc! { "$set": {
                    "name": &name.name,
                    "name_order": &name.order,
                    "sort_name": name.name.to_lowercase(),
                } },
            )
            .await?;
        let mut changed = Vec::new();
        for conv in conversations {
            // The same name, newer (an event delivered twice, or a field that changed
            // elsewhere): only the order moves, and the conversation does not change.
            let mut same = older("customer_name_order");
            same.insert("_id", conv);
            same.insert("customer_name", &name.name);
            self.conversations
                .update_one(
                    same,
                    doc! { "$set": { "customer_name_order": &name.order } },
                )
                .await?;
            let mut on_conversation = older("customer_name_order");
            on_conversation.insert("_id", conv);
            on_conversation.insert("customer_name", doc! { "$ne": &name.name });
            let updated = self
                .conversations
                .find_one_and_update(on_conversation, {
                    let mut update = doc! {
                        "$set": { "customer_name": &name.name, "customer_name_order": &name.order },
                        "$inc": { "version": 1_i64 },
                    };
                    add_search_words(&mut update, &name.name);
                    update
                })
                .projection(summary_projection())
                .return_document(ReturnDocument::After)
                .await?;
            if let Some(doc) = updated {
                changed.push(bson::from_document::<SummaryDoc>(doc)?.into());
            }
        }
        Ok(changed)
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
fn name_of(id: &str, doc: &Document) -> Option<CustomerName> {
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
    let conversations = doc
        .get_array("conversations")
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Some(CustomerName {
        id: id.to_owned(),
        name,
        order,
        conversations,
    })
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
    let list = |key: &str| -> Vec<String> {
        doc.get_array(key)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
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
        conversations: list("conversations"),
        applications: list("applications"),
    }
}
