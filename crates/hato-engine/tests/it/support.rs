//! Shared setup: a fresh database (SQLite in a tempdir, or a new PostgreSQL database when
//! `HATO_TEST_DATABASE_URL` is set), SMSC simulators on real TCP ports, and an engine whose
//! router holds one `SmppCarrier` per connector.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use hato_core::{AccountId, Message, MessageId, MessageKind, MessageStatus};
use hato_engine::{Engine, EngineConfig, Router, SmppCarrier, WebhookConfig};
use hato_smpp::{
    ConnectorConfig,
    simulator::{Simulator, SimulatorConfig},
};
use hato_store::{Account, MessageFilter, NewMessage, Store, testing::TestDatabase};
use tokio::{net::TcpListener, sync::mpsc};
use tokio_util::sync::CancellationToken;

/// Runs `$name(db)` once per backend: SQLite always, PostgreSQL when configured.
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::support::TestDb::sqlite().await;
                $crate::support::guarded(super::$name(&db)).await;
                db.drop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                // Without a server this variant has nothing to run against.
                let Some(db) = $crate::support::TestDb::postgres().await else {
                    eprintln!("HATO_TEST_DATABASE_URL is not set: PostgreSQL variant skipped");
                    return;
                };
                $crate::support::guarded(super::$name(&db)).await;
                db.drop().await;
            }
        }
    };
}
pub(crate) use on_both_backends;

pub const ACCOUNT: &str = "test";

/// The test account's id, creating the account on first use.
pub async fn account_id(store: &Store) -> AccountId {
    store
        .ensure_account(ACCOUNT, "whsec_x", 0)
        .await
        .expect("account")
        .id
}

/// A message of the test account, as the API reads it.
pub async fn stored_message(store: &Store, id: &MessageId) -> Message {
    let account = account_id(store).await;
    store
        .message(&account, id)
        .await
        .expect("read")
        .expect("exists")
}
pub const TO: &str = "+819012345678";

/// A database for one test.
pub struct TestDb {
    pub url: String,
    guard: DbGuard,
}

enum DbGuard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(TestDatabase),
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        TestDb {
            url: format!("sqlite://{}/hato.db", dir.path().display()),
            guard: DbGuard::Sqlite(dir),
        }
    }

    pub async fn postgres() -> Option<TestDb> {
        let admin = std::env::var("HATO_TEST_DATABASE_URL").ok()?;
        let db = TestDatabase::create(&admin)
            .await
            .expect("create a test database");
        Some(TestDb {
            url: db.url.clone(),
            guard: DbGuard::Postgres(db),
        })
    }

    pub async fn open(&self) -> Store {
        Store::open(&self.url, Default::default())
            .await
            .expect("open the store")
    }

    pub async fn drop(self) {
        if let DbGuard::Postgres(db) = self.guard {
            db.drop_database().await.expect("drop the test database");
        }
    }
}

/// An SMSC simulator on its own port.
pub struct Smsc {
    pub sim: Simulator,
    shutdown: CancellationToken,
}

impl Smsc {
    pub async fn start(config: SimulatorConfig) -> Smsc {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::on(listener, config).await
    }

    pub async fn on(listener: TcpListener, config: SimulatorConfig) -> Smsc {
        let shutdown = CancellationToken::new();
        let sim = Simulator::start(config, listener, shutdown.clone()).await;
        Smsc { sim, shutdown }
    }

    pub fn addr(&self) -> SocketAddr {
        self.sim.local_addr()
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.sim.stopped().await;
    }
}

/// A port nobody listens on now, for a simulator started later.
pub async fn reserved_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("local addr")
}

/// A connector to `addr` with short timers, so reconnects and timeouts fit in a test.
pub fn connector(name: &str, addr: SocketAddr) -> ConnectorConfig {
    let mut config =
        ConnectorConfig::new(name, addr.ip().to_string(), addr.port(), "hato", "secret");
    config.response_timeout = Duration::from_secs(5);
    config.reconnect_min = Duration::from_millis(20);
    config.reconnect_max = Duration::from_millis(200);
    config.throttle_pause = Duration::from_millis(100);
    config
}

