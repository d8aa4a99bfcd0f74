//! A batch of events as writes, decided here and run by the store in one round trip when
//! nothing collides (two at most).
//!
//! **First round** ([`Batch::plan`]): the events of one conversation are coalesced into
//! one write where their updates merge (see [`super::coalesce`]), each write keeping its
//! events' guards. The customer names the batch brings (see [`super::names`]) ride along
//! in their conversations' writes; the others are writes of their own. Every effect is
//! order-independent, so the store may run the writes in any order (an unordered
//! `bulkWrite`).
//!
//! **Second round** ([`Batch::settle`]): an upsert that collided with an existing
//! conversation (one that already holds an event of the write, or was created meanwhile
//! by another writer) has its events written again one by one without upserting, each
//! with its own guard, exactly as a single event is; a name folded into it goes on its
//! own. Names held back for conversations the batch creates go in the same round.

use std::collections::HashMap;

use super::coalesce::{EventWrite, Group, group};
use super::names::{NameCopy, Seen};
use super::write::{Ran, Write, WriteOutcome};

/// What a batch did: each event write's outcome (in order), and the conversations whose
/// shown customer name changed other than through a write of their own events.
#[derive(Debug, Default, PartialEq)]
pub struct BatchOutcome {
    pub events: Vec<WriteOutcome>,
    pub renamed: Vec<String>,
}

/// Name copies written on their own, and which of them rename a conversation.
#[derive(Default)]
struct Copies {
    writes: Vec<Write>,
    /// Positions (among `writes`) of the ones that change a conversation's shown name.
    renames: Vec<(usize, String)>,
}

impl Copies {
    fn add_conversation(&mut self, copy: &NameCopy, conv: &str) {
        let [same, rename] = copy.on_conversation(conv);
        self.writes.push(same);
        self.renames.push((self.writes.len(), conv.to_owned()));
        self.writes.push(rename);
    }

    /// Adds the conversations renamed to `renamed`; a copy the server refused fails the
    /// batch (its entries are retried).
    fn finish(&self, outcomes: &[WriteOutcome], renamed: &mut Vec<String>) -> Result<(), String> {
        if let Some(reason) = Ran::refusal(outcomes) {
            return Err(reason.to_owned());
        }
        for (at, conv) in &self.renames {
            if matches!(outcomes.get(*at), Some(Ok(true))) {
                renamed.push(conv.clone());
            }
        }
        Ok(())
    }
}

/// A batch's first round, planned.
pub struct Batch<'a> {
    events: &'a [EventWrite],
    groups: Vec<Group>,
    /// The name folded into each group, if any.
    folded: HashMap<usize, &'a NameCopy>,
    /// Copies to conversations this batch creates that could not ride along (two
    /// customers' names for one conversation): written once the conversation exists,
    /// since the store may run them before its creation.
    later: Vec<(&'a NameCopy, usize)>,
    copies: Copies,
}

/// The second round: events written one by one, and the copies that wait for it.
pub struct Retry<'a> {
    events: &'a [EventWrite],
    outcome: BatchOutcome,
    retried: Vec<usize>,
    copies: Copies,
}

/// What the first round leaves to do.
pub enum Settled<'a> {
    Done(BatchOutcome),
    Retry(Retry<'a>),
}

impl<'a> Batch<'a> {
    /// The first round for `events` and the customer `names` (see [`NameCopy::plan`]).
    pub fn plan(events: &'a [EventWrite], names: &'a [NameCopy]) -> Self {
        let mut groups = group(events);
        // Each conversation's newest write.
        let newest: HashMap<String, usize> = groups
            .iter()
            .enumerate()
            .map(|(g, group)| (group.conv.clone(), g))
            .collect();
        let mut folded: HashMap<usize, &NameCopy> = HashMap::new();
        let mut later = Vec::new();
        let mut copies = Copies::default();
        for copy in names {
            copies.writes.push(copy.on_customer());
            for (conv, seen) in copy.targets() {
                let group = newest.get(conv.as_str()).copied();
                match (seen, group) {
                    (Seen::Newer, _) | (Seen::Missing, None) => {}
                    (Seen::Missing | Seen::Other, Some(g))
                        if !folded.contains_key(&g) && groups[g].fold(copy.as_part()) =>
                    {
                        folded.insert(g, copy);
                    }
                    (Seen::Missing, Some(g)) => later.push((copy, g)),
                    _ => copies.add_conversation(copy, conv),
                }
            }
        }
        Self {
            events,
            groups,
            folded,
            later,
            copies,
        }
    }

    /// The first round's writes: one per group, then the copies of their own.
    pub fn writes(&self) -> Vec<Write> {
        let mut writes: Vec<Write> = self.groups.iter().map(Group::write).collect();
        writes.extend(self.copies.writes.iter().cloned());
        writes
    }

    /// What the first round did (`ran`, for [`Batch::writes`]), and what is left to do.
    /// A copy the server refused is the batch's error.
    pub fn settle(self, ran: Ran) -> Result<Settled<'a>, String> {
        let first_copy = self.groups.len();
        let mut outcome = BatchOutcome {
            events: vec![Ok(false); self.events.len()],
            renamed: Vec::new(),
        };
        for (group, result) in self.groups.iter().zip(&ran.outcomes) {
            for &i in &group.members {
                outcome.events[i] = result.clone();
            }
        }
        self.copies.finish(
            ran.outcomes.get(first_copy..).unwrap_or_default(),
            &mut outcome.renamed,
        )?;
        // A collision means the conversation exists and the group's guards did not all
        // hold there (an event of it was stored before, or a register or the name is
        // newer), or that another writer created it meanwhile.
        let collided: Vec<usize> = ran
            .collided
            .into_iter()
            .filter(|&g| g < first_copy)
            .collect();
        if collided.is_empty() && self.later.is_empty() {
            return Ok(Settled::Done(outcome));
        }
        let retried = collided
            .iter()
            .flat_map(|&g| self.groups[g].members.iter().copied())
            .collect();
        let mut copies = Copies::default();
        for g in &collided {
            if let Some(copy) = self.folded.get(g) {
                copies.add_conversation(copy, &self.groups[*g].conv);
            }
        }
        for (copy, g) in self.later {
            copies.add_conversation(copy, &self.groups[g].conv);
        }
        Ok(Settled::Retry(Retry {
            events: self.events,
            outcome,
            retried,
            copies,
        }))
    }
}

impl Retry<'_> {
    /// The second round's writes: each retried event alone, without creating its
    /// conversation, then the copies.
    pub fn writes(&self) -> Vec<Write> {
        let mut writes: Vec<Write> = self
            .retried
            .iter()
            .map(|&i| {
                let (conv, guard, update) = &self.events[i];
                Write {
                    upsert: false,
                    ..super::coalesce::single(conv, guard, update.clone())
                }
            })
            .collect();
        writes.extend(self.copies.writes.iter().cloned());
        writes
    }

    /// The batch's outcome after the second round (`ran`, for [`Retry::writes`]).
    pub fn settle(mut self, ran: Ran) -> Result<BatchOutcome, String> {
        for (&i, result) in self.retried.iter().zip(&ran.outcomes) {
            self.outcome.events[i] = result.clone();
        }
        self.copies.finish(
            ran.outcomes.get(self.retried.len()..).unwrap_or_default(),
            &mut self.outcome.renamed,
        )?;
        for position in ran.collided {
            if let Some(&i) = self.retried.get(position) {
                self.outcome.events[i] = Err(format!(
                    "conversation {} was being created by another writer",
                    self.events[i].0
                ));
            }
        }
        Ok(self.outcome)
    }
}
