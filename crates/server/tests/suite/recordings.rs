//! Recordings and transcripts (DESIGN §2.6, issue 13), one test per rule, on SQLite and
//! PostgreSQL, with the real engine, the simulated network (which records a generated
//! dual-channel WAV and says a known conversation) and the recordings worker.

use crate::common;
use crate::common::eventually;
use crate::common::sim_rig::{humans, sim_rig, Setup, SimRig};
use palera_core::ids::{CallId, UserId};
use palera_core::recording::{RecordingStatus, Speaker};
use palera_server::desk::ws::{DesktopEvent, DesktopMessage};
use palera_store::recordings::RecordingSettings;
use palera_store::transcripts::TranscriptKind;
use palera_store::Backend;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::broadcast;

/// Network time runs this many times faster than real time.
const SCALE: f64 = 4.0;

/// A rig whose campaign records (`recording`) and transcribes (`transcription`); contacts answer
/// after `ring` and talk `talk` network seconds.
async fn rig(b: Backend, recording: bool, transcription: bool, talk: f64) -> Option<SimRig> {
    let r = sim_rig(
        b,
        Setup {
            behaviour: humans(2.0, talk),
            time_scale: SCALE,
            contacts: 1,
            wrap_up_seconds: 600,
            ..Default::default()
        },
    )
    .await?;
    sqlx::query("UPDATE campaigns SET recording = $1, transcription = $2 WHERE id = $3")
        .bind(recording)
        .bind(transcription)
        .bind(r.campaign.0)
        .execute(r.store().pool())
        .await
        .unwrap();
    Some(r)
}

async fn ready(r: &SimRig, i: usize) -> reqwest::Client {
    let c = r.login(i).await;
    let (s, body) = common::json(
        c.put(r.url("/api/v1/me/voice-state"))
            .json(&json!({ "state": "ready" })),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    c
}

/// One test per backend with the backend as its argument.
macro_rules! rule {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)(Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)(Backend::Postgres).await;
            }
        }
    };
}

/// The first call of the campaign once it is connected to the agent.
async fn connected_call(r: &SimRig) -> CallId {
    eventually("a connected call", Duration::from_secs(20), || async {
        r.calls()
            .await
            .into_iter()
            .find(|c| c.connected_at.is_some())
            .map(|c| c.id)
    })
    .await
}

/// The call's recording once it has reached `status`.
async fn recording_in(
    r: &SimRig,
    call: CallId,
    status: RecordingStatus,
    limit: Duration,
) -> palera_store::recordings::Recording {
    eventually(&format!("recording {status:?}"), limit, || async {
        r.store()
            .recording_for_call(r.client, call)
            .await
            .unwrap()
            .filter(|rec| rec.status == status)
    })
    .await
}

/// The transcript lines pushed to `user` for `call`, until `n` arrived or `limit` passed.
async fn pushed_lines(
    rx: &mut broadcast::Receiver<DesktopEvent>,
    user: UserId,
    call: CallId,
    n: usize,
    limit: Duration,
) -> Vec<(u32, String)> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut got = Vec::new();
    while got.len() < n {
        let Ok(ev) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            break;
        };
        if let Ok(DesktopEvent {
            user: to,
            body: DesktopMessage::TranscriptLine { call_id, line },
            ..
        }) = ev
        {
            if to == user && call_id == call {
                got.push((line.seq, line.text));
            }
        }
    }
    got
}

