//! The event types of EVENTS.md §3 and what each says: their names ([`EventKind`]), and
//! their bodies ([`Body`]), typed: messages, application details (with the customer),
//! assessments, noticeboard posts, decisions and summaries. Each is checked for the
//! fields its type uses, so a wrongly typed field is refused at the door (and
//! dead-lettered) instead of reaching a projection. A new event type is a change here
//! (its names, its body and how to read it) and nowhere else in the contract.

use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::envelope::Envelope;
use super::event::{ParseError, parse_iso_millis};

/// The event types of EVENTS.md §3, aliases folded into their canonical name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    ConversationStarted,
    UserInput,
    AssistantResponse,
    ApplicationDetailChanged,
    IdentityRiskAssessment,
    ServiceabilityAssessment,
    FraudCheckAssessment,
    NoticeboardUpdated,
    FinalDecision,
    ConversationSummary,
    /// A type the contract does not name: acknowledged, counted, otherwise ignored.
    Unknown(String),
}

/// Every type name of the contract and its kind, aliases too; the first name of a kind
/// is its canonical one.
pub const TYPES: &[(&str, EventKind)] = &[
    ("conversation_started", EventKind::ConversationStarted),
    ("user_input", EventKind::UserInput),
    ("assistant_response", EventKind::AssistantResponse),
    (
        "applicationDetail_changed",
        EventKind::ApplicationDetailChanged,
    ),
    ("identityRisk_assessment", EventKind::IdentityRiskAssessment),
    (
        "serviceability_assessment_results",
        EventKind::ServiceabilityAssessment,
    ),
    (
        "credit_assessment_serviceability_result",
        EventKind::ServiceabilityAssessment,
    ),
    ("fraudCheck_assessment", EventKind::FraudCheckAssessment),
    ("fraud_risk.assessment.v1", EventKind::FraudCheckAssessment),
    ("noticeboard_updated", EventKind::NoticeboardUpdated),
    ("noticeboard_post", EventKind::NoticeboardUpdated),
    ("final_decision", EventKind::FinalDecision),
    ("final_credit_decision", EventKind::FinalDecision),
    ("conversation_summary", EventKind::ConversationSummary),
];

impl EventKind {
    pub fn from_typ(typ: &str) -> Self {
        TYPES
            .iter()
            .find(|(name, _)| *name == typ)
            .map_or_else(|| Self::Unknown(typ.to_owned()), |(_, kind)| kind.clone())
    }

    /// The canonical name, used as a metrics label.
    pub fn name(&self) -> &str {
        match self {
            Self::Unknown(typ) => typ,
            known => TYPES
                .iter()
                .find(|(_, kind)| kind == known)
                .map_or("", |(name, _)| name),
        }
    }
}

/// Who said a transcript message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    Customer,
    Assistant,
}

/// A transcript message carried by `user_input` or `assistant_response`.
#[derive(Debug, Clone, PartialEq)]
pub struct Utterance {
    pub speaker: Speaker,
    pub text: String,
    pub rationale: Option<String>,
    pub answer_input_type: Option<String>,
    pub end_conversation: bool,
}

/// What an event says, checked for the fields its type uses.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Started {
        application_number: Option<String>,
        customer_id: Option<String>,
    },
    Message(Utterance),
    ApplicationDetails(ApplicationDetails),
    Assessment(Assessment),
    Notice(NoticePost),
    Decision(Decision),
    Summary(Summary),
    /// A type the contract does not know: its payload is not looked at.
    Other,
}

impl Body {
    /// What `envelope` says as an event of `kind`, checked for the fields that type uses.
    pub fn parse(kind: &EventKind, envelope: &Envelope) -> Result<Self, ParseError> {
        let payload = &envelope.payload;
        Ok(match kind {
            EventKind::ConversationStarted => Self::Started {
                application_number: opt_str(payload, "application_number", "application_number")?
                    .or_else(|| envelope.application_number.clone()),
                customer_id: opt_str(payload, "customer_id", "customer_id")?
                    .or_else(|| envelope.user.clone()),
            },
            EventKind::UserInput | EventKind::AssistantResponse => {
                let speaker = if *kind == EventKind::UserInput {
                    Speaker::Customer
                } else {
                    Speaker::Assistant
                };
                Self::Message(Utterance {
                    speaker,
                    text: opt_str(payload, "utterance", "payload.utterance")?.unwrap_or_default(),
                    rationale: opt_str(payload, "rationale", "payload.rationale")?,
                    answer_input_type: opt_str(
                        payload,
                        "answer_input_type",
                        "payload.answer_input_type",
                    )?,
                    end_conversation: match payload.get("end_conversation") {
                        None | Some(Value::Null) => false,
                        Some(Value::Bool(b)) => *b,
                        Some(_) => {
                            return Err(ParseError::WrongType {
                                field: "payload.end_conversation".to_owned(),
                                expected: "a boolean",
                            });
                        }
                    },
                })
            }
            EventKind::ApplicationDetailChanged => {
                Self::ApplicationDetails(application_details(payload)?)
            }
            EventKind::IdentityRiskAssessment => {
                Self::Assessment(assessment(AssessmentKind::IdentityRisk, payload)?)
            }
            EventKind::ServiceabilityAssessment => {
                Self::Assessment(assessment(AssessmentKind::Serviceability, payload)?)
            }
            EventKind::FraudCheckAssessment => {
                Self::Assessment(assessment(AssessmentKind::FraudCheck, payload)?)
            }
            EventKind::NoticeboardUpdated => Self::Notice(notice_post(payload)?),
            EventKind::FinalDecision => Self::Decision(decision(payload)?),
            EventKind::ConversationSummary => Self::Summary(summary(payload)?),
            EventKind::Unknown(_) => Self::Other,
        })
    }
}

