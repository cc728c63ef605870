//! What every server-rendered page (askama templates compiled into the binary) shares: form
//! parsing with the CSRF check, rendering, the error page, the shared stylesheet and scripts, and
//! the login and logout pages. Every form post carries the session's CSRF token.

use crate::app::App;
use crate::http::api;
use crate::http::auth::{self, Auth, PageAuth};
use crate::http::error::ApiError;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use palera_core::ids::ClientId;
use palera_core::user::Role;
use palera_store::clients::Client;
use palera_store::users::User;
use std::collections::HashMap;
use std::net::SocketAddr;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/static/app.css", get(css))
        .route("/static/desktop.js", get(desktop_js))
        .route("/static/dom.js", get(dom_js))
        .route("/admin", get(|| async { Redirect::to("/admin/clients") }))
}

/// A posted form, keeping repeated keys (checkbox groups).
pub struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &Bytes) -> Self {
        FormData(url::form_urlencoded::parse(body).into_owned().collect())
    }
    pub fn get(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
    pub fn opt(&self, name: &str) -> Option<String> {
        Some(self.get(name)).filter(|v| !v.trim().is_empty())
    }
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
    /// The value with surrounding spaces removed ("" when absent).
    pub fn text(&self, name: &str) -> String {
        self.get(name).trim().to_string()
    }
    /// An optional number: `None` when blank, a "must be a number" error naming the field
    /// otherwise.
    pub fn num<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        match self.opt(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ApiError::invalid(name, "must be a number")),
        }
    }
    pub fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
    /// A 403 page unless the form carries the session's CSRF token.
    pub fn csrf_failure(&self, auth: &Auth) -> Option<Response> {
        if auth::same_token(&self.get("csrf"), &auth.csrf) {
            None
        } else {
            Some(
                (
                    StatusCode::FORBIDDEN,
                    "The form expired or came from another site. Reload the page and try again.",
                )
                    .into_response(),
            )
        }
    }
}

/// A form posted from a page, with the user who posted it: anonymous visitors are sent to the
/// login page, and a form without the session's CSRF token gets the 403 page. Handlers take it
/// last (it reads the body).
pub struct PageForm {
    pub auth: Auth,
    pub form: FormData,
}

impl FromRequest<App> for PageForm {
    type Rejection = Response;
    async fn from_request(req: Request, app: &App) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let PageAuth(auth) = PageAuth::from_request_parts(&mut parts, app).await?;
        let bytes = Bytes::from_request(Request::from_parts(parts, body), app)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = FormData::parse(&bytes);
        match form.csrf_failure(&auth) {
            Some(refused) => Err(refused),
            None => Ok(PageForm { auth, form }),
        }
    }
}

/// A supervisor's or admin's page of the client named by the `client_id` path segment, with the
/// client loaded: agents get the 403 page, a client outside the user's scope the 404 page (no
/// existence leak), anonymous visitors the login page.
pub struct StaffPage {
    pub auth: Auth,
    pub client: Client,
}

impl FromRequestParts<App> for StaffPage {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let PageAuth(auth) = PageAuth::from_request_parts(parts, app).await?;
        let client = async {
            auth.require_staff()?;
            let id = client_id_param(parts, app).await?;
            auth.check_client(id)?;
            Ok::<_, ApiError>(app.store.client(id).await?)
        }
        .await
        .map_err(page_error)?;
        Ok(StaffPage { auth, client })
    }
}

/// The `client_id` path segment (404 when missing or not a number).
async fn client_id_param(parts: &mut Parts, app: &App) -> Result<ClientId, ApiError> {
    let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, app)
        .await
        .map_err(|_| ApiError::not_found())?;
    params
        .get("client_id")
        .and_then(|v| v.parse().ok())
        .map(ClientId)
        .ok_or_else(ApiError::not_found)
}

pub(crate) fn render(t: &impl Template, status: StatusCode) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => ApiError::internal(&e).into_response(),
    }
}

/// A page built from what was loaded for it, answered with `status`; the error page when loading
/// failed.
pub(crate) fn render_loaded<T, P: Template>(
    loaded: Result<T, ApiError>,
    status: StatusCode,
    page: impl FnOnce(T) -> P,
) -> Response {
    match loaded {
        Ok(data) => render(&page(data), status),
        Err(e) => page_error(e),
    }
}

/// What a page shows of the error that refused its form: the status to answer with (200 OK when
/// nothing was refused), the message, and the field it names for the template to mark ("" when
/// none).
pub(crate) struct FormError {
    pub status: StatusCode,
    pub message: Option<String>,
    pub field: String,
}

impl From<Option<ApiError>> for FormError {
    fn from(error: Option<ApiError>) -> Self {
        match error {
            None => FormError {
                status: StatusCode::OK,
                message: None,
                field: String::new(),
            },
            Some(e) => FormError {
                status: e.status,
                message: Some(e.message),
                field: e.field.unwrap_or_default(),
            },
        }
    }
}

