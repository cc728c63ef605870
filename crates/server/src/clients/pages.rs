//! The clients admin pages: the list with a create form (admins), and one client's settings,
//! Twilio credentials (write-only) and phone numbers.

use crate::app::App;
use crate::clients::api::parse_numbers;
use crate::http::auth::{Auth, PageAuth};
use crate::http::error::ApiError;
use crate::http::pages::{notice_or_error, page_error, render_loaded, saved_redirect};
use crate::http::pages::{FormData, FormError, PageForm, Saved};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use palera_core::ids::{ClientId, NumberId};
use palera_core::tenant::{client_number, ClientFields};
use palera_core::user::Role;
use palera_store::clients::{Client, ClientNumber, SecretInput};
use palera_store::users::User;

pub fn routes() -> Router<App> {
    Router::new()
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
    )
    .await
}

async fn clients_view(
    app: &App,
    auth: Auth,
    form: ClientForm,
    error: Option<ApiError>,
) -> Response {
    if auth.user.role == Role::Agent {
        return Redirect::to("/desktop").into_response();
    }
    let loaded = app
        .store
        .clients(&auth.scope())
        .await
        .map_err(ApiError::from);
    let error = FormError::from(error);
    render_loaded(loaded, error.status, |clients| ClientsPage {
        error_field: error.field,
        error: error.message,
        me: auth.user,
        csrf: auth.csrf,
        clients,
        form,
    })
}

async fn client_create(State(app): State<App>, PageForm { auth, form: f }: PageForm) -> Response {
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
        let numbers = parse_numbers(&numbers).map_err(numbers_in_words)?;
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
        Err(e) => clients_view(&app, auth, form, Some(e)).await,
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
    let error = FormError::from(error);
    render_loaded(
        loaded,
        error.status,
        |(client, numbers, agents, webhooks)| ClientPage {
            form: form.unwrap_or_else(|| ClientForm::from_client(&client)),
            error_field: error.field,
            error: error.message,
            notice,
            me: auth.user,
            csrf: auth.csrf,
            client,
            numbers,
            agents,
            webhooks,
        },
    )
}

async fn client_page(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path(id): Path<i64>,
    Query(saved): Query<Saved>,
) -> Response {
    let notice = saved.notice(&[("settings", "Settings saved.")]);
    client_view(&app, auth, ClientId(id), None, None, notice).await
}

async fn client_update(
    State(app): State<App>,
    Path(id): Path<i64>,
    PageForm { auth, form: f }: PageForm,
) -> Result<Response, Response> {
    let form = ClientForm::from_form(&f);
    let id = ClientId(id);
    auth.check_admin_of(id).map_err(page_error)?;
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
        crate::clients::api::save_client(&app, id, &settings, &secrets).await
    }
    .await;
    Ok(match result {
        Ok(_) => saved_redirect(&format!("/admin/clients/{id}"), "settings"),
        Err(e) => client_view(&app, auth, id, Some(form), Some(e), None).await,
    })
}

async fn number_add(
    State(app): State<App>,
    Path(id): Path<i64>,
    PageForm { auth, form: f }: PageForm,
) -> Result<Response, Response> {
    let id = ClientId(id);
    auth.check_admin_of(id).map_err(page_error)?;
    let result = async {
        let n = client_number("number", &f.get("number"))?;
        let n = app
            .store
            .add_number(id, &n, &f.get("label"), app.now_ms())
            .await?;
        Ok::<_, ApiError>(format!("Number {} added.", n.number))
    }
    .await;
    let (error, notice) = notice_or_error(result);
    Ok(client_view(&app, auth, id, None, error, notice).await)
}

async fn number_remove(
    State(app): State<App>,
    Path((id, nid)): Path<(i64, i64)>,
    PageForm { auth, .. }: PageForm,
) -> Result<Response, Response> {
    let id = ClientId(id);
    auth.check_admin_of(id).map_err(page_error)?;
    let result = app.store.remove_number(id, NumberId(nid)).await;
    let result = result.map(|()| "Number removed.".to_string());
    let (error, notice) = notice_or_error(result.map_err(ApiError::from));
    Ok(client_view(&app, auth, id, None, error, notice).await)
}

/// A refused number said as the form shows it: by its line in the box, not its array index.
fn numbers_in_words(mut e: ApiError) -> ApiError {
    let index = e
        .field
        .as_deref()
        .and_then(|f| f.strip_prefix("numbers["))
        .and_then(|f| f.strip_suffix(']'))
        .and_then(|i| i.parse::<usize>().ok());
    if let Some(i) = index {
        let reason = e
            .message
            .split_once(": ")
            .map_or(e.message.clone(), |(_, r)| r.to_string());
        e.message = format!("Number on line {}: {reason}", i + 1);
        e.field = Some("numbers".into());
    }
    e
}
