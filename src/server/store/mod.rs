//! MongoDB access. The projections (`conversations`, `customers`) are written only by
//! ingest, which runs the writes the projection layer plans ([`Store::run`]); the store
//! knows nothing of events. The web side only reads them. Users and sessions live beside
//! them so every web process shares one view of who is signed in.

mod audit;
mod customers;
mod listing;
mod run;
mod sessions;
mod timeline;
mod tokens;
mod users;

pub use listing::cursor_position;
pub use timeline::entry_order;
pub use tokens::{MAX_TOKEN_NAME, TOKEN_PREFIX, TokenDoc, TokenNameError, parse_token_name};

pub use audit::AuditEntry;
pub use sessions::MongoSessionStore;
pub use users::{NewUser, Role, UserDoc, UserError, normalise_email, parse_role};

use mongodb::{
    Client, Collection, Database, IndexModel,
    bson::{self, Document, doc},
    error::{Error as MongoError, ErrorKind, WriteFailure},
    options::{IndexOptions, ReturnDocument},
};
use serde::Deserialize;

use crate::api::{
    Application, AssessmentView, ConversationDetail, ConversationSummary, Message, NoticeVersion,
    NoticeboardEntry, Part, Status,
    attention::{self, Signals},
};
use crate::contract::{Decision, EventId, Speaker};
use crate::server::config::ConfigError;
use crate::server::projection::SEARCH_WORDS;
use crate::server::projection::write::{self, Write};

/// A failure of the store. Ingest leaves the entry unacknowledged and retries it; only a
/// refusal ([`StoreError::is_refusal`]) counts towards dead-lettering it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Mongo(#[from] MongoError),
    #[error("stored document is malformed: {0}")]
    Malformed(#[from] bson::de::Error),
    #[error("list cursor is malformed")]
    BadCursor,
    #[error("write refused: {0}")]
    Write(String),
}

/// Server error codes that say the server cannot take writes right now (it is stepping
/// down, shutting down, electing, busy or timed out), not that the write is wrong.
const TRANSIENT_CODES: [i32; 17] = [
    6, 7, 24, 50, 89, 91, 112, 189, 262, 9001, 10107, 11600, 11601, 11602, 13435, 13436, 10058,
];

impl StoreError {
    /// Whether the store refused the write for what it holds or what it was asked (a
    /// document it cannot update, a value it cannot take), rather than being unreachable,
    /// frozen or between primaries. Only a refusal is a failure of the entry; the others
    /// are failures of the moment, retried for as long as they last.
    pub fn is_refusal(&self) -> bool {
        match self {
            Self::Write(_) | Self::Malformed(_) => true,
            Self::BadCursor => false,
            Self::Mongo(e) => {
                if e.contains_label("RetryableWriteError")
                    || e.contains_label("TransientTransactionError")
                {
                    return false;
                }
                match e.kind.as_ref() {
                    ErrorKind::Write(WriteFailure::WriteError(_)) => true,
                    ErrorKind::BulkWrite(b) => {
                        b.write_concern_errors.is_empty() && !b.write_errors.is_empty()
                    }
                    ErrorKind::Command(c) => !TRANSIENT_CODES.contains(&c.code),
                    ErrorKind::InvalidArgument { .. } | ErrorKind::BsonSerialization(_) => true,
                    _ => false,
                }
            }
        }
    }
}

/// What applying an event did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The conversation changed; this is its state after the change.
    Changed(Box<ConversationSummary>),
    /// The event had been applied before; nothing changed.
    Duplicate,
}

#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    db: Database,
    conversations: Collection<Document>,
    /// Cleared when the server turns out to lack the `bulkWrite` command (MongoDB < 8.0):
    /// batches are then written one event at a time.
    bulk: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Fields of a conversation document that the list needs (never the transcript).
