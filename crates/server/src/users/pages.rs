//! The users admin pages: the list with a create form, and one user's role, voice enablement,
//! client assignments and password.

use crate::app::App;
use crate::http::auth;
use crate::http::auth::{Auth, PageAuth};
use crate::http::error::ApiError;
use crate::http::pages::{page_error, render_loaded, saved_redirect};
use crate::http::pages::{FormData, FormError, PageForm, Saved};
use crate::users::api::{new_user, UserCreate};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use palera_core::ids::{ClientId, UserId};
use palera_core::user::Role;
use palera_store::clients::Client;
use palera_store::users::User;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/admin/users", get(users_page).post(user_create))
        .route("/admin/users/{user_id}", get(user_page).post(user_update))
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
    let error = FormError::from(error);
    render_loaded(loaded, error.status, |(users, clients)| UsersPage {
        error_field: error.field,
        error: error.message,
        me: auth.user,
        csrf: auth.csrf,
        users,
        clients,
        form,
    })
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

async fn user_create(State(app): State<App>, PageForm { auth, form: f }: PageForm) -> Response {
    let form = UserForm::from_form(&f);
    let result = async {
        auth.require_admin()?;
        let new = new_user(UserCreate {
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
    let error = FormError::from(error);
    render_loaded(loaded, error.status, |(user, clients)| UserPage {
        form: form.unwrap_or_else(|| UserForm {
            email: user.email.clone(),
            name: user.name.clone(),
            role: user.role.as_str().into(),
            voice_enabled: user.voice_enabled,
            clients: user.clients.clone(),
        }),
        error_field: error.field,
        error: error.message,
        notice,
        me: auth.user,
        csrf: auth.csrf,
        user,
        clients,
    })
}

async fn user_page(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path(id): Path<i64>,
    Query(saved): Query<Saved>,
) -> Response {
    let notice = saved.notice(&[("user", "User saved.")]);
    user_view(&app, auth, UserId(id), None, None, notice).await
}

async fn user_update(
    State(app): State<App>,
    Path(id): Path<i64>,
    PageForm { auth, form: f }: PageForm,
) -> Response {
    let id = UserId(id);
    let form = UserForm::from_form(&f);
    let result = async {
        auth.require_admin()?;
        if form.name.trim().is_empty() {
            return Err(ApiError::invalid("name", "is required"));
        }
        let role = form.parsed_role()?;
        if let Some(p) = f.opt("password") {
            palera_core::user::check_password("password", &p)?;
            let h = auth::hash_new_password(p).await?;
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
        Ok(_) => saved_redirect(&format!("/admin/users/{id}"), "user"),
        Err(e) => user_view(&app, auth, id, Some(form), Some(e), None).await,
    }
}
