//! The web console: static files built into the binary from `console/` (no CDN, no
//! runtime network), and the headers every response of `serve` carries: a strict
//! Content-Security-Policy (`default-src 'self'`, no inline scripts), no sniffing, no
//! framing, no referrer. No response sets a cookie: the console keeps the token in the
//! tab's session storage.
use axum::body::Body;
use axum::extract::{Path, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "console/"]
struct Assets;

/// The policy: everything from this server only; no inline scripts or styles, no
/// plugins, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `GET /`: the console's page.
pub async fn index() -> Response {
    file("index.html")
}

/// `GET /{*path}`: one of the console's files.
pub async fn asset(Path(path): Path<String>) -> Response {
    file(&path)
}

fn file(path: &str) -> Response {
    match Assets::get(path) {
        Some(f) => {
            let mime = HeaderValue::from_str(f.metadata.mimetype())
                .unwrap_or(HeaderValue::from_static("application/octet-stream"));
            let mut resp = Body::from(f.data.into_owned()).into_response();
            resp.headers_mut().insert(header::CONTENT_TYPE, mime);
            resp
        }
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

/// Adds the security headers to every response.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "no-referrer");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    resp
}
