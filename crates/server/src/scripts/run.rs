//! A call's run through its script (the campaign's, or for an inbound call the one picked in the
//! client's inbound settings), kept by the server: the run starts on the first read with the
//! script's published version (recorded with the call, so later edits never
//! change it), answers are typed like contact properties (and written back to the contact through
//! the property edit, with its history, when the field says so), disclosures are acknowledged
//! with their time, and moving on is refused (409 naming what is missing) until the step's
//! required fields and disclosures are done. Open to the call's agent and staff of its client.

use crate::app::App;
use crate::desk::api::{edit_contact_field, workable_call, FieldEdit};
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ErrorBody, JsonBody};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use palera_core::ids::CallId;
use palera_core::script::{render, MergeValues, Run, RunError, ScriptBody, Step};
use palera_store::calls::Call;
use palera_store::scripts::ScriptVersion;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    paths(get_run, answer, acknowledge, next),
    components(schemas(
        RunView,
        StepView,
        FieldView,
        DisclosureView,
        AnswerRequest,
        AckRequest
    ))
)]
pub struct ScriptRunDoc;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/calls/{call_id}/script", get(get_run))
        .route("/api/v1/calls/{call_id}/script/answer", post(answer))
        .route(
            "/api/v1/calls/{call_id}/script/acknowledge",
            post(acknowledge),
        )
        .route("/api/v1/calls/{call_id}/script/next", post(next))
}

/// A field of the current step with its answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldView {
    pub key: String,
    pub label: String,
    pub kind: String,
    pub choices: Vec<String>,
    pub required: bool,
    /// The contact property the answer is written to.
    pub property: Option<String>,
    #[schema(value_type = Object)]
    pub value: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DisclosureView {
    pub key: String,
    pub text: String,
    /// When it was acknowledged (ms since the epoch).
    pub acknowledged_at: Option<i64>,
}

/// The step the run is on, its text filled in for this call.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepView {
    pub key: String,
    pub title: String,
    pub text: String,
    pub fields: Vec<FieldView>,
    pub disclosures: Vec<DisclosureView>,
    pub last: bool,
}

/// A call's run as the desktop shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    pub call_id: CallId,
    pub script_name: String,
    pub version: i64,
    /// The current step; `null` once the run is finished.
    pub step: Option<StepView>,
    /// Keys of what the current step still needs.
    pub missing: Vec<String>,
    pub finished: bool,
    /// Titles of the steps done, in order.
    pub done: Vec<String>,
    /// Every answer so far, by field label.
    #[schema(value_type = Object)]
    pub answers: Vec<(String, Value)>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AnswerRequest {
    pub field: String,
    #[schema(value_type = Object)]
    pub value: Value,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AckRequest {
    pub disclosure: String,
}

/// The run of a call with its version, started from the campaign's published script if the call
/// has none yet.
struct Loaded {
    call: Call,
    version: ScriptVersion,
    name: String,
    run: Run,
}

/// Stores the run as it is now and answers its view.
async fn save_and_view(app: &App, l: &Loaded) -> Result<Json<RunView>, ApiError> {
    let call = &l.call;
    app.store
        .save_script_run(call.client_id, call.id, l.version.id, &l.run, app.now_ms())
        .await?;
    Ok(Json(view(app, l).await?))
}

async fn load(app: &App, auth: &Auth, id: CallId) -> Result<Loaded, ApiError> {
    let call = workable_call(app, auth, id).await?;
    if let Some(stored) = app.store.script_run(call.client_id, id).await? {
        return Ok(Loaded {
            call,
            name: stored.script_name,
            version: stored.version,
            run: stored.run,
        });
    }
    let no_script = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_script",
            "this call has no built script",
        )
    };
    // A campaign call runs its campaign's script; an inbound call the client's inbound one.
    let picked = match call.campaign_id {
        Some(campaign) => {
            app.store
                .campaign_builder_script(call.client_id, campaign)
                .await?
        }
        None if call.direction == "inbound" => {
            app.store.inbound_settings(call.client_id).await?.script_id
        }
        None => None,
    };
    let script_id = picked.ok_or_else(no_script)?;
    let script = app.store.script(call.client_id, script_id).await?;
    let version = script.published.ok_or_else(no_script)?;
    let run = Run::start(&version.body);
    app.store
        .save_script_run(call.client_id, id, version.id, &run, app.now_ms())
        .await?;
    Ok(Loaded {
        call,
        name: script.name,
        version,
        run,
    })
}