const SUMMARY_FIELDS: &[&str] = &[
    "_id",
    "application_number",
    "customer_id",
    "customer_name",
    "application.application_number",
    "application.loan_amount",
    "application.loan_purpose",
    "status",
    "started_at",
    "last_activity_at",
    "message_count",
    "version",
    // The attention queue's signals (`api::attention::Signals`).
    "asked_at",
    "replied_at",
    "decision.at",
    "fraud_check.severity",
    "identity_risk.decision",
];

impl Store {
    /// Connects to the database named in `uri` and makes sure its indexes exist.
    pub async fn connect(uri: &str) -> Result<Self, StartError> {
        let client = Client::with_uri_str(uri)
            .await
            .map_err(|e| StartError::Config(ConfigError::BadDatabaseUri(e.to_string())))?;
        let db = client
            .default_database()
            .ok_or(StartError::Config(ConfigError::NoDatabaseName))?;
        let store = Self {
            conversations: db.collection("conversations"),
            db,
            client,
            bulk: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
        };
        store.ensure_indexes().await?;
        Ok(store)
    }

    /// Ends the store's sessions and closes its connections. A command-line run calls
    /// this before returning: a client merely dropped as the runtime stops ends its
    /// sessions in a task that can outlive the connection pool, and the driver then
    /// panics in that task.
    pub async fn close(self) {
        self.client.shutdown().await;
    }

    async fn ensure_indexes(&self) -> Result<(), StoreError> {
        let index = |name: &str, keys: Document| {
            let options = IndexOptions::builder().name(name.to_owned()).build();
            IndexModel::builder().keys(keys).options(options).build()
        };
        let conversations = [
            // The list, newest activity first.
            index("by_activity", doc! { "last_activity_at": -1, "_id": -1 }),
            // The list searched: one entry per search word, in activity order under each.
            index(
                "by_search_word",
                doc! { SEARCH_WORDS: 1, "last_activity_at": -1, "_id": -1 },
            ),
            // The list filtered by status.
            index(
                "by_status",
                doc! { "status": 1, "last_activity_at": -1, "_id": -1 },
            ),
            // The status task's moves (`refresh_statuses`).
            index("by_status_age", doc! { "status": 1, "last_message_at": 1 }),
            // A customer's conversations.
            index("by_customer", doc! { "customer_id": 1 }),
        ];
        self.conversations.create_indexes(conversations).await?;
        // Customers by name, and searched: one entry per search word, then by name.
        self.customers()
            .create_indexes([
                index("by_name", doc! { "sort_name": 1, "_id": 1 }),
                index(
                    "by_search_word",
                    doc! { SEARCH_WORDS: 1, "sort_name": 1, "_id": 1 },
                ),
            ])
            .await?;
        let mut email = index("email_unique", doc! { "email": 1 });
        if let Some(options) = email.options.as_mut() {
            options.unique = Some(true);
        }
        self.users().create_index(email).await?;
        // A user's sessions; expired ones are removed by the database.
        let mut expiry = index("expiry", doc! { "expires_at": 1 });
        if let Some(options) = expiry.options.as_mut() {
            options.expire_after = Some(std::time::Duration::ZERO);
        }
        self.sessions()
            .create_indexes([index("by_user", doc! { "user_id": 1 }), expiry])
            .await?;
        let mut digest = index("digest_unique", Self::token_index());
        if let Some(options) = digest.options.as_mut() {
            options.unique = Some(true);
        }
        self.db
            .collection::<Document>("api_tokens")
            .create_index(digest)
            .await?;
        Ok(())
    }

    /// Gives the search words of their application numbers and customer name to the
    /// conversations stored before search words existed; returns how many it changed.
    /// Harmless to run again, or from two processes at once.
    pub async fn add_missing_search_words(&self) -> Result<u64, StoreError> {
        let mut cursor = self
            .conversations
            .find(doc! { SEARCH_WORDS: { "$exists": false } })
            .projection(doc! {
                "application_number": 1,
                "application.application_number": 1,
                "customer_name": 1,
            })
            .await?;
        let mut changed = 0;
        while cursor.advance().await? {
            let doc: SummaryDoc = bson::from_slice(cursor.current().as_bytes())?;
            let texts = [
                doc.application_number,
                doc.brief.application_number,
                doc.customer_name,
            ];
            let words: Vec<String> = texts
                .iter()
                .flatten()
                .flat_map(|text| crate::api::search_words(text))
                .collect();
            changed += add_missing_words(&self.conversations, &doc.id, words).await?;
        }
        Ok(changed)
    }

