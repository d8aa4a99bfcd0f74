//! What a user is told when a server function fails. A mistake of theirs (a bad email, a
//! password too short, the last admin) is said as it is; anything else (the store
//! unreachable, a document it cannot read, a hash that failed) is logged in full under a
//! short reference, and the user sees only that reference: never a store's text, which
//! would tell an attacker about the deployment and tell a supervisor nothing.

use std::fmt::Display;

use leptos::prelude::ServerFnError;

use crate::server::auth::AuthError;
use crate::server::store::{StoreError, UserError};

/// A failure on our side: logged with a reference the user is shown.
pub fn internal(error: impl Display) -> ServerFnError {
    let reference = reference();
    tracing::error!(reference = %reference, error = %error, "request failed");
    if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    }
    ServerFnError::new(internal_message(&reference))
}

fn internal_message(reference: &str) -> String {
    format!("Something went wrong on our side (reference {reference}). Try again in a moment.")
}

/// A short random reference tying what the user saw to the log line.
fn reference() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// A store failure: only a malformed list position is the caller's.
/// A read of the tally: still loading (try again), or the store's error.
pub fn tally(error: crate::server::tally::TallyError) -> ServerFnError {
    match error {
        crate::server::tally::TallyError::Store(e) => store(e),
        loading => ServerFnError::new(loading),
    }
}

pub fn store(error: StoreError) -> ServerFnError {
    match error {
        StoreError::BadCursor => {
            ServerFnError::new("that list position is not valid any more: reload the list")
        }
        other => internal(other),
    }
}

/// An account change refused: the refusals are the caller's to read, failures are ours.
pub fn user(error: UserError) -> ServerFnError {
    match error {
        UserError::Store(e) => store(e),
        UserError::Hash(_) | UserError::Stdin(_) => internal(error),
        refusal => ServerFnError::new(refusal.to_string()),
    }
}

/// A password check that could not run.
pub fn auth(error: AuthError) -> ServerFnError {
    match error {
        AuthError::Busy => {
            ServerFnError::new("too many password checks at once: try again in a few seconds")
        }
        other => internal(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(error: ServerFnError) -> String {
        error.to_string()
    }

    #[test]
    fn a_store_failure_shows_a_reference_not_its_text() {
        let shown = text(store(StoreError::Write(
            "E11000 duplicate key in billie.users".into(),
        )));
        assert!(!shown.contains("E11000"), "{shown}");
        assert!(!shown.contains("billie"), "{shown}");
        assert!(
            shown.contains("Something went wrong on our side (reference "),
            "{shown}"
        );
        let wrapped = text(user(UserError::Store(StoreError::Write("secret".into()))));
        assert!(!wrapped.contains("secret"), "{wrapped}");
    }

    #[test]
    fn the_callers_mistakes_are_said_as_they_are() {
        assert!(text(user(UserError::LastAdmin)).contains("the last active admin"));
        assert!(text(store(StoreError::BadCursor)).contains("reload the list"));
        assert!(text(auth(AuthError::Busy)).contains("try again in a few seconds"));
    }

    #[test]
    fn references_differ() {
        assert_ne!(reference(), reference());
        assert_eq!(reference().len(), 8);
    }
}
