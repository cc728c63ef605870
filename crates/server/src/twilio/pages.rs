//! The Twilio parts of the client settings page: "Check credentials" (result shown on the
//! client page) and "Point numbers at this server", which first shows a confirmation page
//! listing each number with its current and new voice URL, and only changes Twilio on confirm.

use super::account::{self, NumberPlan, PointResult};
use crate::app::App;
use crate::clients::pages::client_view;
use crate::http::auth::{Auth, PageAuth};
use crate::http::pages::{page_error, render, FormError, PageForm};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use palera_core::ids::ClientId;
use palera_store::clients::Client;
use palera_store::users::User;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/admin/clients/{client_id}/twilio/check", post(check))
        .route(
            "/admin/clients/{client_id}/twilio/numbers",
            get(numbers_page).post(numbers_confirm),
        )
}

async fn check(
    State(app): State<App>,
    Path(id): Path<i64>,
    PageForm { auth, .. }: PageForm,
) -> Response {
    let id = ClientId(id);
    if let Err(e) = auth.check_client(id).and_then(|_| auth.require_staff()) {
        return page_error(e);
    }
    match account::check_credentials(&app, id).await {
        Ok(check) => {
            let lines: Vec<String> = check
                .results
                .iter()
                .map(|r| format!("{}: {}", r.credential.replace('_', " "), r.message))
                .collect();
            let text = lines.join("; ");
            if check.ok {
                let notice = format!("Twilio credentials work. {text}.");
                client_view(&app, auth, id, None, None, Some(notice)).await
            } else {
                let e = crate::http::error::ApiError::new(
                    StatusCode::OK,
                    "credentials_failed",
                    format!("Twilio credential check failed. {text}."),
                );
                client_view(&app, auth, id, None, Some(e), None).await
            }
        }
        Err(e) => client_view(&app, auth, id, None, Some(e), None).await,
    }
}

#[derive(Template)]
#[template(path = "twilio_numbers.html")]
struct NumbersPage {
    me: User,
    csrf: String,
    client: Client,
    plan: Vec<NumberPlan>,
    results: Vec<PointResult>,
    error: Option<String>,
}

async fn numbers_view(app: &App, auth: Auth, id: ClientId, apply: bool) -> Response {
    if let Err(e) = auth.check_admin_of(id) {
        return page_error(e);
    }
    let client = match app.store.client(id).await {
        Ok(c) => c,
        Err(e) => return page_error(e.into()),
    };
    let outcome = if apply {
        account::point_numbers(app, id)
            .await
            .map(|r| (Vec::new(), r))
    } else {
        account::number_plan(app, id).await.map(|p| (p, Vec::new()))
    };
    let ((plan, results), error) = match outcome {
        Ok(shown) => (shown, None),
        Err(e) => (Default::default(), Some(e)),
    };
    let error = FormError::from(error);
    render(
        &NumbersPage {
            me: auth.user,
            csrf: auth.csrf,
            client,
            plan,
            results,
            error: error.message,
        },
        error.status,
    )
}

async fn numbers_page(
    State(app): State<App>,
    PageAuth(auth): PageAuth,
    Path(id): Path<i64>,
) -> Response {
    numbers_view(&app, auth, ClientId(id), false).await
}

async fn numbers_confirm(
    State(app): State<App>,
    Path(id): Path<i64>,
    PageForm { auth, .. }: PageForm,
) -> Response {
    numbers_view(&app, auth, ClientId(id), true).await
}
