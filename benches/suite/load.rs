//! The benchmark's load: the demo simulator's scripted conversations (every event type of
//! the contract, one in five in the older envelope), many in progress at once and their
//! entries interleaved as the chat platform's agents would append them.

use billie_dashboard::cli::simulate::Script;
use rand::{Rng, SeedableRng, rngs::StdRng};

/// One ledger entry: its conversation, type and fields.
pub struct Entry {
    pub conv: String,
    pub typ: String,
    pub fields: Vec<(&'static str, String)>,
}

impl Entry {
    /// A transcript message (its conversation's `message_count` grows by one).
    pub fn is_message(&self) -> bool {
        matches!(self.typ.as_str(), "user_input" | "assistant_response")
    }
}

pub struct Load {
    rng: StdRng,
    live: Vec<Script>,
    /// Conversations still to start once one in progress ends.
    to_start: usize,
}

impl Load {
    /// `conversations` conversations in all, `concurrent` of them in progress at once.
    pub fn new(seed: u64, concurrent: usize, conversations: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let first = concurrent.min(conversations).max(1);
        let live = (0..first).map(|_| Script::new(&mut rng)).collect();
        Self {
            rng,
            live,
            to_start: conversations.saturating_sub(first),
        }
    }
}

impl Iterator for Load {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        while !self.live.is_empty() {
            let slot = self.rng.random_range(0..self.live.len());
            let script = &mut self.live[slot];
            if let Some(fields) = script.next_entry() {
                let typ = fields
                    .iter()
                    .find(|(k, _)| *k == "typ")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                return Some(Entry {
                    conv: script.conv().to_owned(),
                    typ,
                    fields,
                });
            }
            if self.to_start > 0 {
                self.to_start -= 1;
                self.live[slot] = Script::new(&mut self.rng);
            } else {
                self.live.swap_remove(slot);
            }
        }
        None
    }
}
