//! Shared setup: a whole Hato server started in-process on port 0 over a fresh database
//! (SQLite in a temporary directory, or a new PostgreSQL database when
//! `HATO_TEST_DATABASE_URL` is set), an HTTP client, API keys, and a webhook sink.

pub mod sink;

use std::{future::Future, path::PathBuf, process::Command, time::Duration};

use hato::{config::Config, server::RunningServer};
use hato_store::Store;
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Runs `$name(TestDb)` once per backend: `sqlite` always, `postgres` when
/// `HATO_TEST_DATABASE_URL` is set (otherwise it returns at once, saying so).
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::TestDb::sqlite()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = $crate::support::TestDb::postgres().await else {
                    eprintln!("HATO_TEST_DATABASE_URL is not set: PostgreSQL variant skipped");
                    return;
                };
                super::$name(db).await;
            }
        }
    )+};
}
pub(crate) use on_both_backends;

/// Longest any asynchronous outcome may take before a test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A database for one test, removed when dropped.
pub struct TestDb {
    /// The data directory: holds `hato.db` on SQLite, and is the working directory for CLI runs.
    pub dir: tempfile::TempDir,
    /// `postgres://…/hato_test_…`, or `None` for SQLite in `dir`.
    pub postgres: Option<PgDatabase>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        TestDb {
            dir: tempfile::tempdir().expect("tempdir"),
            postgres: None,
        }
    }

    pub async fn postgres() -> Option<TestDb> {
        let admin = std::env::var("HATO_TEST_DATABASE_URL").ok()?;
        Some(TestDb {
            dir: tempfile::tempdir().expect("tempdir"),
            postgres: Some(PgDatabase::create(&admin).await),
        })
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// What `Config::database_url` should be.
    pub fn database_url(&self) -> String {
        self.postgres
            .as_ref()
            .map(|p| p.url.clone())
            .unwrap_or_default()
    }

    /// `--data-dir D` or `--database-url URL`, for CLI commands that open the database.
    pub fn cli_args(&self) -> Vec<String> {
        match &self.postgres {
            Some(pg) => vec!["--database-url".into(), pg.url.clone()],
            None => vec![
                "--data-dir".into(),
                self.data_dir().to_string_lossy().into_owned(),
            ],
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }
}

/// A PostgreSQL database created for one test, dropped (with its connections) on drop.
pub struct PgDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl PgDatabase {
    async fn create(admin_url: &str) -> PgDatabase {
        let id = hato_core::MessageId::generate();
        let name = format!("hato_test_{}", id.as_str().trim_start_matches("msg_"));
        let mut conn = PgConnection::connect(admin_url)
            .await
            .expect("connect to HATO_TEST_DATABASE_URL");
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create a test database");
        conn.close().await.ok();
        let mut url = url::Url::parse(admin_url).expect("HATO_TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        PgDatabase {
            url: url.to_string(),
            admin_url: admin_url.to_owned(),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside a runtime (or while panicking): use a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ = conn
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await;
                }
            });
        })
        .join();
    }
}

/// The settings every test starts from: the inline simulator, quick reports, and webhook
/// retries short and without jitter so their timing can be asserted.
pub fn test_config(db: &TestDb) -> Config {
    let mut config = Config {
        data_dir: db.data_dir(),
        database_url: db.database_url(),
        ..Config::default()
    };
    config.simulator.transport = "inline".into();
    config.simulator.report_delay = hato::config::HumanDuration(Duration::from_millis(50));
    config.webhooks.retry_schedule = ["100ms", "200ms", "300ms"]
        .iter()
        .map(|d| hato::config::HumanDuration(humantime::parse_duration(d).expect("duration")))
        .collect();
    config.webhooks.jitter = 0.0;
    config.webhooks.timeout = hato::config::HumanDuration(Duration::from_secs(5));
    config
}

