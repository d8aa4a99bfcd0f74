//! What the browser and the server say to each other: the data shapes of the
//! conversation views and the live feed, and the `#[server]` functions that read the
//! projections. Shared by both builds; the bodies of the server functions run only on the
//! server, where they use [`crate::server`].

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

mod accounts;
pub mod attention;
mod timeline;
mod tokens;
pub use crate::contract::{Decision, Speaker};
pub use accounts::*;
pub use timeline::*;
pub use tokens::*;

/// Where a conversation stands (EVENTS.md §4): by the time since its last message while
/// undecided, then by its final decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Paused,
    SoftEnd,
    HardEnd,
    Approved,
    Declined,
    Referred,
}

impl Status {
    /// Every status, in the order the filter tabs show them.
    pub const ALL: [Status; 7] = [
        Self::Active,
        Self::Paused,
        Self::SoftEnd,
        Self::HardEnd,
        Self::Approved,
        Self::Declined,
        Self::Referred,
    ];

    /// The name stored, sent and used in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::SoftEnd => "soft_end",
            Self::HardEnd => "hard_end",
            Self::Approved => "approved",
            Self::Declined => "declined",
            Self::Referred => "referred",
        }
    }

    /// What supervisors read.
    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Paused => "Paused",
            Self::SoftEnd => "Soft end",
            Self::HardEnd => "Hard end",
            Self::Approved => "Approved",
            Self::Declined => "Declined",
            Self::Referred => "Referred",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl From<Decision> for Status {
    /// The status a final decision gives (EVENTS.md §4).
    fn from(decision: Decision) -> Self {
        match decision {
            Decision::Approved => Self::Approved,
            Decision::Declined => Self::Declined,
            Decision::Referred => Self::Referred,
        }
    }
}

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages accounts, and sees everything a supervisor sees.
    Admin,
    /// Watches conversations and customers.
    Supervisor,
}

impl Role {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "admin" => Some(Self::Admin),
            "supervisor" => Some(Self::Supervisor),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Supervisor => "supervisor",
        }
    }
}

/// One conversation as a list card shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub id: String,
    pub application_number: Option<String>,
    pub customer_id: Option<String>,
    /// The customer's full name as their profile has it, once known.
    pub customer_name: Option<String>,
    pub loan_amount: Option<f64>,
    pub loan_purpose: Option<String>,
    pub status: Status,
    pub started_at_ms: Option<i64>,
    pub last_activity_ms: Option<i64>,
    pub message_count: i64,
    /// Grows by one with every change applied to the conversation.
    pub version: i64,
    /// What the attention queue and the overview need to know (see [`attention`]).
    #[serde(default, skip_serializing_if = "attention::Signals::is_empty")]
    pub signals: attention::Signals,
}

#[cfg(test)]
impl ConversationSummary {
    /// A conversation known only by its id and status, at version 1: what a test starts
    /// from, setting the fields it is about.
    pub fn example(id: &str, status: Status) -> Self {
        Self {
            id: id.into(),
            application_number: None,
            customer_id: None,
            customer_name: None,
            loan_amount: None,
            loan_purpose: None,
            status,
            started_at_ms: None,
            last_activity_ms: None,
            message_count: 0,
            version: 1,
            signals: attention::Signals::default(),
        }
    }
}

/// One transcript message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The identity of the event that said it, unique in its conversation: `s<seq>`, or
    /// `e<stream entry id>` without `seq` (as the projection records it).
    pub id: String,
    pub seq: Option<i64>,
    pub speaker: Speaker,
    pub text: String,
    pub rationale: Option<String>,
    pub answer_input_type: Option<String>,
    pub at_ms: i64,
}

/// A conversation with its transcript (oldest message first) and what the agents found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationDetail {
    pub summary: ConversationSummary,
    pub messages: Vec<Message>,
    pub application: Option<Application>,
    /// Identity risk, serviceability and fraud check, those that have arrived.
    pub assessments: Vec<AssessmentView>,
    pub decision: Option<Decision>,
    /// Parts set as a whole by one event type and shown as they are (the summary), by
    /// name; read with [`ConversationDetail::part`].
    pub parts: Vec<Part>,
    /// One entry per agent topic, in agent-name order.
    pub noticeboard: Vec<NoticeboardEntry>,
}

