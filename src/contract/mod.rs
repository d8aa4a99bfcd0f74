//! The chatLedger event contract (`shared/contract/EVENTS.md`): turning one raw stream
//! entry into a validated [`Event`].
//!
//! This is the only place that knows field names of the wire format. Everything
//! downstream (projections, live feed) works on [`Event`], so a new envelope spelling or
//! event alias is a change here and nowhere else. No I/O happens here, which keeps the
//! rules cheap to test exhaustively.

mod envelope;
mod event;
mod payload;

pub use envelope::{CONVERSATION_FIELDS, Envelope, MAX_ENTRY_BYTES, RawEntry};
pub use event::{Event, EventId, ParseError, entry_id_millis, parse_iso_millis};
pub use payload::{
    Address, ApplicationDetails, Assessment, AssessmentKind, Body, CustomerPatch, Decision,
    EventKind, NoticePost, Speaker, Summary, TYPES, Utterance,
};

#[cfg(test)]
pub(crate) mod tests;
