//! The OpenAPI 3.1 document of `/api/v1`, generated from the handlers' annotations and
//! the [`super::schema`] types, so it cannot drift from what the API answers.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::schema;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Billie supervisor dashboard API",
        description = "Read-only access to the conversations and customers the dashboard projects from the chat ledger, their timelines, and a live change stream. Send an API token as `Authorization: Bearer <token>`; admins create tokens on the admin pages or with `billie-dashboard token create --name NAME`. Errors are RFC 9457 problems.",
        version = "1"
    ),
    paths(
        super::list_conversations,
        super::get_conversation,
        super::conversation_events,
        super::list_customers,
        super::get_customer,
        super::changes::stream,
    ),
    components(schemas(
        schema::ConversationPage,
        schema::ConversationSummary,
        schema::ConversationStatus,
        schema::Conversation,
        schema::Message,
        schema::Speaker,
        schema::Application,
        schema::Assessment,
        schema::Decision,
        schema::NoticeboardTopic,
        schema::NoticeVersion,
        schema::CustomerLink,
        schema::TimelinePage,
        schema::TimelineEntry,
        schema::Outcome,
        schema::CustomerPage,
        schema::CustomerSummary,
        schema::Customer,
        schema::ChangeEvent,
        schema::Problem,
    )),
    modifiers(&BearerToken),
)]
pub struct ApiDoc;

/// The `token` security scheme the paths name.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// `GET /api/v1/openapi.json` (no token needed: it describes, it does not disclose).
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