    /// Moves field `from` of every conversation that has it, and not `to` yet, to `to`: a
    /// part whose place changed (see `projection::registers::MOVED`). Returns how many
    /// moved; harmless to run again, or from two processes at once.
    pub async fn move_field(&self, from: &str, to: &str) -> Result<u64, StoreError> {
        let result = self
            .conversations
            .update_many(
                doc! { from: { "$exists": true }, to: { "$exists": false } },
                doc! { "$rename": { from: to } },
            )
            .await?;
        Ok(result.modified_count)
    }

    /// Round trip to the server, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.run_command(doc! { "ping": 1 }).await?;
        Ok(())
    }

    /// Runs one planned write of a conversation (see `projection::coalesce::single`) on
    /// its own and reads the conversation back: the one-event-at-a-time path, which the
    /// benchmark's naive consumer takes. The write's guards are part of it, so a crash
    /// cannot split an effect from its record.
    pub async fn apply(&self, write: Write) -> Result<Applied, StoreError> {
        if write.collection != write::Collection::Conversations {
            return Err(StoreError::Write("apply writes conversations only".into()));
        }
        let Write { filter, update, .. } = write;
        let projection = summary_projection();
        let attempt = |upsert: bool| {
            self.conversations
                .find_one_and_update(filter.clone(), update.clone())
                .upsert(upsert)
                .projection(projection.clone())
                .return_document(ReturnDocument::After)
        };
        let result = match attempt(true).await {
            // The document exists and already holds the event: the upsert's insert
            // collides on `_id`. Or another worker created the document a moment ago;
            // a second, non-inserting attempt tells the two apart.
            Err(e) if is_duplicate_key(&e) => attempt(false).await?,
            other => other?,
        };
        match result {
            Some(doc) => Ok(Applied::Changed(Box::new(
                bson::from_document::<SummaryDoc>(doc)?.into(),
            ))),
            None => Ok(Applied::Duplicate),
        }
    }

    /// Moves undecided conversations into the status band their last message's age puts
    /// them in; returns those that changed. Each move is a conditional write, so processes
    /// running this at once do each move once.
    pub async fn refresh_statuses(
        &self,
        rules: &crate::server::status::StatusRules,
        now_ms: i64,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let mut changed = Vec::new();
        for (status, newest, oldest) in rules.bands(now_ms) {
            let mut age = Document::new();
            if let Some(newest) = newest {
                age.insert("$lt", bson::DateTime::from_millis(newest));
            }
            if let Some(oldest) = oldest {
                age.insert("$gte", bson::DateTime::from_millis(oldest));
            }
            // Undecided conversations in another band (a decided one's status is its
            // outcome), read through `by_status_age`: only the ones to move are visited.
            let from: Vec<Status> = rules
                .bands(now_ms)
                .iter()
                .map(|(band, _, _)| *band)
                .filter(|band| *band != status)
                .collect();
            // One read per status moved from: an equality and a range, which every store
            // plans on the index (secantusd-rs scanned the collection for the `$in`).
            let mut ids: Vec<String> = Vec::new();
            for from in from {
                let candidates = doc! { "status": from.as_str(), "last_message_at": age.clone() };
                ids.extend(
                    self.conversations
                        .distinct("_id", candidates)
                        .await?
                        .into_iter()
                        .filter_map(|id| id.as_str().map(str::to_owned)),
                );
            }
            // Each move is conditional (another process may have moved it, or a message or
            // a decision arrived meanwhile), and found by `_id` alone: with the band's
            // `$in` in it, a planner may pick `by_status_age` and scan the band per move.
            for id in ids {
                let one = doc! {
                    "_id": id,
                    "decision": { "$exists": false },
                    "status": { "$ne": status.as_str() },
                    "last_message_at": age.clone(),
                };
                let moved = self
                    .conversations
                    .find_one_and_update(
                        one,
                        doc! { "$set": { "status": status.as_str() }, "$inc": { "version": 1_i64 } },
                    )
                    .projection(summary_projection())
                    .return_document(ReturnDocument::After)
                    .await?;
                if let Some(doc) = moved {
                    changed.push(bson::from_document::<SummaryDoc>(doc)?.into());
                }
            }
        }
        Ok(changed)
    }

    /// One conversation with its transcript.
    pub async fn get_conversation(
        &self,
        id: &str,
    ) -> Result<Option<ConversationDetail>, StoreError> {
        let Some(doc) = self
            .conversations
            .find_one(doc! { "_id": id })
            .projection(doc! { "applied": 0 })
            .await?
        else {
            return Ok(None);
        };
        let doc: ConversationDoc = bson::from_document(doc)?;
        // The registers are read whole here, so the summary's signals come from them.
        let signals = Signals {
            decided_at_ms: doc
                .decision
                .as_ref()
                .and_then(|d| d.at)
                .map(|t| t.timestamp_millis()),
            fraud_high: doc
                .fraud_check
                .as_ref()
                .and_then(|a| a.severity.as_deref())
                .is_some_and(attention::is_high_severity),
            identity_failed: doc
                .identity_risk
                .as_ref()
                .and_then(|a| a.decision.as_deref())
                .is_some_and(attention::is_failed),
            ..Signals::default()
        };
        let assessments = [
            ("identity_risk", doc.identity_risk),
            ("serviceability", doc.serviceability),
            ("fraud_check", doc.fraud_check),
        ]
        .into_iter()
        .filter_map(|(kind, a)| a.map(|a| a.view(kind)))
        .collect();
        let parts = doc
            .parts
            .into_iter()
            .filter_map(|(name, part)| {
                let json = bson::Bson::Document(part).into_relaxed_extjson();
                Some(Part {
                    name,
                    json: serde_json::to_string(&json).ok()?,
                })
            })
            .collect();
        // `application` is read whole here, so the summary's view of it is filled in.
        let mut summary = ConversationSummary::from(doc.summary);
        summary.signals = Signals {
            waiting_since_ms: summary.signals.waiting_since_ms,
            ..signals
        };
        if let Some(a) = &doc.application {
            summary.application_number = summary
                .application_number
                .or_else(|| a.application_number.clone());
            summary.loan_amount = a.loan_amount;
            summary.loan_purpose = a.loan_purpose.clone();
        }
        Ok(Some(ConversationDetail {
            summary,
            messages: doc.messages.into_iter().map(Message::from).collect(),
            application: doc.application,
            assessments,
            decision: doc.decision.map(|d| d.outcome),
            parts,
            noticeboard: doc
                .noticeboard
                .into_values()
                .map(|entry| NoticeboardEntry {
                    agent_name: entry.agent_name,
                    versions: entry
                        .versions
                        .into_iter()
                        .map(|v| NoticeVersion {
                            content: v.content,
                            at_ms: v.at.timestamp_millis(),
                        })
                        .collect(),
                })
                .collect(),
        }))
    }

    fn customers(&self) -> Collection<Document> {
        self.db.collection("customers")
    }

    pub(crate) fn users(&self) -> Collection<UserDoc> {
        self.db.collection("users")
    }

    pub(crate) fn sessions(&self) -> Collection<Document> {
        self.db.collection("sessions")
    }
}