rule!(
    recording_starts_only_when_enabled_and_once_both_parties_are_connected,
    |b| async move {
        // Off: the call is never recorded.
        let Some(off) = rig(b, false, false, 3.0).await else {
            return;
        };
        ready(&off, 0).await;
        off.start().await;
        let call = connected_call(&off).await;
        eventually(
            "the unrecorded call ends",
            Duration::from_secs(20),
            || async {
                off.store()
                    .call_unscoped(call)
                    .await
                    .unwrap()
                    .ended_at
                    .map(|_| ())
            },
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(off
            .store()
            .recording_for_call(off.client, call)
            .await
            .unwrap()
            .is_none());
        drop(off);

        // On: no recording while it rings; it starts once the agent is connected too.
        let Some(on) = rig(b, true, false, 3.0).await else {
            return;
        };
        ready(&on, 0).await;
        on.start().await;
        let ringing = eventually("a dialled call", Duration::from_secs(20), || async {
            on.calls().await.into_iter().next()
        })
        .await;
        if ringing.connected_at.is_none() {
            assert!(
                on.store()
                    .recording_for_call(on.client, ringing.id)
                    .await
                    .unwrap()
                    .is_none(),
                "not recorded before both parties are connected"
            );
        }
        let call = connected_call(&on).await;
        let rec = recording_in(&on, call, RecordingStatus::Stored, Duration::from_secs(30)).await;
        let row = on.store().call_unscoped(call).await.unwrap();
        let connected = row.connected_at.unwrap();
        assert!(
            rec.started_at >= connected,
            "{} < {connected}",
            rec.started_at
        );
        assert_eq!(rec.channels, 2);
        assert_eq!(
            rec.carrier_sid.as_deref(),
            Some(&*format!("SIMRE{:08}", call.0))
        );
        // The stored file is the dual-channel WAV of the call.
        let key = rec.storage_key.clone().unwrap();
        let bytes = on.app.recordings.media.get(&key).await.unwrap();
        assert_eq!(&bytes[8..12], b"WAVE");
        assert_eq!(
            u16::from_le_bytes([bytes[22], bytes[23]]),
            2,
            "two channels"
        );
        assert!(bytes.len() as i64 == rec.bytes.unwrap());
    }
);

rule!(
    pause_and_resume_are_marked_on_the_timeline,
    |b| async move {
        let Some(r) = rig(b, true, false, 8.0).await else {
            return;
        };
        let agent = ready(&r, 0).await;
        let mut rx = r.app.events.subscribe();
        r.start().await;
        let call = connected_call(&r).await;
        recording_in(&r, call, RecordingStatus::Recording, Duration::from_secs(5)).await;
        let post = |path: String| {
            let agent = agent.clone();
            let url = r.url(&path);
            async move { agent.post(url).send().await.unwrap().status().as_u16() }
        };
        let base = format!("/api/v1/calls/{}/recording", call.0);
        // The carrier's recording may still be starting: the first pause retries until it took.
        eventually("the pause takes", Duration::from_secs(5), || async {
            (post(format!("{base}/pause")).await == 204).then_some(())
        })
        .await;
        assert_eq!(post(format!("{base}/pause")).await, 409, "already paused");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(post(format!("{base}/resume")).await, 204);
        let paused = eventually("the desktop hears it", Duration::from_secs(2), || {
            let ev = rx.try_recv();
            async move {
                match ev {
                    Ok(DesktopEvent {
                        body: DesktopMessage::RecordingPaused { paused: false, .. },
                        ..
                    }) => Some(()),
                    _ => None,
                }
            }
        });
        paused.await;
        let rec = recording_in(&r, call, RecordingStatus::Stored, Duration::from_secs(30)).await;
        assert_eq!(rec.pauses.len(), 1);
        let p = rec.pauses[0];
        let resumed = p.resumed_ms.expect("resumed");
        assert!(resumed >= p.paused_ms + 250, "{p:?}");
        let kinds = r.store().call_event_kinds(call).await.unwrap();
        assert!(
            kinds.iter().any(|k| k == "recording_paused")
                && kinds.iter().any(|k| k == "recording_resumed"),
            "{kinds:?}"
        );
    }
);

rule!(
    live_transcript_lines_reach_only_the_calls_agent_and_its_watchers_in_order,
    |b| async move {
        let Some(r) = rig(b, true, true, 30.0).await else {
            return;
        };
        // A supervisor of the client watches; a supervisor of another client cannot.
        let sup = r
            .store()
            .create_user(
                &new_user(
                    "sup@sim.test",
                    palera_core::user::Role::Supervisor,
                    vec![r.client],
                ),
                1,
            )
            .await
            .unwrap();
        let other_client = other_client(&r).await;
        let outsider = r
            .store()
            .create_user(
                &new_user(
                    "out@sim.test",
                    palera_core::user::Role::Supervisor,
                    vec![other_client],
                ),
                1,
            )
            .await
            .unwrap();
        let agent = ready(&r, 0).await;
        let mut rx = r.app.events.subscribe();
        r.start().await;
        let call = connected_call(&r).await;
        let sup_http = login(&r, "sup@sim.test").await;
        let watch = format!("/api/v1/clients/{}/calls/{}/watch", r.client.0, call.0);
        let (s, _) = common::json(sup_http.post(r.url(&watch))).await;
        assert_eq!(s, 200);
        let out_http = login(&r, "out@sim.test").await;
        let (s, _) = common::json(out_http.post(r.url(&watch))).await;
        assert_eq!(s, 404, "another client's supervisor cannot watch");
        let (s, _) = common::json(agent.post(r.url(&watch))).await;
        assert_eq!(s, 403, "agents do not watch calls");

        let mut rx2 = r.app.events.subscribe();
        let to_agent = pushed_lines(&mut rx, r.agents[0], call, 3, Duration::from_secs(20)).await;
        assert!(to_agent.len() >= 3, "{to_agent:?}");
        let seqs: Vec<u32> = to_agent.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, (0..seqs.len() as u32).collect::<Vec<_>>(), "in order");
        let said = palera_carrier::sim::recording::conversation(call.0 as u64, u64::MAX);
        assert_eq!(to_agent[0].1, said[0].text);
        assert_eq!(to_agent[1].1, said[1].text);
        let to_sup = pushed_lines(&mut rx2, sup.id, call, 1, Duration::from_secs(20)).await;
        assert!(!to_sup.is_empty(), "the watcher gets the lines");
        // Nobody else: neither the outsider nor the client's other users got a line.
        let mut rx3 = r.app.events.subscribe();
        let stray = pushed_lines(&mut rx3, outsider.id, call, 1, Duration::from_secs(3)).await;
        assert!(stray.is_empty());
        let stored = r
            .store()
            .transcript(r.client, call, TranscriptKind::Live)
            .await
            .unwrap();
        assert!(stored.len() >= 3);
        assert_eq!(stored[0].speaker, Speaker::Agent);
    }
);

