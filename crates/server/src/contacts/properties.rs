//! The properties page of a client (issue 20): the custom contact fields (name, label, type,
//! choices, required) listed with an editor for each and a form to add one, for admins and
//! supervisors. Saves go through the same validation as `PUT /api/v1/clients/{id}/properties`
//! and answer with POST-redirect-GET; a refused form names the field and keeps what was typed.

use crate::app::App;
use crate::http::error::ApiError;
use crate::http::pages::{
    page_error, render, saved_redirect, FormError, PageForm, Saved, StaffPage,
};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use palera_core::contact::{PropertyDef, PropertyFields, PropertyKind};
use palera_store::clients::Client;
use palera_store::users::User;

pub fn routes() -> Router<App> {
    let c = "/admin/clients/{client_id}/properties";
    Router::new()
        .route(c, get(page).post(save))
        .route(&format!("{c}/{{name}}/delete"), post(delete))
}

#[derive(Template)]
#[template(path = "properties.html")]
struct PropertiesPage {
    me: User,
    csrf: String,
    client: Client,
    properties: Vec<PropertyDef>,
    /// The form that was refused (kept as typed), and which property it was about.
    form: Option<PropertyFields>,
    error: Option<String>,
    error_field: String,
    notice: Option<String>,
}

impl PropertiesPage {
    fn kinds(&self) -> Vec<(&'static str, &'static str)> {
        PropertyKind::ALL
            .iter()
            .map(|k| (k.as_str(), words(*k)))
            .collect()
    }
    fn same(&self, a: impl AsRef<str>, b: impl AsRef<str>) -> bool {
        a.as_ref() == b.as_ref()
    }
    /// The refused form when it is about `name` ("" for the new-property form).
    fn refused(&self, name: &str) -> Option<&PropertyFields> {
        self.form.as_ref().filter(|f| {
            let about_existing = self.properties.iter().any(|p| p.name == f.name.trim());
            if name.is_empty() {
                !about_existing
            } else {
                about_existing && f.name.trim() == name
            }
        })
    }
    fn bad(&self, name: &str, field: &str) -> &'static str {
        match self.refused(name) {
            Some(_) if self.error_field == field => "bad",
            _ => "",
        }
    }
}

/// A property type in people's words.
fn words(k: PropertyKind) -> &'static str {
    match k {
        PropertyKind::Text => "Text",
        PropertyKind::Number => "Number",
        PropertyKind::Boolean => "Yes / no",
        PropertyKind::Date => "Date",
        PropertyKind::Email => "E-mail address",
        PropertyKind::Phone => "Phone number",
        PropertyKind::Choice => "One of a list of choices",
    }
}

async fn view(
    app: &App,
    page: StaffPage,
    form: Option<PropertyFields>,
    error: Option<ApiError>,
    notice: Option<String>,
) -> Response {
    let properties = match app.store.property_schema(page.client.id).await {
        Ok(s) => s.properties,
        Err(e) => return page_error(e.into()),
    };
    let error = FormError::from(error);
    render(
        &PropertiesPage {
            me: page.auth.user,
            csrf: page.auth.csrf,
            client: page.client,
            properties,
            form,
            error_field: error.field,
            error: error.message,
            notice,
        },
        error.status,
    )
}

async fn page(State(app): State<App>, page: StaffPage, Query(saved): Query<Saved>) -> Response {
    let notice = saved.notice(&[
        ("property", "Property saved."),
        (
            "deleted",
            "Property removed; the values stored in contacts stay.",
        ),
    ]);
    view(&app, page, None, None, notice).await
}

/// Adds a property, or changes the one with this name.
async fn save(
    State(app): State<App>,
    page: StaffPage,
    PageForm { form: f, .. }: PageForm,
) -> Response {
    let fields = PropertyFields {
        name: f.get("name"),
        label: Some(f.get("label")).filter(|l| !l.trim().is_empty()),
        kind: f.get("kind"),
        choices: f
            .get("choices")
            .split(',')
            .map(|c| c.trim().to_string())
            .collect(),
        required: !f.get("required").is_empty(),
    };
    let client = page.client.id;
    let result = async {
        let def = fields.validate()?;
        app.store
            .define_property(client, &def, app.now_ms())
            .await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match result {
        Ok(()) => saved_redirect(&format!("/admin/clients/{client}/properties"), "property"),
        Err(e) => view(&app, page, Some(fields), Some(e), None).await,
    }
}

async fn delete(
    State(app): State<App>,
    page: StaffPage,
    Path((_, name)): Path<(i64, String)>,
    PageForm { .. }: PageForm,
) -> Response {
    let client = page.client.id;
    match app.store.delete_property(client, &name).await {
        Ok(()) => saved_redirect(&format!("/admin/clients/{client}/properties"), "deleted"),
        Err(e) => view(&app, page, None, Some(e.into()), None).await,
    }
}
