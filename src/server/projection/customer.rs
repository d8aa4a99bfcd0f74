//! The customer profile built from `applicationDetail_changed`: fields merged, only those
//! present change, the newest event's value winning per field whatever the arrival order,
//! and links to the customer's conversations and applications.
//!
//! A customer's events come from several conversations, whose `seq`s do not compare, so
//! the order is the event time, then `seq`. Each field is stored as `"<order>|<value>"`
//! with a fixed-width order, so a plain `$max` keeps the newest value in one write, and
//! applying an event again changes nothing.

use mongodb::bson::{Document, doc};

use crate::contract::{Address, CustomerPatch, Event};

/// Width of each part of the order prefix: 16 digits of milliseconds, 12 of `seq`.
fn order_prefix(event: &Event) -> String {
    format!(
        "{:016}{:012}|",
        event.at_ms.max(0),
        event.envelope.seq.unwrap_or(0).max(0)
    )
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

/// The customer's id, and the update recording what the event says of them; `None` when
/// the event names no customer.
pub fn project(
    event: &Event,
    patch: &CustomerPatch,
    application_number: Option<&str>,
) -> Option<(String, Document)> {
    let id = patch
        .customer_id
        .clone()
        .or_else(|| event.envelope.user.clone())?;
    let prefix = order_prefix(event);
    let mut newest = Document::new();
    let mut put = |name: String, value: &Option<String>| {
        if let Some(value) = value {
            newest.insert(name, format!("{prefix}{value}"));
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
    let mut links = doc! { "conversations": event.conv() };
    if let Some(app) = application_number {
        links.insert("applications", app);
    }
    let mut update = doc! { "$addToSet": links };
    if !newest.is_empty() {
        update.insert("$max", newest);
    }
    Some((id, update))
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
            let (id, update) = project(e, d.customer.as_ref().unwrap(), Some("APP-1")).unwrap();
            assert_eq!(id, "C1");
            update
                .get_document("$max")
                .unwrap()
                .get_str("profile.first_name")
                .unwrap()
                .to_owned()
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