rule!(
    a_post_call_transcript_is_stored_and_found_by_search,
    |b| async move {
        let Some(r) = rig(b, true, true, 10.0).await else {
            return;
        };
        let agent = ready(&r, 0).await;
        r.start().await;
        let call = connected_call(&r).await;
        eventually(
            "the post-call transcript",
            Duration::from_secs(40),
            || async {
                let rec = r
                    .store()
                    .recording_for_call(r.client, call)
                    .await
                    .unwrap()?;
                (rec.transcript_status == "done").then_some(())
            },
        )
        .await;
        let lines = r
            .store()
            .transcript(r.client, call, TranscriptKind::Final)
            .await
            .unwrap();
        let said = palera_carrier::sim::recording::conversation(call.0 as u64, u64::MAX);
        assert!(lines.len() >= 2, "{lines:?}");
        assert_eq!(
            lines[..],
            said[..lines.len()],
            "speaker-labelled and time-stamped"
        );
        // The word every conversation opens with, and a phrase from it.
        let words: Vec<&str> = said[0].text.split_whitespace().collect();
        let phrase = format!("{} {}", words[1], words[2]).replace([',', '.'], "");
        let (s, hits) = common::json(agent.get(r.url(&format!(
            "/api/v1/clients/{}/transcripts/search?q={}",
            r.client.0,
            phrase.replace(' ', "%20")
        ))))
        .await;
        assert_eq!(s, 200, "{hits}");
        let hits = hits.as_array().unwrap();
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0]["call_id"], json!(call.0));
        let (s, err) = common::json(agent.get(r.url(&format!(
            "/api/v1/clients/{}/transcripts/search?q=%20%2A%20",
            r.client.0
        ))))
        .await;
        assert_eq!((s, err["error"]["field"].clone()), (422, json!("q")));
    }
);

