//! Server-rendered pages (askama templates compiled into the binary): login, the admin area
//! (clients with their Twilio settings and numbers, users and their client assignments) and the
//! agent desktop shell. Every form post carries the session's CSRF token.

use crate::api::{self, parse_numbers, UserCreate};
use crate::app::App;
use crate::auth::{self, Auth, PageAuth};
use crate::error::ApiError;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use palera_core::ids::{ClientId, NumberId, UserId};
use palera_core::tenant::{client_number, ClientFields};
use palera_core::user::Role;
use palera_store::clients::{Client, ClientNumber, SecretInput};
use palera_store::users::User;
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
        .route("/admin/clients", get(clients_page).post(client_create))
        .route(
            "/admin/clients/{client_id}",
            get(client_page).post(client_update),
        )
        .route("/admin/clients/{client_id}/numbers", post(number_add))
        .route(
            "/admin/clients/{client_id}/numbers/{number_id}/delete",
            post(number_remove),
        )
        .route("/admin/users", get(users_page).post(user_create))
        .route("/admin/users/{user_id}", get(user_page).post(user_update))
        .route("/desktop", get(desktop_page))
}

/// A posted form, keeping repeated keys (checkbox groups).
pub(crate) struct FormData(Vec<(String, String)>);

impl FormData {
    pub(crate) fn parse(body: &Bytes) -> Self {
        FormData(url::form_urlencoded::parse(body).into_owned().collect())
    }
    pub(crate) fn get(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
    pub(crate) fn opt(&self, name: &str) -> Option<String> {
        Some(self.get(name)).filter(|v| !v.trim().is_empty())
    }
    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
    pub(crate) fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
    /// A 403 page unless the form carries the session's CSRF token.
    pub(crate) fn csrf_failure(&self, auth: &Auth) -> Option<Response> {
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

pub(crate) fn render(t: &impl Template, status: StatusCode) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => ApiError::internal(&e).into_response(),
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
        include_str!("../static/app.css"),
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
    javascript(include_str!("../static/desktop.js"))
}

async fn dom_js() -> Response {
    javascript(include_str!("../static/dom.js"))
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

/// The values a client form shows (from a stored client, or from a rejected submission).
#[derive(Default)]
pub(crate) struct ClientForm {
    name: String,
    time_zone: String,
    default_country: String,
    account_sid: String,
    api_key_sid: String,
    twiml_app_sid: String,
    voice_enabled: bool,
    calls_per_second: String,
    numbers: String,
}

impl ClientForm {
    fn from_client(c: &Client) -> Self {
        Self {
            name: c.name.clone(),
            time_zone: c.time_zone.clone(),
            default_country: c.default_country.clone(),
            account_sid: c.account_sid.clone().unwrap_or_default(),
            api_key_sid: c.api_key_sid.clone().unwrap_or_default(),
            twiml_app_sid: c.twiml_app_sid.clone().unwrap_or_default(),
            voice_enabled: c.voice_enabled,
            calls_per_second: c.calls_per_second.to_string(),
            numbers: String::new(),
        }
    }
    fn from_form(f: &FormData) -> Self {
        Self {
            name: f.get("name"),
            time_zone: f.get("time_zone"),
            default_country: f.get("default_country"),
            account_sid: f.get("account_sid"),
            api_key_sid: f.get("api_key_sid"),
            twiml_app_sid: f.get("twiml_app_sid"),
            voice_enabled: f.checked("voice_enabled"),
            calls_per_second: f.get("calls_per_second"),
            numbers: f.get("numbers"),
        }
    }
    fn fields(&self) -> Result<ClientFields, ApiError> {
        let cps = if self.calls_per_second.trim().is_empty() {
            None
        } else {
            Some(
                self.calls_per_second
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| ApiError::invalid("calls_per_second", "must be a number"))?,
            )
        };
        Ok(ClientFields {
            name: self.name.clone(),
            time_zone: Some(self.time_zone.clone()),
            default_country: Some(self.default_country.clone()),
            account_sid: Some(self.account_sid.clone()),
            api_key_sid: Some(self.api_key_sid.clone()),
            twiml_app_sid: Some(self.twiml_app_sid.clone()),
            voice_enabled: Some(self.voice_enabled),
            calls_per_second: cps,
        })
    }
}

#[derive(Template)]
#[template(path = "clients.html")]
struct ClientsPage {
    me: User,
    csrf: String,
    clients: Vec<Client>,
    form: ClientForm,
    error: Option<String>,
    error_field: String,
}

async fn clients_page(State(app): State<App>, PageAuth(auth): PageAuth) -> Response {
    clients_view(
        &app,
        auth,
        ClientForm {
            voice_enabled: true,
            calls_per_second: "1".into(),
            time_zone: "UTC".into(),
            default_country: "US".into(),
            ..Default::default()
        },
        None,
        StatusCode::OK,
    )
    .await
}

async fn clients_view(
    app: &App,
    auth: Auth,
    form: ClientForm,
    error: Option<ApiError>,
    status: StatusCode,
) -> Response {
    if auth.user.role == Role::Agent {
        return Redirect::to("/desktop").into_response();
    }
    match app.store.clients(&auth.scope()).await {
        Ok(clients) => render(
            &ClientsPage {
                error_field: error
                    .as_ref()
                    .and_then(|e| e.field.clone())
                    .unwrap_or_default(),
                error: error.map(|e| e.message),
                me: auth.user,
                csrf: auth.csrf,
                clients,
                form,
            },
            status,
        ),
        Err(e) => page_error(e.into()),
    }
}

async fn client_create(State(app): State<App>, PageAuth(auth): PageAuth, body: Bytes) -> Response {
    let f = FormData::parse(&body);
    if let Some(r) = f.csrf_failure(&auth) {
        return r;
    }
    if let Err(e) = auth.require_admin() {
        return page_error(e);
    }
    let form = ClientForm::from_form(&f);
    let result = async {
        let settings = form.fields()?.validate()?;
        let numbers: Vec<String> = form
            .numbers
            .split(['\n', ','])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let numbers = parse_numbers(&numbers)?;
        let secrets = SecretInput {
            auth_token: f.opt("auth_token"),
            api_key_secret: f.opt("api_key_secret"),
        };
        Ok::<_, ApiError>(
            app.store
                .create_client(&settings, &secrets, &numbers, app.now_ms())
                .await?,
        )
    }
    .await;
    match result {
        Ok(c) => Redirect::to(&format!("/admin/clients/{}", c.id)).into_response(),
        Err(e) => {
            let status = e.status;
            clients_view(&app, auth, form, Some(e), status).await
        }
    }
}

#[derive(Template)]
#[template(path = "client.html")]
struct ClientPage {
    me: User,
    csrf: String,
    client: Client,
    numbers: Vec<ClientNumber>,
    agents: Vec<User>,
    form: ClientForm,
    error: Option<String>,
    error_field: String,
    notice: Option<String>,
    webhooks: Vec<palera_store::twilio::Receipt>,
}

pub(crate) async fn client_view(
    app: &App,
    auth: Auth,
    id: ClientId,
    form: Option<ClientForm>,
    error: Option<ApiError>,
    notice: Option<String>,
) -> Response {
    if auth.user.role == Role::Agent {
        return Redirect::to("/desktop").into_response();
    }
    if let Err(e) = auth.check_client(id) {
        return page_error(e);
    }
    let loaded = async {
        let client = app.store.client(id).await?;
        let numbers = app.store.numbers(id).await?;
        let agents = app.store.users(Some(id)).await?;
        let webhooks = app.store.recent_webhooks(id, 10).await?;
        Ok::<_, ApiError>((client, numbers, agents, webhooks))
    }
    .await;
    match loaded {
        Ok((client, numbers, agents, webhooks)) => {
            let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
            render(
                &ClientPage {
                    form: form.unwrap_or_else(|| ClientForm::from_client(&client)),
                    error_field: error
                        .as_ref()
                        .and_then(|e| e.field.clone())
                        .unwrap_or_default(),
                    error: error.map(|e| e.message),
                    notice,
                    me: auth.user,
                    csrf: auth.csrf,
                    client,
                    numbers,
                    agents,
                    webhooks,
                },
                status,
            )
        }
        Err(e) => page_error(e),
    }
}

async fn client_page(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path(id): Path<i64>,
) -> Response {
    client_view(&app, auth, ClientId(id), None, None, None).await
}

async fn client_update(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let id = ClientId(id);
    let f = FormData::parse(&body);
    if let Some(r) = f.csrf_failure(&auth) {
        return r;
    }
    if let Err(e) = auth.check_client(id).and_then(|_| auth.require_admin()) {
        return page_error(e);
    }
    let form = ClientForm::from_form(&f);
    let secret = |name: &str| {
        if f.checked(&format!("clear_{name}")) {
            Some(String::new())
        } else {
            f.opt(name)
        }
    };
    let result = async {
        let settings = form.fields()?.validate()?;
        let secrets = SecretInput {
            auth_token: secret("auth_token"),
            api_key_secret: secret("api_key_secret"),
        };
        Ok::<_, ApiError>({
            let c = app.store.update_client(id, &settings, &secrets).await?;
            app.carriers.invalidate(id);
            c
        })
    }
    .await;
    match result {
        Ok(_) => client_view(&app, auth, id, None, None, Some("Settings saved.".into())).await,
        Err(e) => client_view(&app, auth, id, Some(form), Some(e), None).await,
    }
}

async fn number_add(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let id = ClientId(id);
    let f = FormData::parse(&body);
    if let Some(r) = f.csrf_failure(&auth) {
        return r;
    }
    if let Err(e) = auth.check_client(id).and_then(|_| auth.require_admin()) {
        return page_error(e);
    }
    let result = async {
        let n = client_number("number", &f.get("number"))?;
        Ok::<_, ApiError>(
            app.store
                .add_number(id, &n, &f.get("label"), app.now_ms())
                .await?,
        )
    }
    .await;
    match result {
        Ok(n) => {
            client_view(
                &app,
                auth,
                id,
                None,
                None,
                Some(format!("Number {} added.", n.number)),
            )
            .await
        }
        Err(e) => client_view(&app, auth, id, None, Some(e), None).await,
    }
}

async fn number_remove(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path((id, nid)): Path<(i64, i64)>,
    body: Bytes,
) -> Response {
    let id = ClientId(id);
    if let Some(r) = FormData::parse(&body).csrf_failure(&auth) {
        return r;
    }
    if let Err(e) = auth.check_client(id).and_then(|_| auth.require_admin()) {
        return page_error(e);
    }
    match app.store.remove_number(id, NumberId(nid)).await {
        Ok(()) => client_view(&app, auth, id, None, None, Some("Number removed.".into())).await,
        Err(e) => client_view(&app, auth, id, None, Some(e.into()), None).await,
    }
}

/// The values a user form shows.
#[derive(Default)]
struct UserForm {
    email: String,
    name: String,
    role: String,
    voice_enabled: bool,
    clients: Vec<ClientId>,
}

impl UserForm {
    fn from_form(f: &FormData) -> Self {
        Self {
            email: f.get("email"),
            name: f.get("name"),
            role: f.get("role"),
            voice_enabled: f.checked("voice_enabled"),
            clients: f
                .all("clients")
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect(),
        }
    }
    fn has_client(&self, id: &ClientId) -> bool {
        self.clients.contains(id)
    }
    fn parsed_role(&self) -> Result<Role, ApiError> {
        self.role
            .parse()
            .map_err(|r: String| ApiError::invalid("role", r))
    }
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    me: User,
    csrf: String,
    users: Vec<User>,
    clients: Vec<Client>,
    form: UserForm,
    error: Option<String>,
    error_field: String,
}

impl UsersPage {
    fn client_names(&self, u: &User) -> String {
        let names: Vec<&str> = u
            .clients
            .iter()
            .filter_map(|id| {
                self.clients
                    .iter()
                    .find(|c| c.id == *id)
                    .map(|c| c.name.as_str())
            })
            .collect();
        if names.is_empty() {
            "—".into()
        } else {
            names.join(", ")
        }
    }
}

async fn users_view(app: &App, auth: Auth, form: UserForm, error: Option<ApiError>) -> Response {
    if let Err(e) = auth.require_admin() {
        return page_error(e);
    }
    let loaded = async {
        Ok::<_, ApiError>((
            app.store.users(None).await?,
            app.store.clients(&auth.scope()).await?,
        ))
    }
    .await;
    match loaded {
        Ok((users, clients)) => {
            let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
            render(
                &UsersPage {
                    error_field: error
                        .as_ref()
                        .and_then(|e| e.field.clone())
                        .unwrap_or_default(),
                    error: error.map(|e| e.message),
                    me: auth.user,
                    csrf: auth.csrf,
                    users,
                    clients,
                    form,
                },
                status,
            )
        }
        Err(e) => page_error(e),
    }
}

async fn users_page(State(app): State<App>, PageAuth(auth): PageAuth) -> Response {
    users_view(
        &app,
        auth,
        UserForm {
            role: "agent".into(),
            voice_enabled: true,
            ..Default::default()
        },
        None,
    )
    .await
}

async fn user_create(State(app): State<App>, PageAuth(auth): PageAuth, body: Bytes) -> Response {
    let f = FormData::parse(&body);
    if let Some(r) = f.csrf_failure(&auth) {
        return r;
    }
    let form = UserForm::from_form(&f);
    let result = async {
        auth.require_admin()?;
        let new = api::new_user(UserCreate {
            email: form.email.clone(),
            name: form.name.clone(),
            role: form.parsed_role()?,
            password: f.get("password"),
            voice_enabled: form.voice_enabled,
            clients: form.clients.clone(),
        })
        .await?;
        Ok::<_, ApiError>(app.store.create_user(&new, app.now_ms()).await?)
    }
    .await;
    match result {
        Ok(_) => Redirect::to("/admin/users").into_response(),
        Err(e) => users_view(&app, auth, form, Some(e)).await,
    }
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    me: User,
    csrf: String,
    user: User,
    clients: Vec<Client>,
    form: UserForm,
    error: Option<String>,
    error_field: String,
    notice: Option<String>,
}

async fn user_view(
    app: &App,
    auth: Auth,
    id: UserId,
    form: Option<UserForm>,
    error: Option<ApiError>,
    notice: Option<String>,
) -> Response {
    if let Err(e) = auth.require_admin() {
        return page_error(e);
    }
    let loaded = async {
        Ok::<_, ApiError>((
            app.store.user(id).await?,
            app.store.clients(&auth.scope()).await?,
        ))
    }
    .await;
    match loaded {
        Ok((user, clients)) => {
            let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
            let form = form.unwrap_or_else(|| UserForm {
                email: user.email.clone(),
                name: user.name.clone(),
                role: user.role.as_str().into(),
                voice_enabled: user.voice_enabled,
                clients: user.clients.clone(),
            });
            render(
                &UserPage {
                    error_field: error
                        .as_ref()
                        .and_then(|e| e.field.clone())
                        .unwrap_or_default(),
                    error: error.map(|e| e.message),
                    notice,
                    me: auth.user,
                    csrf: auth.csrf,
                    user,
                    clients,
                    form,
                },
                status,
            )
        }
        Err(e) => page_error(e),
    }
}

async fn user_page(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path(id): Path<i64>,
) -> Response {
    user_view(&app, auth, UserId(id), None, None, None).await
}

async fn user_update(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let id = UserId(id);
    let f = FormData::parse(&body);
    if let Some(r) = f.csrf_failure(&auth) {
        return r;
    }
    let form = UserForm::from_form(&f);
    let result = async {
        auth.require_admin()?;
        if form.name.trim().is_empty() {
            return Err(ApiError::invalid("name", "is required"));
        }
        let role = form.parsed_role()?;
        if let Some(p) = f.opt("password") {
            palera_core::user::check_password("password", &p)?;
            let h = tokio::task::spawn_blocking(move || auth::hash_password(&p))
                .await
                .map_err(|e| ApiError::internal(&e))?;
            let keep = (auth.user.id == id).then_some(auth.token_hash.as_str());
            app.store.set_password_hash(id, &h, keep).await?;
        }
        Ok::<_, ApiError>(
            app.store
                .update_user_access(id, &form.name, role, form.voice_enabled, &form.clients)
                .await?,
        )
    }
    .await;
    match result {
        Ok(_) => user_view(&app, auth, id, None, None, Some("User saved.".into())).await,
        Err(e) => user_view(&app, auth, id, Some(form), Some(e), None).await,
    }
}

#[derive(Template)]
#[template(path = "desktop.html")]
struct DesktopPage {
    me: User,
    csrf: String,
    clients: Vec<Client>,
    heartbeat_ms: u64,
    /// Clients whose Twilio voice token the page keeps fresh (Twilio mode only), space-separated.
    voice_token_clients: String,
    /// The phone panel (templates/softphone.html).
    softphone: crate::softphone::SoftphoneView,
}

async fn desktop_page(State(app): State<App>, PageAuth(auth): PageAuth) -> Response {
    let scope = palera_store::clients::Scope::Only(auth.user.clients.clone());
    match app.store.clients(&scope).await {
        Ok(clients) => render(
            &DesktopPage {
                softphone: crate::softphone::view(
                    &app,
                    &crate::twilio::voice_token::desktop_clients(&app, &auth.user, &clients),
                ),
                voice_token_clients: crate::twilio::voice_token::desktop_clients(
                    &app, &auth.user, &clients,
                ),
                heartbeat_ms: (app.settings.heartbeat_timeout_seconds * 1000 / 3).max(500),
                me: auth.user,
                csrf: auth.csrf,
                clients,
            },
            StatusCode::OK,
        ),
        Err(e) => page_error(e.into()),
    }
}
