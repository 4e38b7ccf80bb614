//! A webhook receiver on a real port: records every request and answers as told.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Instant,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON webhook body")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn event_type(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_owned()
    }
}

/// How to answer one request.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<u64>,
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    /// Answers for the next requests, in order, each for any event (`None`) or one event type;
    /// 200 when none applies.
    script: VecDeque<(Option<String>, Answer)>,
}

#[derive(Clone)]
pub struct Sink {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    _shutdown: Arc<ShutdownOnDrop>,
}

struct ShutdownOnDrop(CancellationToken);

impl Drop for ShutdownOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl Sink {
    pub async fn start() -> Sink {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let app = Router::new().fallback(record).with_state(inner.clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
        });
        Sink {
            addr,
            inner,
            _shutdown: Arc::new(ShutdownOnDrop(shutdown)),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next requests carrying `event_type` get these answers, in order (then 200).
    pub fn script_for(&self, event_type: &str, answers: impl IntoIterator<Item = Answer>) {
        self.inner.lock().expect("sink lock").script.extend(
            answers
                .into_iter()
                .map(|a| (Some(event_type.to_owned()), a)),
        );
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().expect("sink lock").received.clone()
    }

    /// Received requests about message `id`.
    pub fn for_message(&self, id: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.json()["data"]["id"] == id)
            .collect()
    }
}

async fn record(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received = Received {
        at: Instant::now(),
        path: uri.path().to_owned(),
        headers,
        body,
    };
    let event_type = serde_json::from_slice::<serde_json::Value>(&received.body)
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_owned));
    let answer = {
        let mut inner = inner.lock().expect("sink lock");
        inner.received.push(received);
        let position = inner
            .script
            .iter()
            .position(|(only, _)| only.is_none() || *only == event_type);
        position
            .and_then(|i| inner.script.remove(i))
            .map(|(_, answer)| answer)
    };
    match answer {
        None => StatusCode::OK.into_response(),
        Some(answer) => {
            let status = StatusCode::from_u16(answer.status).expect("status");
            match answer.retry_after {
                Some(seconds) => (status, [("retry-after", seconds.to_string())]).into_response(),
                None => status.into_response(),
            }
        }
    }
}
