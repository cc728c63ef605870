//! The agent desktop's live channel: state changes travel both ways over the WebSocket, every tab
//! of the agent hears them, and a desktop that stops sending heartbeats is set offline.

use crate::common;

use common::{json, TestApp};
use futures::{SinkExt, StreamExt};
use palera_core::user::{Role, VoiceState};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the desktop socket with the session cookie of a fresh login.
async fn desktop(app: &TestApp, email: &str) -> Ws {
    let c = common::client();
    let r = c
        .post(app.url("/api/v1/session"))
        .json(&json!({"email": email, "password": common::PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let mut req = format!("{}/ws/desktop", app.base.replace("http", "ws"))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message in time")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

on_both!(
    the_desktop_receives_the_current_state_on_connect,
    |app: TestApp| async move {
        app.user("a@x.io", Role::Agent, vec![]).await;
        let mut ws = desktop(&app, "a@x.io").await;
        let first = next_json(&mut ws).await;
        assert_eq!(first["type"], "state");
        assert_eq!(first["state"], "offline");
    }
);

on_both!(
    a_state_set_on_one_tab_reaches_every_tab_and_is_stored,
    |app: TestApp| async move {
        let u = app.user("a@x.io", Role::Agent, vec![]).await;
        let mut tab1 = desktop(&app, "a@x.io").await;
        let mut tab2 = desktop(&app, "a@x.io").await;
        next_json(&mut tab1).await;
        next_json(&mut tab2).await;
        tab1.send(Message::Text(
            json!({"type": "set_state", "state": "ready"})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        for tab in [&mut tab1, &mut tab2] {
            let m = next_json(tab).await;
            assert_eq!(
                (m["type"].as_str(), m["state"].as_str()),
                (Some("state"), Some("ready"))
            );
        }
        assert_eq!(
            app.db.store.user(u.id).await.unwrap().voice_state,
            VoiceState::Ready
        );
        let h = app.db.store.voice_state_history(u.id).await.unwrap();
        assert_eq!(h.last().unwrap().source, "desktop");
    }
);

on_both!(
    a_state_changed_through_the_api_updates_the_open_desktop,
    |app: TestApp| async move {
        app.user("a@x.io", Role::Agent, vec![]).await;
        let mut ws = desktop(&app, "a@x.io").await;
        next_json(&mut ws).await;
        let http = app.login("a@x.io").await;
        let (s, _) = json(
            http.put(app.url("/api/v1/me/voice-state"))
                .json(&json!({"state": "standby"})),
        )
        .await;
        assert_eq!(s, 200);
        let m = next_json(&mut ws).await;
        assert_eq!(m["state"], "standby");
        assert_eq!(m["label"], "Standby");
    }
);

on_both!(
    an_unknown_state_from_the_desktop_is_answered_with_an_error_naming_the_field,
    |app: TestApp| async move {
        app.user("a@x.io", Role::Agent, vec![]).await;
        let mut ws = desktop(&app, "a@x.io").await;
        next_json(&mut ws).await;
        ws.send(Message::Text(
            json!({"type": "set_state", "state": "lunch"})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        let m = next_json(&mut ws).await;
        assert_eq!(
            (m["type"].as_str(), m["field"].as_str()),
            (Some("error"), Some("state"))
        );
    }
);

on_both!(
    a_desktop_that_stops_its_heartbeat_is_set_offline,
    |app: TestApp| async move {
        // The test server's heartbeat timeout is 2 s.
        let u = app.user("a@x.io", Role::Agent, vec![]).await;
        let mut ws = desktop(&app, "a@x.io").await;
        next_json(&mut ws).await;
        ws.send(Message::Text(
            json!({"type": "set_state", "state": "ready"})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        assert_eq!(next_json(&mut ws).await["state"], "ready");
        // Keep beating for a while: the agent stays ready.
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(700)).await;
            ws.send(Message::Text(
                json!({"type": "heartbeat"}).to_string().into(),
            ))
            .await
            .unwrap();
        }
        assert_eq!(
            app.db.store.user(u.id).await.unwrap().voice_state,
            VoiceState::Ready
        );
        // Then fall silent: the server notices and sets the agent offline.
        let m = next_json(&mut ws).await;
        assert_eq!(m["state"], "offline");
        let h = app.db.store.voice_state_history(u.id).await.unwrap();
        assert_eq!(h.last().unwrap().source, "heartbeat_timeout");
    }
);

on_both!(
    closing_the_desktop_sets_the_agent_offline_after_the_timeout,
    |app: TestApp| async move {
        let u = app.user("a@x.io", Role::Agent, vec![]).await;
        let mut ws = desktop(&app, "a@x.io").await;
        next_json(&mut ws).await;
        ws.send(Message::Text(
            json!({"type": "set_state", "state": "ready"})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        assert_eq!(next_json(&mut ws).await["state"], "ready");
        ws.close(None).await.unwrap();
        drop(ws);
        let mut state = VoiceState::Ready;
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            state = app.db.store.user(u.id).await.unwrap().voice_state;
            if state == VoiceState::Offline {
                break;
            }
        }
        assert_eq!(state, VoiceState::Offline);
    }
);