/// A store that cannot be reached or used at start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn summary_projection() -> Document {
    SUMMARY_FIELDS
        .iter()
        .map(|f| (f.to_string(), 1.into()))
        .collect()
}

/// The server's code for a write that would duplicate a unique key (`_id` included).
pub(crate) const DUPLICATE_KEY: i32 = 11000;

pub(crate) fn is_duplicate_key(e: &MongoError) -> bool {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == DUPLICATE_KEY,
        ErrorKind::Command(c) => c.code == DUPLICATE_KEY,
        _ => false,
    }
}

#[derive(Debug, Deserialize)]
struct SummaryDoc {
    #[serde(rename = "_id")]
    id: String,
    application_number: Option<String>,
    customer_id: Option<String>,
    customer_name: Option<String>,
    #[serde(rename = "application", default)]
    brief: ApplicationBrief,
    #[serde(default)]
    status: String,
    started_at: Option<bson::DateTime>,
    last_activity_at: Option<bson::DateTime>,
    #[serde(default)]
    message_count: i64,
    #[serde(default)]
    version: i64,
    /// See `projection::message`.
    #[serde(default)]
    asked_at: Vec<bson::DateTime>,
    replied_at: Option<bson::DateTime>,
    // Read here for a list; a whole conversation reads these registers whole instead
    // (`ConversationDoc`), which leaves these empty.
    decision: Option<RegisterBrief>,
    fraud_check: Option<RegisterBrief>,
    identity_risk: Option<RegisterBrief>,
}

