//! `/api/v1`: the projections for integrations (risk, analytics, compliance tools),
//! read-only JSON behind API tokens. The browser's server functions are its private wire
//! (POST, cookie-bound, shaped for the views); this is the public one: GET, a bearer
//! token, documented shapes ([`schema`]) in an OpenAPI 3.1 document ([`openapi`]),
//! problems as RFC 9457, and a Server-Sent Events change stream ([`changes`]).
//!
//! Cookies are not read here at all: a page elsewhere cannot make a signed-in browser
//! read the API on its behalf.

pub mod changes;
pub mod openapi;
pub mod schema;

use std::net::IpAddr;
use std::time::Duration;

use axum::{
    Json, Router,
    extract::{Path, Query, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};

use crate::api::ConversationFilter;
use crate::server::auth::address::ClientAddress;
use crate::server::auth::audit_entry;
use crate::server::state::AppState;
use crate::server::store::{StoreError, TokenDoc};
use schema::Problem;

/// Items a page holds unless the request says (`limit`).
pub const DEFAULT_LIMIT: usize = 50;
/// Most items a page holds.
pub const MAX_LIMIT: usize = 200;

/// How the API serves: its rate limit and the change stream's heartbeat.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Requests a token may make per minute (`API_RATE_PER_MINUTE`).
    pub rate_per_minute: u32,
    /// Time between heartbeats of the change stream (15 s unless a test says otherwise).
    pub heartbeat: Duration,
}

/// The routes under `/api/v1`; every one but the OpenAPI document needs a token.
pub fn router(state: AppState) -> Router<AppState> {
    let guarded = Router::new()
        .route("/conversations", get(list_conversations))
        .route("/conversations/{id}", get(get_conversation))
        .route("/conversations/{id}/events", get(conversation_events))
        .route("/customers", get(list_customers))
        .route("/customers/{id}", get(get_customer))
        .route("/changes", get(changes::stream))
        .layer(middleware::from_fn_with_state(state, authenticate));
    Router::new()
        .route("/openapi.json", get(openapi::document))
        .merge(guarded)
        .fallback(not_found)
}

/// An API error: its status and what the client can do about it.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: String,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            retry_after: None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::BadCursor => Self::bad_request(
                "the cursor is not one this API gave: pass next_cursor from the previous page as it is, or leave it out to start again",
            ),
            e => {
                tracing::error!(error = %e, "API read failed");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the store cannot be read right now; try again shortly",
                )
            }
        }
    }
}

impl From<crate::server::tally::TallyError> for ApiError {
    fn from(e: crate::server::tally::TallyError) -> Self {
        match e {
            crate::server::tally::TallyError::Store(e) => e.into(),
            loading => Self::new(StatusCode::SERVICE_UNAVAILABLE, loading.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: "about:blank".to_owned(),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
        };
        let mut response = (self.status, Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"billie-dashboard\""),
            );
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; the OpenAPI document at /api/v1/openapi.json lists them")
}

/// The token a request was made with, for handlers (auditing, the change stream).
#[derive(Debug, Clone)]
pub struct Client {
    pub token: TokenDoc,
    pub address: Option<IpAddr>,
}

impl Client {
    /// How the audit log names this client.
    pub fn actor(&self) -> String {
        format!("token:{}", self.token.name)
    }
}

/// Lets a request through with a valid, unrevoked bearer token, within its rate; audits
/// refusals.
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let address = request
        .extensions()
        .get::<ClientAddress>()
        .map(|ClientAddress(a)| *a);
    let token = match bearer(request.headers()) {
        Ok(token) => token,
        Err(e) => return e.into_response(),
    };
    let found = match state.store.find_token(token).await {
        Ok(found) => found,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let token = match found {
        Some(t) if t.revoked_at.is_none() => t,
        found => {
            let (actor, why) = match &found {
                Some(t) => (Some(format!("token:{}", t.name)), "revoked token"),
                None => (None, "unknown token"),
            };
            let mut entry = audit_entry(actor.as_deref(), "api.refused", None, address);
            entry.detail = Some(why.to_owned());
            state.store.audit(entry).await;
            return ApiError::unauthorized(
                "this token is not valid (revoked, or never issued); ask an admin for a new one",
            )
            .into_response();
        }
    };
    if let Some(wait) = over_rate(&state, &token).await {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "this token made more than {} requests this minute; retry after {wait} s",
                state.api.rate_per_minute
            ),
        );
        e.retry_after = Some(wait);
        return e.into_response();
    }
    {
        let (store, token) = (state.store.clone(), token.clone());
        tokio::spawn(async move {
            if let Err(e) = store.touch_token(&token).await {
                tracing::warn!(error = %e, "token's last use not recorded");
            }
        });
    }
    request.extensions_mut().insert(Client { token, address });
    next.run(request).await
}

