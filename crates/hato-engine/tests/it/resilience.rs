//! Carriers going away: failover to the next connector, nothing lost while none is up,
//! throttling slowing down without failing messages.

use hato_core::MessageStatus;
use hato_smpp::{
    simulator::{Fault, SimulatorConfig},
    status::ESME_RTHROTTLED,
};
use tokio::net::TcpListener;

use crate::support::{Smsc, TestApp, TestDb, connector, on_both_backends, reserved_port};

async fn fails_over_when_the_first_smsc_is_down(db: &TestDb) {
    let down = reserved_port().await;
    let smsc = Smsc::start(SimulatorConfig::default()).await;
    let app = TestApp::start(
        db,
        vec![connector("primary", down), connector("backup", smsc.addr())],
    )
    .await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(app.send(&format!("failover {n}")).await);
    }
    for id in &ids {
        let message = app.wait_status(id, MessageStatus::Delivered).await;
        assert_eq!(message.connector.as_deref(), Some("backup"));
    }
    assert_eq!(smsc.sim.received().len(), 5);
    app.stop().await;
    smsc.stop().await;
}
on_both_backends!(fails_over_when_the_first_smsc_is_down);

async fn nothing_lost_until_a_connector_comes_up(db: &TestDb) {
    let first = reserved_port().await;
    let second = reserved_port().await;
    let app = TestApp::start(
        db,
        vec![connector("first", first), connector("second", second)],
    )
    .await;
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(app.send(&format!("waiting {n}")).await);
    }
    // Let the dispatcher find no carrier a few times: messages must stay queued.
    let (app_ref, first_id) = (&app, &ids[0]);
    assert!(
        crate::support::eventually(|| async move {
            let message = app_ref.message(first_id).await;
            message.timestamps.sending.is_some()
        })
        .await,
        "the dispatcher tried"
    );
    for id in &ids {
        let status = app.message(id).await.status;
        assert!(
            !status.is_final(),
            "{id} is {status:?} while no carrier is up"
        );
    }
    let listener = TcpListener::bind(second)
        .await
        .expect("bind the reserved port");
    let smsc = Smsc::on(listener, SimulatorConfig::default()).await;
    for id in &ids {
        let message = app.wait_status(id, MessageStatus::Delivered).await;
        assert_eq!(message.connector.as_deref(), Some("second"));
    }
    app.stop().await;
    smsc.stop().await;
}
on_both_backends!(nothing_lost_until_a_connector_comes_up);

async fn throttling_retries_and_delivers(db: &TestDb) {
    let smsc = Smsc::start(SimulatorConfig::default()).await;
    smsc.sim.inject(Fault::RespondWith {
        status: ESME_RTHROTTLED,
        count: 3,
    });
    let app = TestApp::start(db, vec![connector("smsc", smsc.addr())]).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(app.send(&format!("throttled {n}")).await);
    }
    for id in &ids {
        app.wait_status(id, MessageStatus::Delivered).await;
    }
    let stats = smsc.sim.stats();
    assert_eq!(stats.submits_failed, 3);
    assert_eq!(stats.submits_ok, 5);
    assert!(app.carriers[0].connector().snapshot().throttled >= 3);
    app.stop().await;
    smsc.stop().await;
}
on_both_backends!(throttling_retries_and_delivers);