/// A running server, a client, and one API key for the account `default`.
pub struct TestApp {
    pub db: TestDb,
    pub config: Config,
    pub base: String,
    pub http: reqwest::Client,
    /// An API key of the account `default`.
    pub key: String,
    server: Option<RunningServer>,
}

impl TestApp {
    /// Starts with [`test_config`].
    pub async fn start(db: TestDb) -> TestApp {
        Self::start_with(db, |_| {}).await
    }

    /// Starts with [`test_config`] changed by `tweak`.
    pub async fn start_with(db: TestDb, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = test_config(&db);
        tweak(&mut config);
        config.validate().expect("a valid test configuration");
        let server = boot(&config).await;
        let mut app = TestApp {
            db,
            config,
            base: format!("http://{}", server.addr),
            // No pooled connections: a server may close one after refusing a request early
            // (413, 401), and reusing it races the close.
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("HTTP client"),
            key: String::new(),
            server: Some(server),
        };
        app.key = app.create_key("default").await;
        app
    }

    pub fn store(&self) -> &Store {
        &self.server.as_ref().expect("server running").store
    }

    /// A new API key for `account` (created if new), straight through the store.
    pub async fn create_key(&self, account: &str) -> String {
        let now = jiff::Timestamp::now().as_millisecond();
        let store = self.store();
        let account = store
            .ensure_account(account, &hato_api::keys::generate_webhook_secret(), now)
            .await
            .expect("account");
        let key = hato_api::keys::generate_key();
        store
            .create_api_key(&account.id, "test", &key.hash, &key.prefix, now)
            .await
            .expect("api key");
        key.secret
    }

    /// Stops the server (draining it) and starts it again on the same database.
    pub async fn restart(&mut self) {
        self.stop_server().await;
        let server = boot(&self.config).await;
        self.base = format!("http://{}", server.addr);
        self.server = Some(server);
    }

    /// Stops the server; the database stays for [`TestApp::restart`].
    pub async fn stop_server(&mut self) {
        if let Some(server) = self.server.take() {
            tokio::time::timeout(PATIENCE, server.shutdown())
                .await
                .expect("the server stops in time")
                .expect("the server stops cleanly");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with the `default` account's key.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.request_as(&self.key, method, path)
    }

    pub fn request_as(&self, key: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(key)
    }

    pub async fn get(&self, path: &str) -> Reply {
        Reply::of(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        Reply::of(self.request(Method::POST, path).json(body)).await
    }

    /// Injects a fault into the built-in SMSC simulator and expects it taken.
    pub async fn inject_fault(&self, fault: Value) {
        let reply = self.post("/v1/simulator/faults", &fault).await;
        assert_eq!(reply.status, 204, "fault {fault}: {reply:?}");
    }

    /// Sends one message and expects it accepted.
    pub async fn send(&self, body: Value) -> Value {
        let reply = self.post("/v1/messages", &body).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "send {body}: {reply:?}");
        reply.body
    }

    /// Polls the message until it has `status`.
    pub async fn until_status(&self, id: &str, status: &str) -> Value {
        self.until_status_as(&self.key, id, status).await
    }

    pub async fn until_status_as(&self, key: &str, id: &str, status: &str) -> Value {
        let path = format!("/v1/messages/{id}");
        poll_until(&format!("{id} reaches {status}"), || async {
            let reply = Reply::of(self.request_as(key, Method::GET, &path)).await;
            (reply.body["status"] == status).then_some(reply.body)
        })
        .await
    }

    /// Every message of the `default` account, walking the pages.
    pub async fn all_messages(&self, query: &str) -> Vec<Value> {
        self.all_messages_as(&self.key, query).await
    }

    pub async fn all_messages_as(&self, key: &str, query: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v1/messages?limit=1000{query}");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let reply = Reply::of(self.request_as(key, Method::GET, &path)).await;
            assert_eq!(reply.status, StatusCode::OK, "list {path}: {reply:?}");
            all.extend(reply.body["data"].as_array().expect("data").iter().cloned());
            match reply.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return all,
            }
        }
    }

    /// The `hato` binary, run in the test's directory with its database arguments at hand.
    pub fn hato(&self) -> Command {
        hato_command(&self.db)
    }

    pub async fn shutdown(mut self) {
        self.stop_server().await;
    }
}