rule!(
    another_clients_users_get_404_for_a_recording_its_link_and_its_transcript,
    |b| async move {
        let Some(r) = rig(b, true, true, 4.0).await else {
            return;
        };
        let agent = ready(&r, 0).await;
        r.start().await;
        let call = connected_call(&r).await;
        recording_in(&r, call, RecordingStatus::Stored, Duration::from_secs(30)).await;
        let path = format!("/api/v1/clients/{}/calls/{}/recording", r.client.0, call.0);
        let (s, view) = common::json(agent.get(r.url(&path))).await;
        assert_eq!(s, 200, "{view}");
        let link = view["audio_url"].as_str().unwrap().to_string();
        let audio = agent.get(r.url(&link)).send().await.unwrap();
        assert_eq!(audio.status(), 200);
        assert_eq!(audio.headers()["content-type"], "audio/wav");

        let other = other_client(&r).await;
        for (email, role) in [
            ("sup2@sim.test", palera_core::user::Role::Supervisor),
            ("agent2@other.test", palera_core::user::Role::Agent),
        ] {
            r.store()
                .create_user(&new_user(email, role, vec![other]), 1)
                .await
                .unwrap();
            let c = login(&r, email).await;
            assert_eq!(
                c.get(r.url(&path)).send().await.unwrap().status(),
                404,
                "{email}: recording"
            );
            assert_eq!(
                c.get(r.url(&link)).send().await.unwrap().status(),
                404,
                "{email}: link"
            );
            let page = format!("/clients/{}/calls/{}/recording", r.client.0, call.0);
            assert_eq!(
                c.get(r.url(&page)).send().await.unwrap().status(),
                404,
                "{email}: transcript page"
            );
            let search = format!("/api/v1/clients/{}/transcripts/search?q=hello", r.client.0);
            assert_eq!(
                c.get(r.url(&search)).send().await.unwrap().status(),
                404,
                "{email}: search"
            );
            // Their own client's path with our recording's id is not ours either.
            let theirs = link.replacen(
                &format!("/clients/{}/", r.client.0),
                &format!("/clients/{}/", other.0),
                1,
            );
            assert_eq!(
                c.get(r.url(&theirs)).send().await.unwrap().status(),
                404,
                "{email}: moved link"
            );
        }
        // A link whose token was altered is refused.
        let bad = format!("{}0", link);
        assert_eq!(agent.get(r.url(&bad)).send().await.unwrap().status(), 404);
    }
);

rule!(
    a_signed_link_stops_working_when_it_expires,
    |b| async move {
        let Some(r) = rig(b, true, false, 3.0).await else {
            return;
        };
        let agent = ready(&r, 0).await;
        r.start().await;
        let call = connected_call(&r).await;
        let rec = recording_in(&r, call, RecordingStatus::Stored, Duration::from_secs(30)).await;
        let signer = palera_server::recordings::api::signer(&r.app);
        let parts = [r.client.0.to_string(), rec.id.0.to_string()];
        let parts = [parts[0].as_bytes(), parts[1].as_bytes()];
        let now = chrono::Utc::now().timestamp();
        let url = |t: &str| {
            r.url(&format!(
                "/api/v1/clients/{}/recordings/{}/audio?token={t}",
                r.client.0, rec.id.0
            ))
        };
        let live = signer.expiring(&parts, now + 60);
        assert_eq!(agent.get(url(&live)).send().await.unwrap().status(), 200);
        let expired = signer.expiring(&parts, now - 1);
        let resp = agent.get(url(&expired)).send().await.unwrap();
        assert_eq!(resp.status(), 410);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "link_expired");
        // The link the API gives lasts five minutes.
        let path = format!("/api/v1/clients/{}/calls/{}/recording", r.client.0, call.0);
        let (_, view) = common::json(agent.get(r.url(&path))).await;
        let expires = view["link_expires_at"].as_i64().unwrap();
        assert!(
            (now + 290..=now + 310).contains(&expires),
            "{expires} vs {now}"
        );
    }
);

