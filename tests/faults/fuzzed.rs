//! Fuzzed entries for the running ingest: the contract fixtures, each broken one way —
//! a field missing, a payload that is not JSON or is cut short, bytes that are not
//! UTF-8, a value over the size limit, JSON nested deeper than anyone parses, numbers out
//! of range, an unknown type, the older envelope, fields the contract does not know — or
//! sent again unchanged. (The unit property test drives 100,000 such entries through
//! parsing and projection; these go through Redis, the consumer and the store.)

#[path = "../support/fixtures.rs"]
#[allow(
    dead_code,
    reason = "the fixtures' reader, shared; not all of it is used here"
)]
mod fixtures;

use rand::Rng;
use rand::seq::IndexedRandom;

pub type Fields = Vec<(String, Vec<u8>)>;

/// `count` entries, every one a fixture entry broken one of twelve ways at random. The
/// k-th copy of a fixture entry goes to conversation `fz<k>-<its conversation>`, so no
/// conversation gets two copies of one event: two copies differ in their stream entry
/// ids, which give the event its time when it has none of its own, and which copy a
/// newest-wins register keeps then depends on which arrives first (README, "Where the
/// contract is silent"). Redeliveries of one entry are what the other faults test.
pub fn entries(count: usize) -> Vec<Fields> {
    let fixtures = fixtures::fixture_fields("conversations.jsonl");
    let mut rng = rand::rng();
    let mut copies = vec![0usize; fixtures.len()];
    (0..count)
        .map(|_| {
            let at = rng.random_range(0..fixtures.len());
            copies[at] += 1;
            let mut fields: Vec<(String, Vec<u8>)> = fixtures[at]
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                .collect();
            // `cid` is the older envelope's name for it.
            for (_, conv) in fields.iter_mut().filter(|(k, _)| k == "conv" || k == "cid") {
                let prefix = format!("fz{}-", copies[at]);
                conv.splice(0..0, prefix.into_bytes());
            }
            break_one_way(&mut fields, &mut rng);
            if fields.is_empty() {
                fields.push(("typ".into(), b"user_input".to_vec()));
            }
            fields
        })
        .collect()
}

fn set(fields: &mut Fields, name: &str, value: Vec<u8>) {
    match fields.iter_mut().find(|(k, _)| k == name) {
        Some(field) => field.1 = value,
        None => fields.push((name.to_owned(), value)),
    }
}

fn break_one_way(fields: &mut Fields, rng: &mut impl Rng) {
    match rng.random_range(0..12) {
        0 => {
            let at = rng.random_range(0..fields.len());
            fields.remove(at);
        }
        1 => set(fields, "payload", b"{not json".to_vec()),
        2 => {
            if let Some((_, payload)) = fields.iter_mut().find(|(k, _)| k == "payload") {
                payload.truncate(payload.len() / 2);
            }
        }
        3 => {
            let at = rng.random_range(0..fields.len());
            fields[at].1 = vec![0xff, 0xfe, b'a', 0xc3];
        }
        4 => set(
            fields,
            "payload",
            format!(r#"{{"utterance":"{}"}}"#, "x".repeat(300_000)).into_bytes(),
        ),
        5 => {
            let depth = rng.random_range(90..300);
            let nested = format!(
                r#"{{"decision":"PASS","detail":{}1{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            );
            set(fields, "typ", b"identityRisk_assessment".to_vec());
            set(fields, "payload", nested.into_bytes());
        }
        6 => {
            let seq: &[u8] = [b"99999999999999999999999" as &[u8], b"1.5", b"seven", b""]
                .choose(rng)
                .copied()
                .unwrap_or_default();
            set(fields, "seq", seq.to_vec());
        }
        7 => set(fields, "typ", b"something_new".to_vec()),
        8 => {
            for (name, legacy) in [("conv", "cid"), ("usr", "uid"), ("payload", "dat")] {
                if let Some(field) = fields.iter_mut().find(|(k, _)| k == name) {
                    field.0 = legacy.to_owned();
                }
            }
        }
        9 => set(fields, "unexpected", b"{\"extra\":true}".to_vec()),
        10 => set(
            fields,
            "payload",
            br#"{"loanAmount":1e400,"utterance":12,"created_at":"9999-99-99"}"#.to_vec(),
        ),
        _ => {}
    }
}