/// The parts of a register the attention signals are made of.
#[derive(Debug, Default, Deserialize)]
struct RegisterBrief {
    at: Option<bson::DateTime>,
    severity: Option<String>,
    decision: Option<String>,
}

impl RegisterBrief {
    fn decided_at(&self) -> Option<i64> {
        self.at.map(|t| t.timestamp_millis())
    }

    fn high_severity(&self) -> bool {
        self.severity
            .as_deref()
            .is_some_and(attention::is_high_severity)
    }

    fn failed(&self) -> bool {
        self.decision.as_deref().is_some_and(attention::is_failed)
    }
}

/// Since when the customer has waited for a reply: their first message after Billie's
/// last reply, if their last message has none.
fn waiting_since(asked: &[bson::DateTime], replied: Option<bson::DateTime>) -> Option<i64> {
    asked
        .iter()
        .map(|t| t.timestamp_millis())
        .filter(|t| replied.is_none_or(|r| *t > r.timestamp_millis()))
        .min()
}

/// The parts of the application register a list card shows.
#[derive(Debug, Default, Deserialize)]
struct ApplicationBrief {
    application_number: Option<String>,
    loan_amount: Option<f64>,
    loan_purpose: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ConversationDoc {
    #[serde(flatten)]
    summary: SummaryDoc,
    #[serde(default)]
    messages: Vec<MessageDoc>,
    application: Option<Application>,
    identity_risk: Option<AssessmentDoc>,
    serviceability: Option<AssessmentDoc>,
    fraud_check: Option<AssessmentDoc>,
    decision: Option<DecisionDoc>,
    /// Parts kept whole, by name (see `projection::registers::part`).
    #[serde(default)]
    parts: std::collections::BTreeMap<String, Document>,
    /// Keyed by the escaped agent name (see `projection::noticeboard`).
    #[serde(default)]
    noticeboard: std::collections::BTreeMap<String, NoticeboardDoc>,
}

#[derive(Debug, Deserialize)]
struct NoticeboardDoc {
    agent_name: String,
    #[serde(default)]
    versions: Vec<NoticeVersionDoc>,
}

#[derive(Debug, Deserialize)]
struct NoticeVersionDoc {
    #[serde(default)]
    content: String,
    at: bson::DateTime,
}

/// An assessment register (see `projection::registers`).
#[derive(Debug, Deserialize)]
struct AssessmentDoc {
    decision: Option<String>,
    severity: Option<String>,
    final_score: Option<f64>,
    payload: Option<Document>,
}

#[derive(Debug, Deserialize)]
struct DecisionDoc {
    outcome: Decision,
    at: Option<bson::DateTime>,
}

impl AssessmentDoc {
    fn view(self, kind: &str) -> AssessmentView {
        let detail = self
            .payload
            .map(|p| bson::Bson::Document(p).into_relaxed_extjson())
            .and_then(|json| serde_json::to_string_pretty(&json).ok())
            .unwrap_or_default();
        AssessmentView {
            kind: kind.to_owned(),
            decision: self.decision,
            severity: self.severity,
            final_score: self.final_score,
            detail,
        }
    }
}

/// A transcript message as stored (see `projection::message`).
#[derive(Debug, Deserialize)]
struct MessageDoc {
    seq: Option<i64>,
    #[serde(default)]
    entry_id: String,
    speaker: Speaker,
    #[serde(default)]
    text: String,
    rationale: Option<String>,
    answer_input_type: Option<String>,
    at: bson::DateTime,
}

/// Gives document `id` of `collection` its search `words` if it has none yet (another
/// process may have given them meanwhile); how many documents it changed (0 or 1).
pub(super) async fn add_missing_words(
    collection: &Collection<Document>,
    id: &str,
    words: Vec<String>,
) -> Result<u64, StoreError> {
    let filter = doc! { "_id": id, SEARCH_WORDS: { "$exists": false } };
    let result = collection
        .update_one(
            filter,
            doc! { "$addToSet": { SEARCH_WORDS: { "$each": words } } },
        )
        .await?;
    Ok(result.modified_count)
}

impl From<SummaryDoc> for ConversationSummary {
    fn from(d: SummaryDoc) -> Self {
        Self {
            id: d.id,
            // `conversation_started` names the application; the details may come first.
            application_number: d.application_number.or(d.brief.application_number),
            customer_id: d.customer_id,
            customer_name: d.customer_name,
            loan_amount: d.brief.loan_amount,
            loan_purpose: d.brief.loan_purpose,
            // Every stored conversation has a status; one from a newer version that this
            // one does not know reads as active.
            status: Status::parse(&d.status).unwrap_or(Status::Active),
            started_at_ms: d.started_at.map(|t| t.timestamp_millis()),
            last_activity_ms: d.last_activity_at.map(|t| t.timestamp_millis()),
            message_count: d.message_count,
            version: d.version,
            signals: Signals {
                waiting_since_ms: waiting_since(&d.asked_at, d.replied_at),
                decided_at_ms: d.decision.as_ref().and_then(RegisterBrief::decided_at),
                fraud_high: d
                    .fraud_check
                    .as_ref()
                    .is_some_and(RegisterBrief::high_severity),
                identity_failed: d.identity_risk.as_ref().is_some_and(RegisterBrief::failed),
            },
        }
    }
}

impl From<MessageDoc> for Message {
    fn from(m: MessageDoc) -> Self {
        let id = match m.seq {
            Some(seq) => EventId::Seq(seq),
            None => EventId::Entry(m.entry_id),
        };
        Self {
            id: id.key(),
            seq: m.seq,
            speaker: m.speaker,
            text: m.text,
            rationale: m.rationale,
            answer_input_type: m.answer_input_type,
            at_ms: m.at.timestamp_millis(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command_error(code: i32) -> StoreError {
        let error: mongodb::error::CommandError = serde_json::from_value(serde_json::json!({
            "code": code, "codeName": "", "errmsg": "",
        }))
        .unwrap();
        StoreError::Mongo(MongoError::from(ErrorKind::Command(error)))
    }

    #[test]
    fn only_a_refusal_of_what_was_asked_counts_against_an_entry() {
        assert!(StoreError::Write("cannot apply $push to a non-array".into()).is_refusal());
        assert!(command_error(2).is_refusal(), "BadValue");
        assert!(command_error(10334).is_refusal(), "BSONObjectTooLarge");

        let unreachable = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(!StoreError::Mongo(MongoError::from(unreachable)).is_refusal());
        for transient in [91, 189, 10107, 11600, 11602, 13435, 262, 50] {
            assert!(!command_error(transient).is_refusal(), "code {transient}");
        }
    }
}