/// The real `hato` binary, with a clean `HATO_*` environment, in the test directory.
/// Runs `hato bench ARGS --runs 1 --timeout 60s --json` on a server it spawns on `db`'s
/// backend, and returns its report; fails the test when the run fails.
pub async fn bench_report(db: &TestDb, args: &[&str]) -> Value {
    let mut bench = hato_command(db);
    bench.arg("bench").args(args);
    bench.args(["--runs", "1", "--timeout", "60s", "--json"]);
    if let Some(pg) = &db.postgres {
        bench.args(["--database-url", &pg.url]);
    }
    let out = output(bench).await;
    assert!(
        out.status.success(),
        "hato bench {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

/// The median of figure `key` in a `hato bench --json` report.
pub fn bench_figure(report: &Value, key: &str) -> f64 {
    report["figures"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["key"] == key))
        .and_then(|f| f["median"].as_f64())
        .unwrap_or_else(|| panic!("no figure {key} in {report}"))
}

pub fn hato_command(db: &TestDb) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hato"));
    command.current_dir(db.dir.path());
    for (name, _) in std::env::vars() {
        if name.starts_with("HATO_") {
            command.env_remove(name);
        }
    }
    command
}

async fn boot(config: &Config) -> RunningServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    hato::server::start(config.clone(), listener, CancellationToken::new())
        .await
        .expect("the server starts")
}

/// A response: status, headers and the JSON body (`Null` when there is none).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn of(request: reqwest::RequestBuilder) -> Reply {
        let response = request
            .send()
            .await
            .expect("the request reaches the server");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("the body arrives");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Asserts the error envelope: this status, code and (if given) field.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str, field: Option<&str>) {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        let error = &self.body["error"];
        assert_eq!(error["code"], code, "{self:?}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "an error message: {self:?}"
        );
        if let Some(field) = field {
            assert_eq!(error["field"], field, "{self:?}");
        }
    }
}

/// Calls `check` every 20 ms until it returns `Some`, failing the test after [`PATIENCE`].
pub async fn poll_until<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    poll_for(PATIENCE, what, check).await
}

pub async fn poll_for<T, F, Fut>(patience: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {patience:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// RFC 3339 time `offset` from now.
pub fn time_from_now(offset: Duration) -> String {
    let at = jiff::Timestamp::now() + jiff::SignedDuration::try_from(offset).expect("offset");
    at.to_string()
}

/// Runs a command to completion off the async workers (the server shares them).
pub async fn output(mut command: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || command.output().expect("run the command"))
        .await
        .expect("the command thread")
}

/// An SMSC simulator on a free loopback port that accepts only `acme` / `s3cret`, with
/// receipts after 20 ms: the external SMSC of tests that configure connectors.
pub async fn acme_smsc(shutdown: CancellationToken) -> hato_smpp::simulator::Simulator {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    hato_smpp::simulator::Simulator::start(
        hato_smpp::simulator::SimulatorConfig {
            credentials: Some(("acme".into(), "s3cret".into())),
            receipt_delay: Duration::from_millis(20),
            ..hato_smpp::simulator::SimulatorConfig::default()
        },
        listener,
        shutdown,
    )
    .await
}

/// A child process (`hato serve`, `hato smsc`) stopped however the test ends.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback address no one listened on a moment ago, for a child process to listen on
/// (it may be taken meanwhile, but the tests' ports come from the kernel's ephemeral range).
pub fn free_loopback_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|probe| probe.local_addr())
        .expect("a free loopback port")
}