/// The bearer token of `headers`.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
            "send an API token as `Authorization: Bearer <token>` (admins create tokens on the admin pages)",
        ));
    };
    value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim())
                .filter(|t| !t.is_empty())
        })
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <token>`"))
}

/// `None` if `token` may make another request this minute, else the seconds until it
/// may. Counted in Redis, so the rate holds across web processes. If Redis cannot say,
/// the request goes through: the limit protects the store, it is not a lock.
async fn over_rate(state: &AppState, token: &TokenDoc) -> Option<u64> {
    let now = crate::server::auth::session::now_ms() / 1000;
    let window = now / 60;
    let key = format!(
        "{}:api:rate:{}:{window}",
        state.ledger.stream,
        token.id.to_hex()
    );
    let mut redis = state.redis.clone();
    let count: Result<(u64,), _> = redis::pipe()
        .atomic()
        .incr(&key, 1)
        .expire(&key, 120)
        .ignore()
        .query_async(&mut redis)
        .await;
    match count {
        Ok((n,)) if n > u64::from(state.api.rate_per_minute) => {
            Some((60 - (now % 60)).max(1) as u64)
        }
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "API rate not counted");
            None
        }
    }
}

/// Records that `client` read `kind` `id`, as a supervisor's view is recorded.
async fn audit_read(state: &AppState, client: &Client, kind: &str, id: &str) {
    let key = format!(
        "{}:viewed:token-{}:{kind}:{id}",
        state.ledger.stream,
        client.token.id.to_hex()
    );
    crate::server::audit::record_view(state, &key, &client.actor(), kind, id, client.address).await;
}

/// A query's parameters, each at most once and each one this endpoint takes.
struct Params(Vec<(String, String)>);

impl Params {
    fn of(query: Vec<(String, String)>, allowed: &[&str]) -> Result<Self, ApiError> {
        for (i, (name, _)) in query.iter().enumerate() {
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter `{name}`; this endpoint takes {}",
                    allowed.join(", ")
                )));
            }
            if query[..i].iter().any(|(n, _)| n == name) {
                return Err(ApiError::bad_request(format!(
                    "parameter `{name}` is given twice"
                )));
            }
        }
        Ok(Self(query))
    }

    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    /// `limit`, 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] if absent.
    fn limit(&self) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(text) => text
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "limit must be a whole number from 1 to {MAX_LIMIT} (it was `{text}`)"
                    ))
                }),
        }
    }

    /// `cursor`, if given and not empty.
    fn cursor(&self) -> Option<String> {
        self.get("cursor").filter(|c| !c.is_empty())
    }
}

/// A query string as its name-value pairs; one that does not read is a 400 problem.
type Raw = Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>;

fn pairs(query: Raw) -> Result<Vec<(String, String)>, ApiError> {
    query
        .map(|Query(pairs)| pairs)
        .map_err(|e| ApiError::bad_request(format!("the query string does not read: {e}")))
}

/// What every endpoint with a token may answer instead, for the document.
#[derive(utoipa::IntoResponses)]
#[allow(
    dead_code,
    reason = "described to the OpenAPI document, built as `ApiError`"
)]
pub enum Refused {
    /// No token, or a bad one
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// Over the token's rate
    #[response(status = 429, content_type = "application/problem+json")]
    TooMany(Problem),
    /// The store cannot be read right now
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

/// A bad parameter, cursor or header, for the document.
#[derive(utoipa::IntoResponses)]
#[allow(
    dead_code,
    reason = "described to the OpenAPI document, built as `ApiError`"
)]
pub enum BadInput {
    /// A bad parameter or cursor
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
}

/// Conversations by most recent activity, as the dashboard's list shows them.
#[utoipa::path(
    get, path = "/api/v1/conversations", tag = "conversations",
    params(
        ("q" = Option<String>, Query, description = "Search as you type: every term must begin a word of the application number or the customer's name, whatever the case and the accents (\"smi\" finds Smith, \"chloe\" finds Chloé)."),
        ("status" = Option<String>, Query, description = "Only conversations with this status: active, paused, soft_end, hard_end, approved, declined or referred."),
        ("limit" = Option<u32>, Query, description = "Items per page, 1 to 200 (default 50)."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page."),
    ),
    responses(
        (status = 200, description = "A page of conversations", body = schema::ConversationPage),
        BadInput,
        Refused,
    ),
    security(("token" = []))
)]
async fn list_conversations(
    State(state): State<AppState>,
    query: Raw,
) -> Result<Json<schema::ConversationPage>, ApiError> {
    let params = Params::of(pairs(query)?, &["q", "status", "limit", "cursor"])?;
    let filter = ConversationFilter::parse(params.get("q"), params.get("status"))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let page = crate::server::tally::list_page(
        &state,
        &filter,
        params.cursor().as_deref(),
        params.limit()?,
    )
    .await?;
    Ok(Json(schema::ConversationPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next,
    }))
}

/// One conversation in full.
#[utoipa::path(
    get, path = "/api/v1/conversations/{id}", tag = "conversations",
    params(("id" = String, Path, description = "The conversation id (`conv`).")),
    responses(
        (status = 200, description = "The conversation", body = schema::Conversation),
        (status = 404, description = "No such conversation", body = Problem, content_type = "application/problem+json"),
        Refused,
    ),
    security(("token" = []))
)]
async fn get_conversation(
    State(state): State<AppState>,
    axum::Extension(client): axum::Extension<Client>,
    Path(id): Path<String>,
    query: Raw,
) -> Result<Json<schema::Conversation>, ApiError> {
    Params::of(pairs(query)?, &[])?;
    let detail = state
        .store
        .get_conversation(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no conversation `{id}`")))?;
    audit_read(&state, &client, "conversation", &id).await;
    Ok(Json(detail.into()))
}

/// A conversation's timeline: every stream entry that reached it, in arrival order.
#[utoipa::path(
    get, path = "/api/v1/conversations/{id}/events", tag = "conversations",
    params(
        ("id" = String, Path, description = "The conversation id (`conv`)."),
        ("limit" = Option<u32>, Query, description = "Entries per page, 1 to 200 (default 50)."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page."),
    ),
    responses(
        (status = 200, description = "A page of the timeline, oldest first", body = schema::TimelinePage),
        BadInput,
        (status = 404, description = "No entry ever named this conversation", body = Problem, content_type = "application/problem+json"),
        Refused,
    ),
    security(("token" = []))
)]
async fn conversation_events(
    State(state): State<AppState>,
    axum::Extension(client): axum::Extension<Client>,
    Path(id): Path<String>,
    query: Raw,
) -> Result<Json<schema::TimelinePage>, ApiError> {
    let params = Params::of(pairs(query)?, &["limit", "cursor"])?;
    let cursor = params.cursor();
    let page = state
        .store
        .timeline(&id, cursor.as_deref(), params.limit()?)
        .await?;
    if page.items.is_empty() && cursor.is_none() {
        return Err(ApiError::not_found(format!(
            "no entry has reached a conversation `{id}`"
        )));
    }
    audit_read(&state, &client, "conversation", &id).await;
    Ok(Json(schema::TimelinePage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next,
    }))
}

/// Customers by name.
#[utoipa::path(
    get, path = "/api/v1/customers", tag = "customers",
    params(
        ("q" = Option<String>, Query, description = "Search as you type: every term must begin a word of the customer id or of a name or email address the customer has had, whatever the case and the accents (\"smi\" finds Smith, \"jane@new\" finds jane@new.example)."),
        ("limit" = Option<u32>, Query, description = "Items per page, 1 to 200 (default 50)."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page."),
    ),
    responses(
        (status = 200, description = "A page of customers", body = schema::CustomerPage),
        BadInput,
        Refused,
    ),
    security(("token" = []))
)]
async fn list_customers(
    State(state): State<AppState>,
    query: Raw,
) -> Result<Json<schema::CustomerPage>, ApiError> {
    let params = Params::of(pairs(query)?, &["q", "limit", "cursor"])?;
    let filter = ConversationFilter::parse(params.get("q"), None)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let page = state
        .store
        .list_customers(
            filter.search.as_deref(),
            params.cursor().as_deref(),
            params.limit()?,
        )
        .await?;
    Ok(Json(schema::CustomerPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next,
    }))
}

/// One customer's profile and conversations.
#[utoipa::path(
    get, path = "/api/v1/customers/{id}", tag = "customers",
    params(("id" = String, Path, description = "The customer id.")),
    responses(
        (status = 200, description = "The customer", body = schema::Customer),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        Refused,
    ),
    security(("token" = []))
)]
async fn get_customer(
    State(state): State<AppState>,
    axum::Extension(client): axum::Extension<Client>,
    Path(id): Path<String>,
    query: Raw,
) -> Result<Json<schema::Customer>, ApiError> {
    Params::of(pairs(query)?, &[])?;
    let profile = state
        .store
        .customer_profile(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no customer `{id}`")))?;
    audit_read(&state, &client, "customer", &id).await;
    Ok(Json(profile.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parameters_are_known_once_and_limits_bounded() {
        let ok = Params::of(query(&[("q", "smith"), ("limit", "200")]), &["q", "limit"]).unwrap();
        assert_eq!(ok.get("q").as_deref(), Some("smith"));
        assert_eq!(ok.limit().unwrap(), 200);
        assert_eq!(
            Params::of(vec![], &["limit"]).unwrap().limit().unwrap(),
            DEFAULT_LIMIT
        );
        for bad in ["0", "201", "-1", "ten", ""] {
            let p = Params::of(query(&[("limit", bad)]), &["limit"]).unwrap();
            let e = p.limit().unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(e.detail.contains("from 1 to 200"), "{}", e.detail);
        }
        let unknown = Params::of(query(&[("sort", "x")]), &["q"]).err().unwrap();
        assert!(unknown.detail.contains("unknown parameter `sort`"));
        let twice = Params::of(query(&[("q", "a"), ("q", "b")]), &["q"])
            .err()
            .unwrap();
        assert!(twice.detail.contains("twice"));
        let empty = Params::of(query(&[("cursor", "")]), &["cursor"]).unwrap();
        assert_eq!(empty.cursor(), None);
    }

    #[test]
    fn only_a_bearer_token_is_taken() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            headers
        };
        assert_eq!(bearer(&with("Bearer bdt_abc")).unwrap(), "bdt_abc");
        assert_eq!(bearer(&with("bearer  bdt_abc ")).unwrap(), "bdt_abc");
        for bad in ["Basic YTpi", "Bearer", "Bearer  ", "bdt_abc"] {
            assert_eq!(
                bearer(&with(bad)).unwrap_err().status,
                StatusCode::UNAUTHORIZED,
                "{bad}"
            );
        }
        assert!(bearer(&HeaderMap::new()).is_err());
    }

    #[test]
    fn problems_are_rfc_9457_with_retry_after_and_a_challenge() {
        let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "slow down");
        e.retry_after = Some(12);
        let response = e.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(response.headers()[header::RETRY_AFTER], "12");
        let response = ApiError::unauthorized("no").into_response();
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        let bad_cursor = ApiError::from(StoreError::BadCursor);
        assert_eq!(bad_cursor.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn times_are_rfc_3339_in_utc() {
        assert_eq!(
            schema::rfc3339(1_764_772_800_123).as_deref(),
            Some("2025-12-03T14:40:00.123Z")
        );
    }

    #[test]
    fn the_document_is_openapi_3_1_with_every_path() {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(openapi::ApiDoc::openapi()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        for path in [
            "/api/v1/conversations",
            "/api/v1/conversations/{id}",
            "/api/v1/conversations/{id}/events",
            "/api/v1/customers",
            "/api/v1/customers/{id}",
            "/api/v1/changes",
        ] {
            assert!(doc["paths"][path]["get"].is_object(), "{path}");
        }
        assert!(doc["components"]["securitySchemes"]["token"].is_object());
    }
}
