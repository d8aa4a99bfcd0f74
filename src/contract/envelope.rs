//! The envelope: the fields of one stream entry, in the current (`conv`, `usr`,
//! `payload`) or the older (`cid`, `uid`, `dat`, `tsp`, `aid`) spelling.

use serde_json::{Map, Value};

use super::event::ParseError;

/// Entries larger than this (sum of field names and values) are refused (EVENTS.md §5).
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;

/// The fields naming an entry's conversation, in the current spelling and the older one.
pub const CONVERSATION_FIELDS: [&str; 2] = ["conv", "cid"];

/// One stream entry as Redis delivers it: its id and its field/value pairs, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    pub id: String,
    pub fields: Vec<(String, String)>,
}

impl RawEntry {
    pub fn new(id: impl Into<String>, fields: Vec<(String, String)>) -> Self {
        Self {
            id: id.into(),
            fields,
        }
    }

    /// The first non-empty value among `names` (empty strings count as absent).
    fn field(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|name| {
            self.fields
                .iter()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| v.as_str())
        })
    }

    fn size(&self) -> usize {
        self.fields.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
}

/// The envelope of an entry, validated but not yet interpreted by event type.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub entry_id: String,
    pub conv: String,
    pub typ: String,
    pub agent: String,
    pub user: Option<String>,
    pub seq: Option<i64>,
    pub class: Option<String>,
    /// `aid` of the older envelope.
    pub application_number: Option<String>,
    /// `tsp` of the older envelope, unparsed.
    pub tsp: Option<String>,
    pub payload: Map<String, Value>,
    pub legacy: bool,
}

impl Envelope {
    /// Validates the envelope fields of `entry`. Every refusal names its reason in words
    /// an operator reading the dead-letter stream understands.
    pub fn parse(entry: &RawEntry) -> Result<Self, ParseError> {
        let size = entry.size();
        if size > MAX_ENTRY_BYTES {
            return Err(ParseError::TooLarge { bytes: size });
        }
        let [current, older] = CONVERSATION_FIELDS;
        let legacy = entry.field(&[current]).is_none() && entry.field(&[older]).is_some();
        let conv = entry
            .field(&CONVERSATION_FIELDS)
            .ok_or(ParseError::Missing("conv"))?;
        let typ = entry.field(&["typ"]).ok_or(ParseError::Missing("typ"))?;
        let seq = entry
            .field(&["seq"])
            .map(|s| {
                s.trim().parse::<i64>().map_err(|_| ParseError::WrongType {
                    field: "seq".to_owned(),
                    expected: "an integer",
                })
            })
            .transpose()?;
        let payload = match entry.field(&["payload", "dat"]) {
            None => Map::new(),
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => map,
                Ok(_) => return Err(ParseError::PayloadNotObject),
                Err(e) => return Err(ParseError::PayloadNotJson(e.to_string())),
            },
        };
        Ok(Self {
            entry_id: entry.id.clone(),
            conv: conv.to_owned(),
            typ: typ.to_owned(),
            agent: entry.field(&["agt"]).unwrap_or_default().to_owned(),
            user: entry.field(&["usr", "uid"]).map(str::to_owned),
            seq,
            class: entry.field(&["cls"]).map(str::to_owned),
            application_number: entry.field(&["aid"]).map(str::to_owned),
            tsp: entry.field(&["tsp"]).map(str::to_owned),
            payload,
            legacy,
        })
    }
}