/// The values merge fields are filled from: the call's contact, its agent and its client.
async fn merge_values(app: &App, call: &Call) -> Result<MergeValues, ApiError> {
    let mut m = MergeValues::default();
    let mut put = |k: &str, v: String| {
        m.values.insert(k.to_string(), v);
    };
    if let Some(contact) = call.contact_id {
        let c = app.store.contact(call.client_id, contact).await?;
        put("contact.first_name", c.first_name.clone());
        put("contact.last_name", c.last_name.clone());
        put("contact.phone", c.phone.as_str().to_string());
        put("contact.email", c.email.clone().unwrap_or_default());
        for (k, v) in &c.properties {
            put(
                &format!("contact.properties.{k}"),
                palera_core::script::answer_text(v),
            );
        }
    }
    if let Some(agent) = call.agent_id {
        if let Ok(u) = app.store.user(agent).await {
            put("agent.name", u.name);
        }
    }
    put("client.name", app.store.client(call.client_id).await?.name);
    Ok(m)
}

fn step_view(step: &Step, run: &Run, m: &MergeValues) -> StepView {
    StepView {
        key: step.key.clone(),
        title: step.title.clone(),
        text: render(&step.text, m),
        fields: step
            .fields
            .iter()
            .map(|f| FieldView {
                key: f.key.clone(),
                label: f.label.clone(),
                kind: f.kind.as_str().to_string(),
                choices: f.choices.clone(),
                required: f.required,
                property: f.property.clone(),
                value: run.answers.get(&f.key).cloned(),
            })
            .collect(),
        disclosures: step
            .disclosures
            .iter()
            .map(|d| DisclosureView {
                key: d.key.clone(),
                text: render(&d.text, m),
                acknowledged_at: run.acknowledged.get(&d.key).map(|t| t.timestamp_millis()),
            })
            .collect(),
        last: step.next.is_none() && step.branches.is_empty(),
    }
}

/// Every answer of a run labelled as the agent saw it (for the desktop and the conversation).
pub fn labelled_answers(body: &ScriptBody, run: &Run) -> Vec<(String, Value)> {
    body.steps
        .iter()
        .flat_map(|s| &s.fields)
        .filter_map(|f| {
            run.answers
                .get(&f.key)
                .map(|v| (f.label.clone(), v.clone()))
        })
        .collect()
}

async fn view(app: &App, l: &Loaded) -> Result<RunView, ApiError> {
    let body = &l.version.body;
    let m = merge_values(app, &l.call).await?;
    let step = if l.run.finished {
        None
    } else {
        body.step(&l.run.step).map(|s| step_view(s, &l.run, &m))
    };
    Ok(RunView {
        call_id: l.call.id,
        script_name: l.name.clone(),
        version: l.version.version,
        step,
        missing: l.run.missing(body),
        finished: l.run.finished,
        done: l
            .run
            .path
            .iter()
            .filter_map(|k| body.step(k).map(|s| s.title.clone()))
            .collect(),
        answers: labelled_answers(body, &l.run),
    })
}