/// A part of a conversation kept whole in its contract type (see
/// `projection::registers::part`), as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub name: String,
    pub json: String,
}

impl ConversationDetail {
    /// The part `name`, read into its contract type; `None` when it has not arrived (or
    /// was stored by a version whose type no longer reads).
    pub fn part<T: serde::de::DeserializeOwned>(&self, name: &str) -> Option<T> {
        let part = self.parts.iter().find(|p| p.name == name)?;
        serde_json::from_str(&part.json).ok()
    }
}

/// The posts of one agent topic (`agent_name` = `"<agent>::<Topic>"`), oldest first; the
/// last is the current content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoticeboardEntry {
    pub agent_name: String,
    pub versions: Vec<NoticeVersion>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoticeVersion {
    pub content: String,
    pub at_ms: i64,
}

/// A customer's profile, merged from every application event that named them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    pub title: Option<String>,
    pub preferred_name: Option<String>,
    /// First, middle and last name.
    pub full_name: Option<String>,
    pub email_address: Option<String>,
    pub mobile_phone_number: Option<String>,
    pub date_of_birth: Option<String>,
    /// One line.
    pub residential_address: Option<String>,
    pub mailing_address: Option<String>,
    pub conversations: Vec<String>,
    pub applications: Vec<String>,
}

/// The loan application as last described.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    pub application_number: Option<String>,
    pub loan_amount: Option<f64>,
    pub loan_purpose: Option<String>,
    pub loan_term: Option<f64>,
    pub loan_fee: Option<f64>,
    pub loan_total_payable: Option<f64>,
}

/// One assessment: the summary a supervisor scans, and its full detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssessmentView {
    /// `identity_risk`, `serviceability` or `fraud_check`.
    pub kind: String,
    pub decision: Option<String>,
    pub severity: Option<String>,
    pub final_score: Option<f64>,
    /// The whole payload, as indented JSON.
    pub detail: String,
}

/// A page of the conversation list, most recent activity first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationPage {
    pub items: Vec<ConversationSummary>,
    /// Pass back as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
    /// `WAIT_ALERT_SECS` in ms: when a wait puts a conversation in the attention queue.
    #[serde(default)]
    pub wait_alert_ms: i64,
}

/// A frame of the live feed (`/ws`), serialised once on the server and sent to every
/// browser as JSON text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeedFrame {
    /// Sent once after connecting: everything before it must be fetched, not awaited.
    Hello,
    /// Conversations changed, in the order the changes were stored. The changes of one
    /// ingest batch travel together: under load a browser gets one frame per batch, not
    /// one per event.
    Changes { changes: Vec<Change> },
    /// Changes were lost on the way (a slow reader, a broken upstream): refetch.
    Resync,
    /// Entries reached these conversations without changing them (duplicates, unknown
    /// types, refusals): only their timelines grew.
    Arrivals { conversations: Vec<String> },
}

/// Close code of a live-feed socket whose session has ended: the browser goes to the
/// sign-in page rather than reconnecting.
pub const SIGNED_OUT: u16 = 4001;

/// Close code of a live-feed socket whose session changed (its role): the browser loads
/// the page again, as the session now sees it.
pub const SESSION_CHANGED: u16 = 4002;

/// What a browser tells the live feed, as JSON text: which conversation it shows, whose
/// changes it wants with their new messages (`None`: none). Other conversations' changes
/// come as their summaries alone, which is all a list shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedRequest {
    pub watch: Option<String>,
}

/// A conversation's new state; `conversation.version` orders a conversation's changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub conversation: ConversationSummary,
    /// The message the change added, if it added one.
    pub message: Option<Message>,
}

/// Longest search term accepted.
pub const MAX_SEARCH: usize = 100;

