//! Security headers on every response (issue 19): no MIME sniffing, a same-origin referrer
//! policy, and on HTML pages a Content-Security-Policy with no inline script (every script is a
//! file under `/static/`; the Twilio Voice SDK's origin is allowed when one is configured),
//! framing refused (`frame-ancestors 'none'`; the desktop may still frame an external script
//! page over https), `no-store` caching, and HSTS when the public URL is https. And the refusal
//! of state changes (and the desktop's WebSocket) that a browser says come from another site.

use crate::app::App;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The policy of HTML pages for this installation.
pub fn content_security_policy(app: &App) -> String {
    let sdk = app
        .settings
        .voice_sdk_url
        .as_deref()
        // Settings allow only https URLs (or a path here) outside tests.
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .and_then(|u| url::Url::parse(u).ok())
        .map(|u| u.origin().ascii_serialization())
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    // The Voice SDK talks to Twilio over secure web sockets and https; the desktop also
    // fetches the SDK file itself to explain a failed integrity check (connect-src).
    let twilio = if app.settings.voice_sdk_url.is_some() {
        " https://*.twilio.com wss://*.twilio.com"
    } else {
        ""
    };
    format!(
        "default-src 'self'; script-src 'self'{sdk}; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'{sdk}{twilio}; media-src 'self' https:; frame-src https:; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    )
}

pub async fn security_headers(State(app): State<App>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if html {
        if let Ok(csp) = HeaderValue::from_str(&content_security_policy(&app)) {
            h.entry(header::CONTENT_SECURITY_POLICY).or_insert(csp);
        }
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if app
        .settings
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
    {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    resp
}

/// Cross-site request refusal (issue 19): a state-changing request (any method but GET, HEAD,
/// OPTIONS) and the desktop's WebSocket handshake must come from this site. Browsers say where a
/// request comes from (`Origin`, and `Sec-Fetch-Site`); one from another origin — another site,
/// or another port of this host, which `SameSite` cookies do not stop — gets 403 before any
/// handler runs. Requests that name no origin (API clients, scripts) are not from a browser page
/// and pass; Twilio's webhooks are signed instead and pass too.
pub async fn same_origin_only(State(app): State<App>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let changes = !matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    let guarded = (changes || path == "/ws/desktop") && !path.starts_with("/twilio/");
    if guarded && cross_site(&app, req.headers()) {
        tracing::warn!(path, "cross-site request refused");
        return crate::http::error::ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "cross_site",
            "this request comes from another site; reload the page and try again",
        )
        .into_response();
    }
    next.run(req).await
}

/// Whether the browser says the request comes from another origin than this server's.
fn cross_site(app: &App, h: &axum::http::HeaderMap) -> bool {
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
    if let Some(origin) = get("origin") {
        let host = get("host").unwrap_or_default();
        let ours = [format!("http://{host}"), format!("https://{host}")];
        let public = app
            .settings
            .public_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .map(|u| u.origin().ascii_serialization());
        return !(ours.iter().any(|o| o == origin) || public.as_deref() == Some(origin));
    }
    matches!(
        get("sec-fetch-site"),
        Some("cross-site") | Some("same-site")
    )
}
