//! Cross-site request refusal. A request that changes state (any method but GET, HEAD,
//! OPTIONS) and the WebSocket upgrade must come from a page of this site: its `Origin`
//! must name this host, or, without `Origin`, `Sec-Fetch-Site` must say `same-origin`.
//! Browsers always send one of them on such requests, so a forged form post or a
//! cross-site WebSocket is refused; tools that send neither are refused too. Server
//! functions, which only read or act, accept POST only.

use axum::{
    extract::Request,
    http::{HeaderMap, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

pub async fn same_site_only(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let method = request.method();
    if path.starts_with("/api/") && method != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            "server functions accept POST only",
        )
            .into_response();
    }
    let needs_check =
        path == "/ws" || !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if needs_check && !from_this_site(request.headers()) {
        tracing::warn!(%path, "cross-site request refused");
        return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
    }
    next.run(request).await
}

fn from_this_site(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(origin) = text(header::ORIGIN.as_str()) {
        let authority = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        return match (authority, text(header::HOST.as_str())) {
            (Some(authority), Some(host)) => authority.eq_ignore_ascii_case(host),
            _ => false,
        };
    }
    text("sec-fetch-site").is_some_and(|site| site == "same-origin")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn only_this_site_may_change_state() {
        let host = ("host", "dash.billie.example");
        assert!(from_this_site(&headers(&[
            host,
            ("origin", "https://dash.billie.example")
        ])));
        assert!(from_this_site(&headers(&[
            host,
            ("sec-fetch-site", "same-origin")
        ])));
        for bad in [
            headers(&[host, ("origin", "https://evil.example")]),
            headers(&[host, ("origin", "https://dash.billie.example.evil.example")]),
            headers(&[host, ("origin", "null")]),
            headers(&[host, ("sec-fetch-site", "cross-site")]),
            headers(&[host, ("sec-fetch-site", "same-site")]),
            headers(&[host]),
        ] {
            assert!(!from_this_site(&bad), "{bad:?}");
        }
    }
}