rule!(
    retention_deletes_expired_files_and_rows_and_nothing_else,
    |b| async move {
        let Some(r) = rig(b, true, true, 4.0).await else {
            return;
        };
        ready(&r, 0).await;
        r.start().await;
        let call = connected_call(&r).await;
        let rec = recording_in(&r, call, RecordingStatus::Stored, Duration::from_secs(30)).await;
        let key = rec.storage_key.clone().unwrap();
        let media = &r.app.recordings.media;
        assert!(media.exists(&key).await.unwrap());
        // A file of another recording that is not expired stays.
        media
            .put("clients/0/recordings/keep.wav", vec![1, 2, 3])
            .await
            .unwrap();
        let now = chrono::Utc::now();
        let swept = palera_server::recordings::worker::retention_sweep(r.store(), media, now)
            .await
            .unwrap();
        assert_eq!(swept, 0, "no retention set");
        r.store()
            .save_recording_settings(
                r.client,
                &RecordingSettings {
                    retention_days: Some(1),
                    delete_at_carrier: false,
                    ..Default::default()
                },
                1,
            )
            .await
            .unwrap();
        let swept = palera_server::recordings::worker::retention_sweep(r.store(), media, now)
            .await
            .unwrap();
        assert_eq!(swept, 0, "not a day old yet");
        let later = now + chrono::Duration::days(2);
        let swept = palera_server::recordings::worker::retention_sweep(r.store(), media, later)
            .await
            .unwrap();
        assert_eq!(swept, 1);
        assert!(!media.exists(&key).await.unwrap(), "the file is gone");
        assert!(
            r.store()
                .recording_for_call(r.client, call)
                .await
                .unwrap()
                .is_none(),
            "the row is gone"
        );
        assert!(r
            .store()
            .transcript(r.client, call, TranscriptKind::Final)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            r.store().call_unscoped(call).await.unwrap().id,
            call,
            "the call stays"
        );
        assert!(media.exists("clients/0/recordings/keep.wav").await.unwrap());
    }
);

fn new_user(
    email: &str,
    role: palera_core::user::Role,
    clients: Vec<palera_core::ids::ClientId>,
) -> palera_store::users::NewUser {
    palera_store::users::NewUser {
        email: palera_core::user::Email::parse("email", email).unwrap(),
        name: email.into(),
        role,
        password_hash: palera_server::http::auth::hash_password(
            palera_server::cli::demo::DEMO_PASSWORD,
        ),
        voice_enabled: true,
        clients,
    }
}

async fn other_client(r: &SimRig) -> palera_core::ids::ClientId {
    client_named(r.store(), "Other Co").await
}

async fn login(r: &SimRig, email: &str) -> reqwest::Client {
    login_at(&r.base, email).await
}