/// A string field of the payload; absent, null and "" all read as `None`.
fn opt_str(
    payload: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<Option<String>, ParseError> {
    match payload.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ParseError::WrongType {
            field: field.to_owned(),
            expected: "a string",
        }),
    }
}

impl Speaker {
    /// As the store keeps it and the API sends it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Assistant => "assistant",
        }
    }
}

/// `applicationDetail_changed`: the application, and the customer's profile fields that
/// are present (only those change).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApplicationDetails {
    pub application_number: Option<String>,
    pub loan_amount: Option<f64>,
    pub loan_purpose: Option<String>,
    pub loan_term: Option<f64>,
    pub loan_fee: Option<f64>,
    pub loan_total_payable: Option<f64>,
    /// Boxed: it is large, and most events are messages.
    pub customer: Option<Box<CustomerPatch>>,
}

/// The customer fields an event carries; `None` means "not in this event".
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomerPatch {
    pub customer_id: Option<String>,
    pub title: Option<String>,
    pub preferred_name: Option<String>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    pub email_address: Option<String>,
    pub mobile_phone_number: Option<String>,
    /// `YYYY-MM-DD`, checked.
    pub date_of_birth: Option<String>,
    pub residential_address: Option<Address>,
    pub mailing_address: Option<Address>,
}

impl CustomerPatch {
    /// First, middle and last name, those present, joined by spaces.
    pub fn full_name(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.first_name, &self.middle_name, &self.last_name]
            .into_iter()
            .filter_map(|p| p.as_deref())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Address {
    pub unit_number: Option<String>,
    pub street_number: Option<String>,
    pub street_name: Option<String>,
    pub street_type: Option<String>,
    pub suburb: Option<String>,
    pub state: Option<String>,
    pub postcode: Option<String>,
    pub country: Option<String>,
    pub full_address: Option<String>,
}

/// Which assessment an event carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssessmentKind {
    IdentityRisk,
    Serviceability,
    FraudCheck,
}

/// An assessment: its whole payload, kept, and the summary a supervisor scans.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub kind: AssessmentKind,
    pub decision: Option<String>,
    pub severity: Option<String>,
    pub final_score: Option<f64>,
    pub payload: Map<String, Value>,
}

/// A noticeboard post: the newest content of the entry `agent_name`.
#[derive(Debug, Clone, PartialEq)]
pub struct NoticePost {
    /// `"<agent>::<Topic>"`.
    pub agent_name: String,
    pub content: String,
    /// `timestamp` of the payload, if readable.
    pub at_ms: Option<i64>,
}

/// The final credit decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Decision {
    Approved,
    Declined,
    Referred,
}

impl Decision {
    /// As the contract writes it (and the store keeps it).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "APPROVED",
            Self::Declined => "DECLINED",
            Self::Referred => "REFERRED",
        }
    }
}

/// `conversation_summary`. Kept whole as a part of the conversation (see
/// `projection::registers::part`), and read back by the view in this type.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub purpose: Option<String>,
    #[serde(default)]
    pub facts: Vec<String>,
}

/// Reads fields of one JSON object, naming them `<prefix>.<key>` in errors.
struct Fields<'a> {
    object: &'a Map<String, Value>,
    prefix: &'static str,
}

impl<'a> Fields<'a> {
    fn new(object: &'a Map<String, Value>, prefix: &'static str) -> Self {
        Self { object, prefix }
    }

    fn wrong(&self, key: &str, expected: &'static str) -> ParseError {
        ParseError::WrongType {
            field: format!("{}.{key}", self.prefix),
            expected,
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        match self.object.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(v) => Some(v),
        }
    }

