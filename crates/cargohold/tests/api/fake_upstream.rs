//! A fake upstream registry: an HTTP server on loopback that answers fixed paths,
//! optionally slowly, and records every request it gets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::IntoResponse;
use cargohold_test_support::{CrateFixture, TestServer};
use url::Url;

/// A request a fake upstream received.
#[derive(Debug, Clone)]
pub struct Heard {
    pub target: String,
    pub host: String,
    pub authorization: Option<String>,
}

/// What a fake upstream answers for one path.
#[derive(Clone)]
pub enum Reply {
    Body(Vec<u8>),
    Redirect(String),
    /// An empty answer with this status.
    Status(u16),
}

/// An HTTP server on loopback that answers fixed paths and records every request.
pub struct FakeUpstream {
    pub addr: String,
    /// While set, every request is answered `503 Service Unavailable`.
    pub failing: Arc<AtomicBool>,
    heard: Arc<Mutex<Vec<Heard>>>,
    replies: Arc<Mutex<HashMap<String, Reply>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeUpstream {
    /// Starts a server answering what `replies` makes of its own address.
    pub async fn start(replies: impl FnOnce(&str) -> HashMap<String, Reply>) -> Self {
        Self::start_slow(Duration::ZERO, replies).await
    }

    /// Starts a server that takes `delay` over every answer.
    pub async fn start_slow(
        delay: Duration,
        replies: impl FnOnce(&str) -> HashMap<String, Reply>,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let replies = Arc::new(Mutex::new(replies(&addr)));
        let answers = replies.clone();
        let heard: Arc<Mutex<Vec<Heard>>> = Arc::default();
        let log = heard.clone();
        let failing = Arc::new(AtomicBool::new(false));
        let fail = failing.clone();
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let (answers, log, fail) = (answers.clone(), log.clone(), fail.clone());
            let header = |name: &str| {
                request
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            log.lock().unwrap().push(Heard {
                target: request.uri().to_string(),
                host: header("host").unwrap_or_default(),
                authorization: header("authorization"),
            });
            let reply = answers.lock().unwrap().get(request.uri().path()).cloned();
            async move {
                tokio::time::sleep(delay).await;
                if fail.load(Ordering::SeqCst) {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
                }
                match reply {
                    Some(Reply::Body(body)) => (axum::http::StatusCode::OK, body).into_response(),
                    Some(Reply::Redirect(to)) => {
                        axum::response::Redirect::temporary(&to).into_response()
                    }
                    Some(Reply::Status(code)) => axum::http::StatusCode::from_u16(code)
                        .unwrap()
                        .into_response(),
                    None => axum::http::StatusCode::NOT_FOUND.into_response(),
                }
            }
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            addr,
            failing,
            heard,
            replies,
            task,
        }
    }

    /// From now on, answers `path` with `reply`.
    pub fn set_reply(&self, path: &str, reply: Reply) {
        self.replies.lock().unwrap().insert(path.to_owned(), reply);
    }

    pub fn heard(&self) -> Vec<Heard> {
        self.heard.lock().unwrap().clone()
    }

    pub fn index_url(&self) -> Url {
        Url::parse(&format!("http://{}/index/", self.addr)).unwrap()
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `left-pad 1.0.0` as a real registry serves it: its index file and its `.crate`.
pub async fn left_pad() -> (Vec<u8>, Vec<u8>) {
    let source = TestServer::start().await;
    let fixture = CrateFixture::new("left-pad", "1.0.0");
    assert_eq!(source.publish(&fixture).await.status(), 200);
    let (status, index) = source.index_file("left-pad").await;
    assert_eq!(status, 200);
    (index.into_bytes(), fixture.tarball())
}

/// What an upstream registry serves of `left-pad` (its `index` file), with `download`
/// as the answer for its `.crate`.
pub fn left_pad_upstream(addr: &str, index: &[u8], download: Reply) -> HashMap<String, Reply> {
    HashMap::from([
        (
            "/index/config.json".to_owned(),
            Reply::Body(
                format!(r#"{{"dl":"http://{addr}/dl/{{crate}}/{{version}}/download"}}"#)
                    .into_bytes(),
            ),
        ),
        (
            "/index/le/ft/left-pad".to_owned(),
            Reply::Body(index.to_vec()),
        ),
        ("/dl/left-pad/1.0.0/download".to_owned(), download),
    ])
}