/// What a page says after a form: the notice when it was done, the error when it was refused (in
/// the `(error, notice)` order the page views take them).
pub(crate) fn notice_or_error(
    result: Result<String, ApiError>,
) -> (Option<ApiError>, Option<String>) {
    match result {
        Ok(notice) => (None, Some(notice)),
        Err(e) => (Some(e), None),
    }
}

pub(crate) fn page_error(e: ApiError) -> Response {
    let status = e.status;
    (
        status,
        Html(format!(
            "<!doctype html><title>{0}</title><p>{1}</p><p><a href=\"/\">Back</a></p>",
            status,
            askama_escape(&e.message)
        )),
    )
        .into_response()
}

fn askama_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Where a user lands after login.
fn home_for(user: &User) -> &'static str {
    match user.role {
        Role::Agent => "/desktop",
        _ => "/admin/clients",
    }
}

async fn home(PageAuth(auth): PageAuth) -> Redirect {
    Redirect::to(home_for(&auth.user))
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("../../static/app.css"),
    )
        .into_response()
}

/// A script of the pages (`/static/*.js`), compiled into the binary. `no-cache` makes browsers
/// revalidate, so a new release's scripts are used at once.
pub(crate) fn javascript(body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn desktop_js() -> Response {
    javascript(include_str!("../../static/desktop.js"))
}

async fn dom_js() -> Response {
    javascript(include_str!("../../static/dom.js"))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    email: String,
    error: Option<String>,
}

async fn login_page(headers: HeaderMap) -> Response {
    let csrf = auth::cookie(&headers, auth::LOGIN_CSRF_COOKIE)
        .map(str::to_string)
        .unwrap_or_else(auth::random_token);
    let mut resp = render(
        &LoginPage {
            csrf: csrf.clone(),
            email: String::new(),
            error: None,
        },
        StatusCode::OK,
    );
    if let Ok(v) = auth::set_cookie(auth::LOGIN_CSRF_COOKIE, &csrf, 3600, false).parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

async fn login_submit(
    State(app): State<App>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let email = form.get("email");
    let expected = auth::cookie(&headers, auth::LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !auth::same_token(&form.get("csrf"), expected) {
        return render(
            &LoginPage {
                csrf: auth::random_token(),
                email,
                error: Some("The login form expired. Please try again.".into()),
            },
            StatusCode::FORBIDDEN,
        );
    }
    match api::open_session(&app, &email, &form.get("password"), addr.ip()).await {
        Ok((user, token, _)) => (
            [(header::SET_COOKIE, api::session_cookie(&app, &token))],
            Redirect::to(home_for(&user)),
        )
            .into_response(),
        Err(e) => render(
            &LoginPage {
                csrf: expected.to_string(),
                email,
                error: Some(e.message),
            },
            e.status,
        ),
    }
}

async fn logout(State(app): State<App>, PageAuth(auth): PageAuth, body: Bytes) -> Response {
    if let Some(r) = FormData::parse(&body).csrf_failure(&auth) {
        return r;
    }
    if let Err(e) = app.store.delete_session(&auth.token_hash).await {
        return page_error(e.into());
    }
    (
        [(
            header::SET_COOKIE,
            auth::set_cookie(auth::SESSION_COOKIE, "", 0, app.settings.secure_cookies()),
        )],
        Redirect::to("/login"),
    )
        .into_response()
}

/// What a page was redirected back with after a form it posted was saved (POST-redirect-GET):
/// `?saved=WHAT`. The page turns the marker into its own words, so a reload shows the page
/// again instead of posting the form twice.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Saved {
    pub saved: Option<String>,
}

impl Saved {
    /// The words for the marker, from the page's own `(marker, words)` table.
    pub fn notice(&self, words: &[(&str, &str)]) -> Option<String> {
        let marker = self.saved.as_deref()?;
        words
            .iter()
            .find(|(m, _)| *m == marker)
            .map(|(_, w)| w.to_string())
    }
}

/// Sends the browser from a saved form to `path` with the `?saved=` marker `what` (303 See
/// Other, so the page is fetched with GET).
pub fn saved_redirect(path: &str, what: &str) -> Response {
    Redirect::to(&format!("{path}?saved={what}")).into_response()
}

/// An instant as the client's people read it: in the client's time zone, with the zone's
/// abbreviation (`2026-12-04 21:40 EST`); UTC if the stored zone is unknown.
pub fn client_time(ms: i64, zone: &str) -> String {
    let tz: chrono_tz::Tz = zone.parse().unwrap_or(chrono_tz::UTC);
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod time_tests {
    use super::client_time;

    #[test]
    fn admin_pages_show_times_in_the_clients_zone_with_its_abbreviation() {
        let ms = 1_768_489_200_000; // 2026-01-15 15:00 UTC
        assert_eq!(client_time(ms, "America/New_York"), "2026-01-15 10:00 EST");
        assert_eq!(client_time(ms, "Europe/London"), "2026-01-15 15:00 GMT");
        assert_eq!(client_time(ms, "not a zone"), "2026-01-15 15:00 UTC");
    }
}
