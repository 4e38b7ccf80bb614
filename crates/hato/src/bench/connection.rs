//! One keep-alive HTTP/1.1 connection owned by one closed-loop worker, on hyper's connection
//! API.
//!
//! The generator shares the machine's two cores with the server, so every microsecond it
//! spends per request is taken from the server it measures. A pooled client (reqwest) checks
//! a connection out of its pool, parses the URL and builds the headers on every request:
//! ~21 µs of CPU per request in session 8's profile, ~36 µs on session 9's slower machine. A closed-loop worker sends one request
//! at a time anyway, so it keeps one connection of its own and reuses the headers it built
//! once. The open loop, which needs a pool, stays on reqwest.

use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{
    Method, Request, StatusCode,
    client::conn::http1::{self, SendRequest},
    header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue},
};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where requests go and what they carry besides the body, parsed once.
#[derive(Clone)]
pub struct Endpoint {
    address: String,
    host: HeaderValue,
    authorization: HeaderValue,
    path: &'static str,
}

impl Endpoint {
    /// `base` is `http://HOST[:PORT]`: the bench talks to Hato's own listener, which speaks
    /// plain HTTP (TLS, where there is any, ends in a proxy in front of it).
    pub fn new(base: &str, key: &str, path: &'static str) -> anyhow::Result<Self> {
        let address = address_of(base)?;
        Ok(Self {
            host: HeaderValue::from_str(&address).context("the server address")?,
            address,
            authorization: HeaderValue::from_str(&format!("Bearer {key}"))
                .context("the API key")?,
            path,
        })
    }
}

/// `HOST:PORT` of an `http://HOST[:PORT][/]` URL, or why it is not one.
pub fn address_of(base: &str) -> anyhow::Result<String> {
    let url = reqwest::Url::parse(base).with_context(|| format!("--url `{base}` is not a URL"))?;
    if url.scheme() != "http" {
        bail!("--url `{base}` must be http://HOST:PORT: Hato's listener speaks plain HTTP");
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() {
        bail!("--url `{base}` must name the server only (http://HOST:PORT), without a path");
    }
    let host = url
        .host_str()
        .with_context(|| format!("--url `{base}` has no host"))?;
    let port = url.port_or_known_default().unwrap_or(80);
    Ok(format!("{host}:{port}"))
}

/// An open connection, or none until the first request (and again after an error).
pub struct Connection {
    endpoint: Endpoint,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    pub fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            sender: None,
        }
    }

    /// POSTs `body` as JSON; the status and the whole answer. A failed request drops the
    /// connection, so the next one opens a fresh one.
    pub async fn post(
        &mut self,
        body: Bytes,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), String> {
        match tokio::time::timeout(timeout, self.exchange(body)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => {
                self.sender = None;
                Err(error)
            }
            Err(_) => {
                self.sender = None;
                Err(format!("no answer within {timeout:?}"))
            }
        }
    }

    async fn exchange(&mut self, body: Bytes) -> Result<(StatusCode, Bytes), String> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.endpoint.path)
            .header(HOST, self.endpoint.host.clone())
            .header(AUTHORIZATION, self.endpoint.authorization.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(Full::new(body))
            .map_err(|e| format!("building the request failed: {e}"))?;
        let sender = self.ready().await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status();
        let answer = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the answer failed: {e}"))?
            .to_bytes();
        Ok((status, answer))
    }

    /// The connection, opened if there is none, once it can take a request.
    async fn ready(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, String> {
        let open_one = match self.sender.take() {
            Some(sender) if !sender.is_closed() => sender,
            _ => open(&self.endpoint.address).await?,
        };
        let sender = self.sender.insert(open_one);
        sender
            .ready()
            .await
            .map_err(|e| format!("the connection closed: {e}"))?;
        Ok(sender)
    }
}

async fn open(address: &str) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("connecting to {address} failed: {e}"))?;
    // Small requests and answers: without it each waits for the peer's delayed ACK.
    stream
        .set_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY: {e}"))?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake with {address} failed: {e}"))?;
    // Drives the connection until both sides are done with it; its error, if any, reaches
    // the next request through the sender.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_http_server_address_is_taken() {
        assert_eq!(
            address_of("http://127.0.0.1:8080").unwrap(),
            "127.0.0.1:8080"
        );
        assert_eq!(
            address_of("http://127.0.0.1:8080/").unwrap(),
            "127.0.0.1:8080"
        );
        assert_eq!(address_of("http://localhost").unwrap(), "localhost:80");
        for (base, says) in [
            ("https://127.0.0.1:8443", "plain HTTP"),
            ("http://127.0.0.1:8080/v1", "without a path"),
            ("127.0.0.1:8080", "is not a URL"),
            ("ftp://127.0.0.1", "must be http://"),
            ("not a url", "is not a URL"),
        ] {
            let error = address_of(base).unwrap_err().to_string();
            assert!(error.contains(says), "{base}: {error}");
        }
    }
}
