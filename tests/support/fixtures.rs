//! The contract's fixtures, copied into `tests/fixtures` (or `CONTRACT_FIXTURES`), for the
//! contract's unit tests and the integration tests alike (each includes this file).

use std::path::PathBuf;

use serde_json::Value;

pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("CONTRACT_FIXTURES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
        PathBuf::from,
    )
}

/// The stream entries of a fixture file, as (fields, the whole JSON line).
pub fn fixture(name: &str) -> Vec<(Vec<(String, String)>, Value)> {
    let text = std::fs::read_to_string(fixtures_dir().join(name)).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap();
            let fields = value["fields"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            (fields, value)
        })
        .collect()
}

/// Just the fields of each entry of a fixture file.
#[allow(dead_code, reason = "not every including crate needs it")]
pub fn fixture_fields(name: &str) -> Vec<Vec<(String, String)>> {
    fixture(name).into_iter().map(|(f, _)| f).collect()
}

/// `expected.json`: what the projections must show for each fixture conversation.
pub fn expected() -> Vec<Value> {
    let text = std::fs::read_to_string(fixtures_dir().join("expected.json")).unwrap();
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}
