//! The script pages, for supervisors and admins of the client: the list (new script, JSON import,
//! each script's versions and the campaigns that run it) and the step builder (add, reorder, edit
//! and delete steps; fields, disclosures and branches picked from menus; a live preview for a
//! sample contact; save, publish, export, pick for a campaign). The pages are rendered here with
//! their data in a `data-` attribute; `/static/scripts.js` edits through the JSON API, and the
//! desktop's run panel is `/static/script-run.js`.

use super::api::ScriptRequest;
use crate::app::App;
use crate::http::error::ApiError;
use crate::http::pages::StaffPage;
use crate::http::pages::{page_error, render};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use palera_core::ids::{ClientId, ScriptId};
use palera_store::clients::Client;
use palera_store::scripts::Script;
use palera_store::users::User;
use serde_json::json;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/admin/clients/{client_id}/scripts", get(list_page))
        .route(
            "/admin/clients/{client_id}/scripts/{script_id}",
            get(builder_page),
        )
        .route(
            "/static/scripts.js",
            get(|| js(include_str!("../../static/scripts.js"))),
        )
        .route(
            "/static/script-run.js",
            get(|| js(include_str!("../../static/script-run.js"))),
        )
}

async fn js(body: &'static str) -> Response {
    crate::http::pages::javascript(body)
}

/// One campaign of the client and the script it runs.
struct CampaignRow {
    id: i64,
    name: String,
    script: Option<String>,
}

#[derive(Template)]
#[template(path = "scripts.html")]
struct ListPage {
    me: User,
    csrf: String,
    client: Client,
    scripts: Vec<Script>,
    campaigns: Vec<CampaignRow>,
}

#[derive(Template)]
#[template(path = "script_builder.html")]
struct BuilderPage {
    me: User,
    csrf: String,
    client: Client,
    script: Script,
    /// Everything the builder script needs, as JSON (HTML-escaped into a data attribute).
    data: String,
}

async fn campaign_rows(
    app: &App,
    client: ClientId,
    scripts: &[Script],
) -> Result<Vec<CampaignRow>, ApiError> {
    let mut rows = Vec::new();
    for c in app.store.campaigns(client).await? {
        let picked = app.store.campaign_builder_script(client, c.id).await?;
        rows.push(CampaignRow {
            id: c.id.0,
            name: c.name,
            script: picked.and_then(|p| scripts.iter().find(|s| s.id == p).map(|s| s.name.clone())),
        });
    }
    Ok(rows)
}

async fn list_page(State(app): State<App>, StaffPage { auth, client: c }: StaffPage) -> Response {
    let client = c.id;
    let loaded = async {
        let scripts = app.store.scripts(client).await?;
        let campaigns = campaign_rows(&app, client, &scripts).await?;
        Ok::<_, ApiError>((c, scripts, campaigns))
    }
    .await;
    match loaded {
        Ok((client, scripts, campaigns)) => render(
            &ListPage {
                me: auth.user,
                csrf: auth.csrf,
                client,
                scripts,
                campaigns,
            },
            StatusCode::OK,
        ),
        Err(e) => page_error(e),
    }
}

async fn builder_page(
    State(app): State<App>,
    StaffPage { auth, client: c }: StaffPage,
    Path((_, script)): Path<(i64, i64)>,
) -> Response {
    let client = c.id;
    let loaded = async {
        let s = app.store.script(client, ScriptId(script)).await?;
        let scripts = app.store.scripts(client).await?;
        let campaigns = campaign_rows(&app, client, &scripts).await?;
        let schema = app.store.property_schema(client).await?;
        let sample = app.store.sample_contact(client).await?;
        let data = json!({
            "client_id": client.0,
            "client_name": c.name,
            "agent_name": auth.user.name,
            "script": ScriptRequest { name: s.name.clone(), steps: s.latest.body.steps.clone() },
            "script_id": s.id.0,
            "version": s.latest.version,
            "draft": s.latest.published_at.is_none(),
            "published_version": s.published.as_ref().map(|p| p.version),
            "properties": schema.properties,
            "sample": sample,
            "campaigns": campaigns.iter().map(|r| json!({"id": r.id, "name": r.name, "script": r.script})).collect::<Vec<_>>(),
        });
        Ok::<_, ApiError>((c, s, data.to_string()))
    }
    .await;
    match loaded {
        Ok((client, script, data)) => render(
            &BuilderPage {
                me: auth.user,
                csrf: auth.csrf,
                client,
                script,
                data,
            },
            StatusCode::OK,
        ),
        Err(e) => page_error(e),
    }
}