/// A refused run request as the API answers it: 409 naming what is missing, 422 for a bad
/// answer (naming the field).
fn refused(body: &ScriptBody, run: &Run, e: RunError) -> ApiError {
    match e {
        RunError::Incomplete(missing) => {
            let step = body.step(&run.step);
            let names: Vec<String> = missing
                .iter()
                .map(|k| {
                    step.and_then(|s| {
                        s.fields
                            .iter()
                            .find(|f| &f.key == k)
                            .map(|f| f.label.clone())
                            .or_else(|| {
                                s.disclosures
                                    .iter()
                                    .find(|d| &d.key == k)
                                    .map(|_| format!("the disclosure {k:?}"))
                            })
                    })
                    .unwrap_or_else(|| k.clone())
                })
                .collect();
            let mut err = ApiError::new(
                StatusCode::CONFLICT,
                "script_step_incomplete",
                format!("finish this step first: {}", names.join(", ")),
            );
            err.field = missing.first().cloned();
            err
        }
        RunError::Invalid(v) => v.into(),
        RunError::Finished => ApiError::new(
            StatusCode::CONFLICT,
            "script_finished",
            "the script is finished",
        ),
    }
}

#[utoipa::path(get, path = "/api/v1/calls/{call_id}/script", params(("call_id" = i64, Path)),
    responses((status = 200, body = RunView), (status = 404, body = ErrorBody, description = "no such call for you, or the call has no built script (`no_script`)")))]
async fn get_run(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Json<RunView>, ApiError> {
    let l = load(&app, &auth, CallId(id)).await?;
    Ok(Json(view(&app, &l).await?))
}

#[utoipa::path(post, path = "/api/v1/calls/{call_id}/script/answer", params(("call_id" = i64, Path)), request_body = AnswerRequest,
    responses((status = 200, body = RunView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "the field and why")))]
async fn answer(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<i64>,
    JsonBody(req): JsonBody<AnswerRequest>,
) -> Result<Json<RunView>, ApiError> {
    let mut l = load(&app, &auth, CallId(id)).await?;
    let body = l.version.body.clone();
    let country = app.store.client(l.call.client_id).await?.default_country;
    let country = Some(country.as_str()).filter(|c| !c.is_empty());
    let typed = l
        .run
        .answer(&body, &req.field, &req.value, country)
        .map_err(|e| refused(&body, &l.run, e))?;
    let property = body
        .step(&l.run.step)
        .and_then(|s| s.fields.iter().find(|f| f.key == req.field))
        .and_then(|f| f.property.clone());
    if let (Some(p), Some(contact)) = (property, l.call.contact_id) {
        let edit = FieldEdit {
            field: format!("properties.{p}"),
            value: typed.unwrap_or(Value::Null),
        };
        edit_contact_field(&app, &auth, contact, &edit, "script")
            .await
            .map_err(|mut e| {
                e.field = Some(req.field.clone());
                e
            })?;
    }
    save_and_view(&app, &l).await
}

#[utoipa::path(post, path = "/api/v1/calls/{call_id}/script/acknowledge", params(("call_id" = i64, Path)), request_body = AckRequest,
    responses((status = 200, body = RunView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn acknowledge(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<i64>,
    JsonBody(req): JsonBody<AckRequest>,
) -> Result<Json<RunView>, ApiError> {
    let mut l = load(&app, &auth, CallId(id)).await?;
    let body = l.version.body.clone();
    l.run
        .acknowledge(&body, &req.disclosure, app.clock.now())
        .map_err(|e| refused(&body, &l.run, e))?;
    save_and_view(&app, &l).await
}

#[utoipa::path(post, path = "/api/v1/calls/{call_id}/script/next", params(("call_id" = i64, Path)),
    responses((status = 200, body = RunView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the step's required fields or disclosures are not done (named), or the script is finished")))]
async fn next(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Json<RunView>, ApiError> {
    let mut l = load(&app, &auth, CallId(id)).await?;
    let body = l.version.body.clone();
    l.run
        .advance(&body)
        .map_err(|e| refused(&body, &l.run, e))?;
    save_and_view(&app, &l).await
}
