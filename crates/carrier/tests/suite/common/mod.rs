//! A local stand-in for Twilio's REST API: records every request and answers from a script.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use axum::body::Bytes;
use axum::http::{HeaderMap, Method as HttpMethod, StatusCode, Uri};
use axum::Router;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

pub const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
pub const CALL_JSON: &str = r#"{"sid": "CA0123456789abcdef0123456789abcdef", "status": "queued"}"#;

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

#[derive(Clone, Default)]
pub struct Mock {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Answers in order; once empty, 200 with [`CALL_JSON`].
    script: Arc<Mutex<VecDeque<(u16, String)>>>,
}

impl Mock {
    pub fn answer(&self, status: u16, body: &str) {
        self.script
            .lock()
            .unwrap()
            .push_back((status, body.to_owned()));
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

pub async fn start() -> (Mock, String) {
    let mock = Mock::default();
    let state = mock.clone();
    let app = Router::new().fallback(
        move |method: HttpMethod, uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                let header = |n: &str| headers.get(n).map(|v| v.to_str().unwrap().to_owned());
                state.seen.lock().unwrap().push(Seen {
                    method: method.to_string(),
                    path: uri.path().to_owned(),
                    query: uri.query().map(str::to_owned),
                    authorization: header("authorization"),
                    content_type: header("content-type"),
                    body: String::from_utf8(body.to_vec()).unwrap(),
                });
                let (status, body) = state
                    .script
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or((200, CALL_JSON.to_owned()));
                (StatusCode::from_u16(status).unwrap(), body)
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (mock, url)
}