/// Which conversations a list shows: those matching `search` and `status`, and in a set
/// if `among` says one. A search matches a conversation when every term of it begins a
/// word of the conversation's application number or customer name, whatever the case
/// and the accents (see [`search_terms`]): "smi" and "jane sm" find Jane Smith, "APP-49"
/// finds APP-49938-E, "chloe" finds Chloé, "mith" finds nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConversationFilter {
    pub search: Option<String>,
    pub status: Option<Status>,
    /// A set the overview counts, kept by each web process (see `server::tally`).
    pub among: Option<Among>,
}

/// The sets of conversations the overview counts and links to, beside status and search.
/// In a URL: `attention=1`, `waiting=1`, `decided_since=<epoch ms>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Among {
    /// The attention queue (see [`attention::reasons`]).
    Attention,
    /// Customers waiting for a reply, however long.
    Waiting,
    /// Decided at or after this time (epoch ms): "today" on the overview.
    DecidedSince(i64),
}

impl Among {
    /// From the URL's parameters; `None` when none is given.
    pub fn from_params(
        attention: Option<&str>,
        waiting: Option<&str>,
        decided_since: Option<&str>,
    ) -> Result<Option<Self>, FilterError> {
        let on = |v: Option<&str>| v.is_some_and(|v| !v.is_empty() && v != "0");
        let decided = match decided_since.filter(|v| !v.is_empty()) {
            Some(text) => Some(
                text.parse::<i64>()
                    .map_err(|_| FilterError::BadTime(text.to_owned()))?,
            ),
            None => None,
        };
        Ok(match (on(attention), on(waiting), decided) {
            (false, false, None) => None,
            (true, false, None) => Some(Self::Attention),
            (false, true, None) => Some(Self::Waiting),
            (false, false, Some(at)) => Some(Self::DecidedSince(at)),
            _ => return Err(FilterError::OneSet),
        })
    }

    /// The URL parameter that says this set.
    pub fn param(self) -> (&'static str, String) {
        match self {
            Self::Attention => ("attention", "1".into()),
            Self::Waiting => ("waiting", "1".into()),
            Self::DecidedSince(at) => ("decided_since", at.to_string()),
        }
    }

    /// Whether `c` is in the set at `now_ms`, waits alerting after `alert_ms`.
    pub fn holds(self, c: &ConversationSummary, now_ms: i64, alert_ms: i64) -> bool {
        self.holds_of(c.status, &c.signals, now_ms, alert_ms)
    }

    /// [`Self::holds`] for a conversation in `status` with `signals`.
    pub fn holds_of(
        self,
        status: Status,
        signals: &attention::Signals,
        now_ms: i64,
        alert_ms: i64,
    ) -> bool {
        match self {
            Self::Attention => !attention::reasons_of(status, signals, now_ms, alert_ms).is_empty(),
            Self::Waiting => attention::waiting_since(status, signals).is_some(),
            Self::DecidedSince(at) => signals.decided_at_ms.is_some_and(|d| d >= at),
        }
    }

    /// What the list's heading says of the set.
    pub fn label(self) -> &'static str {
        match self {
            Self::Attention => "Needs attention",
            Self::Waiting => "Customers waiting for a reply",
            Self::DecidedSince(_) => "Decided today",
        }
    }
}

impl ConversationFilter {
    /// Builds the filter from what a URL says, refusing what no list could show.
    pub fn parse(search: Option<String>, status: Option<String>) -> Result<Self, FilterError> {
        // A search without a letter or a digit would match everything: it is no search.
        let search = search
            .map(|s| s.trim().to_owned())
            .filter(|s| !search_words(s).is_empty());
        if search
            .as_ref()
            .is_some_and(|s| s.chars().count() > MAX_SEARCH)
        {
            return Err(FilterError::SearchTooLong);
        }
        let status = match status.filter(|s| !s.is_empty()) {
            Some(text) => Some(Status::parse(&text).ok_or(FilterError::UnknownStatus(text))?),
            None => None,
        };
        Ok(Self {
            search,
            status,
            among: None,
        })
    }

