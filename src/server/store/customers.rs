//! Reading the `customers` collection: a customer's profile and links, the customers
//! list, and what a batch needs to copy merged names on (see `projection::names`). The
//! writes are planned by `projection::customer` and `projection::names`.

use std::collections::HashMap;

use mongodb::bson::{self, Document, doc};

use super::listing::regex_escape;
use super::{Store, StoreError, SummaryDoc, add_missing_words, summary_projection};
use crate::api::{
    ConversationSummary, Customer, CustomerPage, CustomerProfile, CustomerSummary, search_terms,
};
use crate::server::projection::SEARCH_WORDS;
use crate::server::projection::customer::{SEARCHED, UNNAMED, customer_words, stored_value};
use crate::server::projection::names::{CustomerName, Shown, strings};

impl Store {
    /// The merged names of the customers `ids` that have one, with their conversations.
    pub async fn customer_names(
        &self,
        ids: &[&str],
    ) -> Result<HashMap<String, CustomerName>, StoreError> {
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
            if let (Ok(id), Some(name)) = (doc.get_str("_id"), CustomerName::of(&doc)) {
                names.insert(id.to_owned(), name);
            }
        }
        Ok(names)
    }

    /// What the stored conversations of `ids` show of their customer's name.
    pub async fn shown_names(&self, ids: &[&str]) -> Result<HashMap<String, Shown>, StoreError> {
        let mut shown = HashMap::new();
        if ids.is_empty() {
            return Ok(shown);
        }
        let mut cursor = self
            .conversations
            .find(doc! { "_id": { "$in": ids } })
            .projection(doc! { "customer_name": 1, "customer_name_order": 1 })
            .await?;
        while cursor.advance().await? {
            let doc = cursor.deserialize_current()?;
            let text = |key: &str| doc.get_str(key).ok().map(str::to_owned);
            if let Some(id) = text("_id") {
                let (name, order) = (text("customer_name"), text("customer_name_order"));
                shown.insert(id, Shown { name, order });
            }
        }
        Ok(shown)
    }

    /// Gives search words to the customers stored before customers had them (from the
    /// id, names and email address they have now); returns how many it changed. Harmless
    /// to run again, or from two processes at once.
    pub async fn add_missing_customer_words(&self) -> Result<u64, StoreError> {
        let mut projection = doc! {};
        for path in SEARCHED {
            projection.insert(path, 1);
        }
        let mut cursor = self
            .customers()
            .find(doc! { SEARCH_WORDS: { "$exists": false } })
            .projection(projection)
            .await?;
        let mut changed = 0;
        while cursor.advance().await? {
            let doc = cursor.deserialize_current()?;
            let Ok(id) = doc.get_str("_id") else { continue };
            let profile = doc.get_document("profile").ok();
            let fields = SEARCHED.iter().filter_map(|path| {
                let key = path.strip_prefix("profile.")?;
                Some((*path, profile?.get_str(key).ok()?))
            });
            let words: Vec<String> = customer_words(id, fields).into_iter().collect();
            changed += add_missing_words(&self.customers(), id, words).await?;
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

    /// Customers by name (unnamed ones last) matching `search`: each of its words begins
    /// a word of their id or of a name or email address they have had, whatever the case
    /// and the accents; a page after the one `after` ends.
    pub async fn list_customers(
        &self,
        search: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<CustomerPage, StoreError> {
        let mut clauses: Vec<Document> = search.map(word_prefixes).unwrap_or_default();
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

/// The clauses finding the customers whose search words begin with each word of
/// `search`: a range of the `by_search_word` index each (an anchored, case-sensitive
/// pattern; the words are stored folded, as the search is). The longest word comes
/// first, as likely the rarest: some servers read the index for the first clause only.
fn word_prefixes(search: &str) -> Vec<Document> {
    let mut words = search_terms(search);
    words.sort_by_key(|word| std::cmp::Reverse(word.chars().count()));
    words
        .iter()
        .map(|word| doc! { SEARCH_WORDS: { "$regex": format!("^{}", regex_escape(word)) } })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_search_is_a_range_of_the_index_per_word_longest_first() {
        assert_eq!(
            word_prefixes("Jane SM"),
            [
                doc! { SEARCH_WORDS: { "$regex": "^jane" } },
                doc! { SEARCH_WORDS: { "$regex": "^sm" } },
            ]
        );
        assert_eq!(
            word_prefixes("Chloé o.b"),
            [
                doc! { SEARCH_WORDS: { "$regex": "^chloe" } },
                doc! { SEARCH_WORDS: { "$regex": "^b" } },
                doc! { SEARCH_WORDS: { "$regex": "^o" } },
            ]
        );
    }
}