/// Engine timings for tests: quick retries, and webhooks retried too rarely to matter.
pub fn engine_config() -> EngineConfig {
    EngineConfig {
        idle_poll: Duration::from_millis(50),
        retry_schedule: vec![Duration::from_millis(100); 10],
        unavailable_retry: Duration::from_millis(100),
        inbound_account: Some(ACCOUNT.into()),
        webhooks: WebhookConfig {
            retry_schedule: vec![Duration::from_secs(3600)],
            timeout: Duration::from_millis(200),
            ..WebhookConfig::default()
        },
        ..EngineConfig::default()
    }
}

/// The engine, its carriers and the account messages are sent from.
pub struct TestApp {
    pub store: Store,
    pub account: Account,
    pub engine: Engine,
    pub carriers: Vec<Arc<SmppCarrier>>,
    shutdown: CancellationToken,
}

impl TestApp {
    pub async fn start(db: &TestDb, connectors: Vec<ConnectorConfig>) -> TestApp {
        let store = db.open().await;
        let account = store
            .ensure_account(
                ACCOUNT,
                "whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=",
                0,
            )
            .await
            .expect("account");
        // Nobody listens there: deliveries are queued and fail, which is all tests look at.
        let account = store
            .set_webhook_url(&account.id, Some("http://127.0.0.1:9/hooks"), 0)
            .await
            .expect("webhook url");
        let shutdown = CancellationToken::new();
        let (events, receiver) = mpsc::channel(1024);
        let carriers: Vec<Arc<SmppCarrier>> = connectors
            .into_iter()
            .map(|config| {
                SmppCarrier::start(config, None, events.clone(), shutdown.clone())
                    .expect("valid connector config")
            })
            .collect();
        let router = Router::new(
            carriers
                .iter()
                .map(|c| c.clone() as Arc<dyn hato_engine::Carrier>)
                .collect(),
            Vec::new(),
        );
        let engine = Engine::start(
            store.clone(),
            engine_config(),
            router,
            receiver,
            shutdown.clone(),
        );
        TestApp {
            store,
            account,
            engine,
            carriers,
            shutdown,
        }
    }

    pub fn account_id(&self) -> &AccountId {
        &self.account.id
    }

    /// Stores a message the way the API does and wakes the dispatcher.
    pub async fn send(&self, body: &str) -> MessageId {
        let message = new_message(self.account_id(), body);
        let id = message.id.clone();
        self.store.insert_message(message).await.expect("insert");
        self.engine.notify_dispatch();
        id
    }

    pub async fn message(&self, id: &MessageId) -> Message {
        self.store
            .message(self.account_id(), id)
            .await
            .expect("read")
            .expect("message exists")
    }

    /// Waits until the message reaches `status` (and fails fast if it ends otherwise).
    pub async fn wait_status(&self, id: &MessageId, status: MessageStatus) -> Message {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let message = self.message(id).await;
            if message.status == status {
                return message;
            }
            assert!(
                !message.status.is_final(),
                "{id} ended {:?}, not {status:?}: {message:?}",
                message.status
            );
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id} did not reach {status:?}; last seen {message:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn inbound(&self) -> Vec<Message> {
        self.store
            .messages(
                self.account_id(),
                &MessageFilter {
                    direction: Some("inbound".into()),
                    limit: 100,
                    ..MessageFilter::default()
                },
            )
            .await
            .expect("list inbound")
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        guarded(self.engine.stopped()).await;
        for carrier in &self.carriers {
            guarded(carrier.stopped()).await;
        }
        self.store.close().await;
    }
}

pub fn new_message(account: &AccountId, body: &str) -> NewMessage {
    NewMessage::queued(
        account.clone(),
        MessageKind::Transactional,
        TO.into(),
        body.into(),
        jiff::Timestamp::now().as_millisecond(),
    )
}

const WAIT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(20);

/// Polls `condition` every 20 ms for up to 15 s; whether it became true.
pub async fn eventually<F, Fut>(mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Runs `future` with a 60 s guard so a hang fails the test instead of blocking CI.
pub async fn guarded<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .expect("finished within 60 s")
}