    /// Whether `c` belongs in the list, as the server decides it. Lets a live change be
    /// placed or dropped without asking the server. A search matches as supervisors
    /// type: every term of it begins a word of the application number or the customer
    /// name, whatever the case and the accents ([`search_terms`]).
    /// The set ([`Among`]) is not judged here: see [`Self::matches_at`].
    pub fn matches(&self, c: &ConversationSummary) -> bool {
        if self.status.is_some_and(|s| s != c.status) {
            return false;
        }
        let Some(search) = &self.search else {
            return true;
        };
        let words: Vec<String> = [&c.application_number, &c.customer_name]
            .into_iter()
            .flatten()
            .flat_map(|field| search_terms(field))
            .collect();
        search_terms(search)
            .iter()
            .all(|term| words.iter().any(|word| word.starts_with(term.as_str())))
    }
}

impl ConversationFilter {
    /// [`Self::matches`], and in the set ([`Among`]) at `now_ms`, waits alerting after
    /// `alert_ms`.
    pub fn matches_at(&self, c: &ConversationSummary, now_ms: i64, alert_ms: i64) -> bool {
        self.among
            .is_none_or(|among| among.holds(c, now_ms, alert_ms))
            && self.matches(c)
    }
}

/// The terms of a search as you type, and the words it finds them at: [`search_words`]
/// of `text` without its accents ("Chloé" gives "chloe", "Tūhoe" "tuhoe"). A term finds a
/// word it begins.
pub fn search_terms(text: &str) -> Vec<String> {
    search_words(&fold(text))
}

/// `text` without accents: canonical decomposition with the combining marks
/// (U+0300–U+036F) dropped. Letters that do not decompose (ø, ł, ß) stay as they are.
/// The browser asks its own `String.prototype.normalize`, so no tables go into the WASM.
pub fn fold(text: &str) -> String {
    decomposed(text)
        .chars()
        .filter(|c| !('\u{300}'..='\u{36f}').contains(c))
        .collect()
}

#[cfg(feature = "ssr")]
fn decomposed(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.nfd().collect()
}

#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
fn decomposed(text: &str) -> String {
    js_sys::JsString::from(text)
        .normalize("NFD")
        .as_string()
        .unwrap_or_else(|| text.to_owned())
}

#[cfg(not(any(feature = "ssr", feature = "hydrate")))]
fn decomposed(text: &str) -> String {
    text.to_owned()
}

/// The words a search finds `text` by, and the words of a search: its runs of letters and
/// digits, in lower case, each once. The store indexes a conversation by the words of its
/// application numbers and customer names, so a search is a few index lookups, not a scan.
pub fn search_words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect();
    words.sort_unstable();
    words.dedup();
    words
}

/// A list request that cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("a search can be at most {MAX_SEARCH} characters long")]
    SearchTooLong,
    #[error("there is no conversation status called \"{0}\"")]
    UnknownStatus(String),
    #[error("\"{0}\" is not a time: give milliseconds since 1970")]
    BadTime(String),
    #[error("choose one of attention, waiting and decided_since")]
    OneSet,
}

/// How many conversations match a search, in total and per status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusCounts {
    pub total: i64,
    pub by_status: Vec<(Status, i64)>,
}

impl StatusCounts {
    pub fn of(&self, status: Status) -> i64 {
        self.by_status
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n)
    }
}

/// One customer as the customer list shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerSummary {
    pub id: String,
    pub name: Option<String>,
    pub email_address: Option<String>,
    pub conversation_count: i64,
}

/// A page of the customer list, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerPage {
    pub items: Vec<CustomerSummary>,
    pub next: Option<String>,
}

/// A customer's profile and their conversations, most recent activity first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerProfile {
    pub customer: Customer,
    pub conversations: Vec<ConversationSummary>,
}

/// Conversations by most recent activity that match `search` and `status`; `after` is the
/// cursor of the previous page.
/// `among` is one of the sets the overview links to, as its URL parameter says it
/// (`attention=1`, `waiting=1`, `decided_since=<ms>`).
#[server(endpoint = "conversations/list")]
pub async fn list_conversations(
    search: Option<String>,
    status: Option<String>,
    after: Option<String>,
    among: Option<String>,
) -> Result<ConversationPage, ServerFnError> {
    let (state, _) = crate::server::auth::require_user().await?;
    let filter = filter_among(search, status, among).map_err(ServerFnError::new)?;
    let mut page = crate::server::tally::list_page(&state, &filter, after.as_deref(), 50)
        .await
        .map_err(crate::server::errors::tally)?;
    page.wait_alert_ms = state.wait_alert_ms;
    Ok(page)
}

