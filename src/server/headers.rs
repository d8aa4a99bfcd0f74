//! Security headers on every response. Pages carry a Content-Security-Policy built around
//! the nonce Leptos renders on its own scripts ([`page_policy`], set while the page's
//! shell renders); every other answer gets a policy that allows nothing, since none of
//! them is meant to run or embed anything. Pages, server functions and the live feed
//! carry customer data, so nothing but the static files may be cached.

use axum::{
    extract::{Request, State},
    http::{HeaderName, HeaderValue, header},
    middleware::Next,
    response::Response,
};

/// What the headers depend on.
#[derive(Debug, Clone, Copy)]
pub struct HeaderSettings {
    /// Cookies are `Secure`, so the site is served over HTTPS: browsers are told to use
    /// nothing else (HSTS).
    pub https: bool,
}

/// For answers that are not pages: nothing may run, load or embed them.
const NON_PAGE_POLICY: &str = "default-src 'none'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Features the dashboard never uses, refused to any script that might ask.
const PERMISSIONS_POLICY: &str = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), \
     serial=(), bluetooth=(), hid=(), midi=(), display-capture=(), publickey-credentials-get=()";

/// The policy of a page whose scripts carry `nonce`. `'strict-dynamic'` lets the nonced
/// loader import the lazy pages' modules it needs; `'wasm-unsafe-eval'` lets it compile the
/// WASM. `connect-src` names the WebSocket of the page's own host (CSP level 3 counts
/// `ws:` as `'self'`, older browsers do not).
pub fn page_policy(nonce: &str, host: Option<&str>) -> String {
    let socket = host
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .map(|h| format!(" ws://{h} wss://{h}"))
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic' 'wasm-unsafe-eval'; \
         connect-src 'self'{socket}; img-src 'self'; style-src 'self'; object-src 'none'; \
         base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )
}

/// Whether `path` is a static file, the same for everyone and free of customer data.
fn is_static(path: &str) -> bool {
    path.starts_with("/pkg/") || path == "/favicon.svg"
}

pub async fn security_headers(
    State(settings): State<HeaderSettings>,
    request: Request,
    next: Next,
) -> Response {
    let cacheable = is_static(request.uri().path());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(
        headers,
        HeaderName::from_static("permissions-policy"),
        PERMISSIONS_POLICY,
    );
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        set(headers, header::CONTENT_SECURITY_POLICY, NON_PAGE_POLICY);
    }
    if settings.https {
        set(
            headers,
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        );
    }
    if !cacheable {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    response
}

/// Sets the page's policy on the response being rendered (server only; called from the
/// shell, where the nonce is known).
pub fn set_page_policy() {
    use leptos::prelude::use_context;
    let Some(nonce) = leptos::nonce::use_nonce() else {
        return;
    };
    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    let host = use_context::<axum::http::request::Parts>().and_then(|parts| {
        parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
    });
    if let Ok(value) = HeaderValue::from_str(&page_policy(&nonce, host.as_deref())) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_policy_names_the_nonce_and_the_socket() {
        let policy = page_policy("abc", Some("dash.example:8443"));
        assert!(policy.contains("script-src 'nonce-abc' 'strict-dynamic' 'wasm-unsafe-eval'"));
        assert!(
            policy.contains("connect-src 'self' ws://dash.example:8443 wss://dash.example:8443;")
        );
        for part in [
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(policy.contains(part), "{part}");
        }
    }

    #[test]
    fn a_strange_host_is_left_out_of_the_policy() {
        let policy = page_policy("abc", Some("evil; script-src *"));
        assert!(policy.contains("connect-src 'self';"));
    }

    async fn headers_of(https: bool, path: &str) -> axum::http::HeaderMap {
        use tower::ServiceExt;
        let app = axum::Router::new()
            .route("/{*path}", axum::routing::get(|| async { "hello" }))
            .layer(axum::middleware::from_fn_with_state(
                HeaderSettings { https },
                security_headers,
            ));
        let request = Request::builder()
            .uri(path)
            .body(axum::body::Body::empty())
            .unwrap();
        app.oneshot(request).await.unwrap().headers().clone()
    }

    #[tokio::test]
    async fn hsts_only_when_served_over_https() {
        let secure = headers_of(true, "/conversations").await;
        assert_eq!(
            secure[header::STRICT_TRANSPORT_SECURITY],
            "max-age=63072000; includeSubDomains"
        );
        let plain = headers_of(false, "/conversations").await;
        assert!(!plain.contains_key(header::STRICT_TRANSPORT_SECURITY));
        for headers in [secure, plain] {
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(headers[header::CACHE_CONTROL], "no-store");
            assert_eq!(headers[header::CONTENT_SECURITY_POLICY], NON_PAGE_POLICY);
        }
    }

    #[tokio::test]
    async fn static_files_may_be_cached() {
        let headers = headers_of(true, "/pkg/billie-dashboard.css").await;
        assert!(!headers.contains_key(header::CACHE_CONTROL));
        assert_eq!(headers[header::REFERRER_POLICY], "same-origin");
    }

    #[test]
    fn only_static_files_may_be_cached() {
        assert!(is_static("/pkg/billie-dashboard.wasm"));
        assert!(!is_static("/conversations"));
        assert!(!is_static("/api/conversations/list"));
        assert!(!is_static("/avatars/abc"));
    }
}