    /// A string; numbers are accepted as their text (ids and postcodes are often sent
    /// as numbers).
    fn text(&self, key: &str) -> Result<Option<String>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(self.wrong(key, "a string")),
        }
    }

    /// A number; a string holding one is accepted.
    fn number(&self, key: &str) -> Result<Option<f64>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "a number")),
            Some(Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .map(Some)
                .ok_or_else(|| self.wrong(key, "a number")),
            Some(_) => Err(self.wrong(key, "a number")),
        }
    }

    fn object(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(o)) => Ok(Some(o)),
            Some(_) => Err(self.wrong(key, "an object")),
        }
    }

    fn strings(&self, key: &str) -> Result<Option<Vec<String>>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(self.wrong(key, "a list of strings")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(self.wrong(key, "a list of strings")),
        }
    }
}

fn application_details(payload: &Map<String, Value>) -> Result<ApplicationDetails, ParseError> {
    let f = Fields::new(payload, "payload");
    Ok(ApplicationDetails {
        application_number: f.text("applicationNumber")?,
        loan_amount: f.number("loanAmount")?,
        loan_purpose: f.text("loanPurpose")?,
        loan_term: f.number("loanTerm")?,
        loan_fee: f.number("loanFee")?,
        loan_total_payable: f.number("loanTotalPayable")?,
        customer: f
            .object("customer")?
            .map(customer)
            .transpose()?
            .map(Box::new),
    })
}

fn customer(object: &Map<String, Value>) -> Result<CustomerPatch, ParseError> {
    let f = Fields::new(object, "payload.customer");
    let date_of_birth = f.text("date_of_birth")?;
    if let Some(dob) = &date_of_birth
        && NaiveDate::parse_from_str(dob, "%Y-%m-%d").is_err()
    {
        return Err(f.wrong("date_of_birth", "a date (YYYY-MM-DD)"));
    }
    let address = |key: &str| -> Result<Option<Address>, ParseError> {
        let Some(object) = f.object(key)? else {
            return Ok(None);
        };
        let a = Fields::new(object, "payload.customer.address");
        Ok(Some(Address {
            unit_number: a.text("unit_number")?,
            street_number: a.text("street_number")?,
            street_name: a.text("street_name")?,
            street_type: a.text("street_type")?,
            suburb: a.text("suburb")?,
            state: a.text("state")?,
            postcode: a.text("postcode")?,
            country: a.text("country")?,
            full_address: a.text("full_address")?,
        }))
    };
    Ok(CustomerPatch {
        customer_id: f.text("customer_id")?,
        title: f.text("title")?,
        preferred_name: f.text("preferred_name")?,
        first_name: f.text("first_name")?,
        middle_name: f.text("middle_name")?,
        last_name: f.text("last_name")?,
        email_address: f.text("email_address")?,
        mobile_phone_number: f.text("mobile_phone_number")?,
        date_of_birth,
        residential_address: address("residential_address")?,
        mailing_address: address("mailing_address")?,
    })
}

fn assessment(
    kind: AssessmentKind,
    payload: &Map<String, Value>,
) -> Result<Assessment, ParseError> {
    let f = Fields::new(payload, "payload");
    Ok(Assessment {
        kind,
        decision: f.text("decision")?,
        severity: f.text("severity")?,
        final_score: f.number("final_score")?,
        payload: payload.clone(),
    })
}

fn notice_post(payload: &Map<String, Value>) -> Result<NoticePost, ParseError> {
    let f = Fields::new(payload, "payload");
    let agent_name = f
        .text("agent_name")?
        .ok_or(ParseError::Missing("payload.agent_name"))?;
    let content = match f.text("post")? {
        Some(post) => post,
        None => f.text("content")?.unwrap_or_default(),
    };
    let at_ms = f.text("timestamp")?.as_deref().and_then(parse_iso_millis);
    Ok(NoticePost {
        agent_name,
        content,
        at_ms,
    })
}

fn decision(payload: &Map<String, Value>) -> Result<Decision, ParseError> {
    let f = Fields::new(payload, "payload");
    let text = match f.text("decision")? {
        Some(d) => d,
        None => f
            .text("outcome")?
            .ok_or(ParseError::Missing("payload.decision"))?,
    };
    match text.trim().to_ascii_uppercase().as_str() {
        "APPROVED" => Ok(Decision::Approved),
        "DECLINED" => Ok(Decision::Declined),
        "REFERRED" => Ok(Decision::Referred),
        _ => Err(f.wrong("decision", "APPROVED, DECLINED or REFERRED")),
    }
}

fn summary(payload: &Map<String, Value>) -> Result<Summary, ParseError> {
    let f = Fields::new(payload, "payload");
    let purpose = match f.text("purpose")? {
        Some(p) => Some(p),
        None => f.text("conversation_purpose")?,
    };
    let facts = match f.strings("facts")? {
        Some(facts) => facts,
        None => f.strings("conversation_facts")?.unwrap_or_default(),
    };
    Ok(Summary { purpose, facts })
}