rule!(
    a_fetch_that_fails_is_retried_and_then_shown,
    |b| async move {
        // A Twilio-mode server whose client has no credentials: every download fails. Two
        // attempts, a second apart.
        let Some(db) = palera_store::testing::fresh(b).await else {
            return;
        };
        let store = db.store.clone();
        let mut settings = common::test_settings(&db.url);
        settings.carrier = palera_server::config::CarrierMode::Twilio;
        let app = palera_server::App::new(store.clone(), settings);
        let mut parts = app.recordings.clone();
        parts.policy = palera_core::recording::FetchPolicy {
            max_attempts: 2,
            first_wait: chrono::Duration::seconds(1),
            cap: chrono::Duration::seconds(1),
        };
        let app = app.with_recordings(parts);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(palera_server::serve(app.clone(), listener, async {
            let _ = stopped.await;
        }));
        crate::common::engine_started(&app).await;
        let client = client_named(&store, "Acme").await;
        let other = client_named(&store, "Bolt").await;
        let contact = store
            .create_contact(
                client,
                None,
                &contact_data(),
                &palera_store::contacts::Actor::system("test"),
                1,
            )
            .await
            .unwrap();
        let user = store
            .create_user(
                &new_user("a9@acme.test", palera_core::user::Role::Agent, vec![client]),
                1,
            )
            .await
            .unwrap();
        store
            .create_user(
                &new_user(
                    "sup@bolt.test",
                    palera_core::user::Role::Supervisor,
                    vec![other],
                ),
                1,
            )
            .await
            .unwrap();
        let call = store
            .create_manual_call(client, contact.id, user.id, "+12125550999", 1)
            .await
            .unwrap()
            .id;
        store.start_recording(call, None, false, 2).await.unwrap();
        store
            .recording_ready(
                call,
                Some("RE404"),
                "https://carrier.test/Recordings/RE404",
                5,
                3,
            )
            .await
            .unwrap();

        let rec = eventually(
            "the fetch fails for good",
            Duration::from_secs(20),
            || async {
                let rec = store.recording_for_call(client, call).await.unwrap()?;
                (rec.status == RecordingStatus::Failed).then_some(rec)
            },
        )
        .await;
        assert_eq!(rec.attempts, 2, "retried once");
        assert!(
            rec.last_error.as_deref().unwrap().contains("credentials"),
            "{rec:?}"
        );
        // The failure is shown on the call's recording, to its client's users only.
        let mine = login_at(&base, "a9@acme.test").await;
        let page = mine
            .get(format!(
                "{base}/clients/{}/calls/{}/recording",
                client.0, call.0
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("The recording could not be kept") && html.contains("credentials"),
            "{html}"
        );
        let api = format!(
            "{base}/api/v1/clients/{}/calls/{}/recording",
            client.0, call.0
        );
        let (s, view) = common::json(mine.get(&api)).await;
        assert_eq!(
            (s, view["recording"]["status"].clone()),
            (200, json!("failed"))
        );
        assert_eq!(view["recording"]["attempts"], json!(2));
        assert_eq!(view["audio_url"], Value::Null);
        let theirs = login_at(&base, "sup@bolt.test").await;
        assert_eq!(theirs.get(&api).send().await.unwrap().status(), 404);
        let _ = stop.send(());
    }
);

async fn client_named(store: &palera_store::Store, name: &str) -> palera_core::ids::ClientId {
    let fields = palera_core::tenant::ClientFields {
        name: name.into(),
        ..Default::default()
    }
    .validate()
    .unwrap();
    store
        .create_client(
            &fields,
            &palera_store::clients::SecretInput::default(),
            &[],
            1,
        )
        .await
        .unwrap()
        .id
}

async fn login_at(base: &str, email: &str) -> reqwest::Client {
    let c = common::client();
    let resp = c
        .post(format!("{base}/api/v1/session"))
        .json(&json!({"email": email, "password": palera_server::cli::demo::DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "login as {email}");
    c
}

fn contact_data() -> palera_core::contact::ContactData {
    palera_core::contact::ContactFields {
        phone: "+12125550999".into(),
        first_name: Some("Failing".into()),
        ..Default::default()
    }
    .validate(&palera_core::contact::PropertySchema::default(), None)
    .unwrap()
}

rule!(
    a_client_sets_its_retention_and_twilio_copy_deletion_on_its_recordings_page,
    |b| async move {
        let Some(r) = rig(b, true, false, 3.0).await else {
            return;
        };
        let sup = new_user(
            "boss@sim.test",
            palera_core::user::Role::Supervisor,
            vec![r.client],
        );
        r.store().create_user(&sup, 1).await.unwrap();
        let http = login(&r, "boss@sim.test").await;
        let path = r.url(&format!("/admin/clients/{}/recordings", r.client.0));
        let html = http.get(&path).send().await.unwrap().text().await.unwrap();
        let at = html.find("name=\"csrf\" value=\"").unwrap() + 19;
        let csrf = html[at..].split('"').next().unwrap().to_string();
        let bad = http
            .post(&path)
            .form(&[("csrf", csrf.as_str()), ("retention_days", "0")])
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 422);
        assert!(bad
            .text()
            .await
            .unwrap()
            .contains("retention_days: must be between 1 and 3650 days"));
        let typo = "GA0123456789abcdef0123456789abcdeX";
        let bad = http
            .post(&path)
            .form(&[("csrf", csrf.as_str()), ("intelligence_service_sid", typo)])
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 422);
        let page = bad.text().await.unwrap();
        assert!(
            page.contains(
                "intelligence_service_sid: must be a Conversational Intelligence service SID"
            ),
            "{page}"
        );
        assert!(page.contains(typo), "what was typed stays in the field");
        let ok = http
            .post(&path)
            .form(&[
                ("csrf", csrf.as_str()),
                ("retention_days", "30"),
                ("delete_at_carrier", "on"),
                (
                    "intelligence_service_sid",
                    " GA0123456789abcdef0123456789abcdef ",
                ),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 303, "back to the page, saved");
        assert_eq!(
            ok.headers()["location"],
            format!("/admin/clients/{}/recordings?saved", r.client.0).as_str()
        );
        let saved = r.store().recording_settings(r.client).await.unwrap();
        assert_eq!(
            saved,
            RecordingSettings {
                retention_days: Some(30),
                delete_at_carrier: true,
                intelligence_service_sid: Some("GA0123456789abcdef0123456789abcdef".into()),
                ..Default::default()
            }
        );
        // Agents may not change it.
        let agent = r.login(0).await;
        assert_eq!(agent.get(&path).send().await.unwrap().status(), 403);
    }
);