/// The filter of a URL's search, status and set (`among`: `<parameter>=<value>`).
pub fn filter_among(
    search: Option<String>,
    status: Option<String>,
    among: Option<String>,
) -> Result<ConversationFilter, FilterError> {
    let mut filter = ConversationFilter::parse(search, status)?;
    if let Some(among) = among.filter(|a| !a.is_empty()) {
        let (name, value) = among.split_once('=').unwrap_or((among.as_str(), "1"));
        let value = Some(value);
        filter.among = match name {
            "attention" => Among::from_params(value, None, None),
            "waiting" => Among::from_params(None, value, None),
            "decided_since" => Among::from_params(None, None, value),
            _ => Err(FilterError::OneSet),
        }?;
    }
    Ok(filter)
}

/// How many conversations match `search`, per status.
#[server(endpoint = "conversations/counts")]
pub async fn count_conversations(
    search: Option<String>,
    among: Option<String>,
) -> Result<StatusCounts, ServerFnError> {
    let (state, _) = crate::server::auth::require_user().await?;
    let filter = filter_among(search, None, among).map_err(ServerFnError::new)?;
    // The counts the web process keeps from the live feed, once it has loaded them (a
    // set's always: the store does not know the sets).
    let now = crate::server::tally::now_ms();
    let alert = state.wait_alert_ms;
    let kept = match (&filter.search, filter.among) {
        (None, None) => state.tally.counts(),
        (_, Some(_)) => Some(
            state
                .tally
                .read_loaded(|c| c.select_counts(&filter, now, alert))
                .await
                .map_err(crate::server::errors::tally)?,
        ),
        (Some(_), None) => state.tally.read(|c| c.select_counts(&filter, now, alert)),
    };
    if let Some(counts) = kept {
        return Ok(counts);
    }
    // Lists asking at the same time share one count that started after they asked.
    let store = state.store.clone();
    let read = {
        let filter = filter.clone();
        move || {
            let (store, filter) = (store.clone(), filter.clone());
            async move {
                store
                    .count_conversations(&filter)
                    .await
                    .map_err(std::sync::Arc::new)
            }
        }
    };
    state
        .counts
        .get(filter, read)
        .await
        .map_err(crate::server::errors::internal)?
        .map_err(crate::server::errors::internal)
}

/// One conversation with its transcript; `None` if no such conversation exists.
#[server(endpoint = "conversations/get")]
pub async fn get_conversation(id: String) -> Result<Option<ConversationDetail>, ServerFnError> {
    let (state, user) = crate::server::auth::require_user().await?;
    crate::server::audit::viewed(&state, &user, "conversation", &id).await;
    state
        .store
        .get_conversation(&id)
        .await
        .map_err(crate::server::errors::store)
}

/// Customers by name that match `search` (name, email or customer id).
#[server(endpoint = "customers/list")]
pub async fn list_customers(
    search: Option<String>,
    after: Option<String>,
) -> Result<CustomerPage, ServerFnError> {
    let (state, _) = crate::server::auth::require_user().await?;
    let filter = ConversationFilter::parse(search, None).map_err(ServerFnError::new)?;
    state
        .store
        .list_customers(filter.search.as_deref(), after.as_deref(), 50)
        .await
        .map_err(crate::server::errors::store)
}

/// One customer's profile; `None` if no such customer exists.
#[server(endpoint = "customers/get")]
pub async fn get_customer(id: String) -> Result<Option<CustomerProfile>, ServerFnError> {
    let (state, user) = crate::server::auth::require_user().await?;
    crate::server::audit::viewed(&state, &user, "customer", &id).await;
    state
        .store
        .customer_profile(&id)
        .await
        .map_err(crate::server::errors::store)
}
