//! Bodies over the 32 MiB limit, spoken over a raw socket so the test sees what a client's
//! connection sees: the 413 must reach a client that is still writing, and the connection must
//! stay usable afterwards.

use std::time::Duration;

use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::support::{TestApp, TestDb, on_both_backends};

on_both_backends!(
    a_body_over_the_limit_is_answered_413_on_a_connection_that_stays_open,
    a_declared_length_far_over_the_limit_is_refused_without_reading_it,
);

/// One HTTP/1.1 answer: status, headers (lowercase names) and body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn connect(app: &TestApp) -> TcpStream {
    let address = app.base.trim_start_matches("http://");
    let stream = TcpStream::connect(address).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

fn head(app: &TestApp, method: &str, path: &str, length: u64) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: {length}\r\n\r\n",
        app.base.trim_start_matches("http://"),
        app.key
    )
}

/// Reads one answer with a `content-length` body.
async fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut buffer = Vec::new();
    let end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut chunk))
            .await
            .expect("an answer within 20 s")
            .expect("the answer is readable");
        assert!(n > 0, "the server closed before answering");
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buffer[..end].to_vec()).expect("a text head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .expect("a content-length");
    let mut body = buffer[end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = vec![0u8; length - body.len()];
        let n = stream.read(&mut chunk).await.expect("the body is readable");
        assert!(n > 0, "the server closed in the middle of the body");
        body.extend_from_slice(&chunk[..n]);
    }
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&body).expect("a JSON body"),
    }
}

async fn a_body_over_the_limit_is_answered_413_on_a_connection_that_stays_open(db: TestDb) {
    let app = TestApp::start(db).await;
    let mut stream = connect(&app).await;
    // 33 MiB of a JSON string: over the limit, under the length the server still reads.
    let size: u64 = 33 * 1024 * 1024;
    let (open, close) = (br#"{"to": "09012345678", "body": ""#, br#""}"#);
    let filler = size - (open.len() + close.len()) as u64;
    stream
        .write_all(head(&app, "POST", "/v1/messages", size).as_bytes())
        .await
        .expect("the head is written");
    stream.write_all(open).await.expect("written");
    let block = vec![b'x'; 1024 * 1024];
    let mut left = filler;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        // A server that gave up on the body and closed would reset the connection here.
        stream
            .write_all(&block[..n])
            .await
            .expect("the whole body is taken, not cut off");
        left -= n as u64;
    }
    stream.write_all(close).await.expect("written");
    let refused = read_answer(&mut stream).await;
    assert_eq!(refused.status, 413, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "body_too_large");
    assert_ne!(refused.header("connection"), Some("close"));

    // The same connection serves the next request.
    let body = br#"{"to": "09012345678", "body": "after the refused one"}"#;
    stream
        .write_all(head(&app, "POST", "/v1/messages", body.len() as u64).as_bytes())
        .await
        .expect("written");
    stream.write_all(body).await.expect("written");
    let accepted = read_answer(&mut stream).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let listed = app.all_messages("").await;
    assert_eq!(listed.len(), 1, "only the second message is stored");
    assert_eq!(listed[0]["body"], "after the refused one");
    app.shutdown().await;
}

async fn a_declared_length_far_over_the_limit_is_refused_without_reading_it(db: TestDb) {
    let app = TestApp::start(db).await;
    let mut stream = connect(&app).await;
    // 1 GiB announced and none of it sent: the answer comes from the head alone.
    stream
        .write_all(head(&app, "POST", "/v1/messages", 1 << 30).as_bytes())
        .await
        .expect("the head is written");
    let refused = read_answer(&mut stream).await;
    assert_eq!(refused.status, 413, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "body_too_large");
    assert!(app.all_messages("").await.is_empty());
    app.shutdown().await;
}
