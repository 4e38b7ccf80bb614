//! Inbound (MO) messages: single, multipart in any order with resent parts, every scheme,
//! and deliver_sm_resp gated by the engine's ack.

use std::time::Duration;

use hato_smpp::LongMessageMode;
use hato_smpp::simulator::{DeliverKind, MoMessage, PartOrder, SimulatorConfig};
use hato_smpp::status::{ESME_ROK, ESME_RX_T_APPN};

use crate::support::*;

#[tokio::test]
async fn single_mo_message() {
    let mut h = start(SimulatorConfig::default(), |_| {}).await;
    h.sim
        .send_mo(MoMessage::new("+819011112222", "12345", "STOP"))
        .unwrap();
    let (message, ack) = h.inbound().await;
    assert_eq!(
        (
            message.from.as_str(),
            message.to.as_str(),
            message.body.as_str(),
            message.parts
        ),
        ("+819011112222", "12345", "STOP", 1)
    );
    assert_eq!(message.connector, "test");
    ack.send(true).unwrap();
    eventually("answered", || h.sim.stats().deliver_ok == 1).await;
    h.sim
        .send_mo(MoMessage::new("+819011112222", "12345", "配信停止"))
        .unwrap();
    let (message, ack) = h.inbound().await;
    assert_eq!(message.body, "配信停止");
    ack.send(true).unwrap();
    h.stop().await;
}

async fn multipart(concat: LongMessageMode, body: &str, order: PartOrder) {
    let mut h = start(SimulatorConfig::default(), |_| {}).await;
    let mut mo = MoMessage::new("+819011112222", "12345", body);
    mo.concat = concat;
    mo.units_per_part = Some(10);
    mo.order = order;
    let sent = h.sim.send_mo(mo).unwrap();
    let (message, ack) = h.inbound().await;
    assert_eq!(message.body, body, "{concat:?}");
    assert_eq!(
        message.parts,
        body.chars().count().div_ceil(10),
        "{concat:?}"
    );
    // No part is answered until the whole message is stored.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(h.sim.deliver_responses().is_empty(), "{concat:?}");
    ack.send(true).unwrap();
    eventually("every part answered", || {
        h.sim.deliver_responses().len() == sent
    })
    .await;
    assert!(
        h.sim
            .deliver_responses()
            .iter()
            .all(|r| r.command_status == ESME_ROK)
    );
    h.expect_no_message_event(Duration::from_millis(50)).await;
    h.stop().await;
}

#[tokio::test]
async fn multipart_out_of_order_in_every_scheme() {
    let body = "Reply 1 to confirm, 2 to cancel, 3 to change the date.";
    multipart(LongMessageMode::Udh8, body, PartOrder::Reversed).await;
    multipart(
        LongMessageMode::Udh16,
        body,
        PartOrder::Custom(vec![2, 0, 5, 1, 4, 3]),
    )
    .await;
    multipart(LongMessageMode::Sar, body, PartOrder::Reversed).await;
    multipart(
        LongMessageMode::Udh8,
        "予約を変更したいです。来週の火曜日は空いていますか？",
        PartOrder::Custom(vec![2, 1, 0]),
    )
    .await;
}

#[tokio::test]
async fn a_resent_part_is_counted_once() {
    // Part 2 arrives twice; the message is still "abcdefghij" + "klmno", and both copies
    // are answered.
    multipart(
        LongMessageMode::Udh8,
        "abcdefghijklmnopqrst",
        PartOrder::Custom(vec![1, 1, 0]),
    )
    .await;
}

#[tokio::test]
async fn refused_mo_is_answered_with_a_temporary_error_and_redelivered() {
    let mut h = start(
        SimulatorConfig {
            redeliver_after: Some(Duration::from_millis(20)),
            ..SimulatorConfig::default()
        },
        |_| {},
    )
    .await;
    let mut mo = MoMessage::new("+819011112222", "12345", "abcdefghijklmnopqrst");
    mo.units_per_part = Some(10);
    h.sim.send_mo(mo).unwrap();
    let (message, ack) = h.inbound().await;
    ack.send(false).unwrap();
    eventually("both parts refused", || {
        h.sim.deliver_responses().len() == 2
    })
    .await;
    assert!(
        h.sim
            .deliver_responses()
            .iter()
            .all(|r| r.command_status == ESME_RX_T_APPN)
    );
    let (again, ack) = h.inbound().await;
    assert_eq!(again.body, message.body);
    ack.send(true).unwrap();
    eventually("both parts accepted", || {
        h.sim.deliver_responses().len() == 4
    })
    .await;
    let responses = h.sim.deliver_responses();
    assert!(responses[2..].iter().all(|r| r.command_status == ESME_ROK));
    assert!(matches!(
        responses[0].kind,
        DeliverKind::Mo { parts: 2, .. }
    ));
    h.stop().await;
}

#[tokio::test]
async fn an_incomplete_set_times_out_with_a_temporary_error() {
    let mut h = start(SimulatorConfig::default(), |c| {
        c.reassembly_timeout = Duration::from_millis(100)
    })
    .await;
    let mut mo = MoMessage::new("+819011112222", "12345", "abcdefghijklmnopqrst");
    mo.units_per_part = Some(10);
    mo.order = PartOrder::Custom(vec![0]);
    h.sim.send_mo(mo).unwrap();
    eventually("the lone part answered", || {
        h.sim.deliver_responses().len() == 1
    })
    .await;
    assert_eq!(h.sim.deliver_responses()[0].command_status, ESME_RX_T_APPN);
    h.expect_no_message_event(Duration::from_millis(50)).await;
    h.stop().await;
}

#[tokio::test]
async fn a_delivery_held_for_one_bind_does_not_hold_back_another() {
    // Deliveries wait in one queue; one for a bind whose window is full must not stop those
    // another bind has room for, and must keep its place for when its bind answers.
    let config = SimulatorConfig {
        deliver_window: 1,
        credentials: None,
        ..SimulatorConfig::default()
    };
    let mut first = start(config, |c| c.binds = 1).await;
    let mut config = connector_config(&first.sim);
    config.system_id = "other".into();
    config.binds = 1;
    let (tx, mut other_events) = tokio::sync::mpsc::channel(16);
    let other_shutdown = tokio_util::sync::CancellationToken::new();
    let other = hato_smpp::Connector::start(config, tx, other_shutdown.clone()).unwrap();
    eventually("the other bind is up", || other.snapshot().binds_up == 1).await;
    let to = |system_id: &str, body: &str| MoMessage {
        system_id: Some(system_id.into()),
        ..MoMessage::new("+819011112222", "12345", body)
    };
    for body in ["a1", "a2", "a3"] {
        first.sim.send_mo(to(SYSTEM_ID, body)).unwrap();
    }
    first.sim.send_mo(to("other", "b1")).unwrap();
    let (message, first_ack) = first.inbound().await;
    assert_eq!(message.body, "a1");
    // a2 and a3 wait for the first bind; b1, behind them, goes to the other at once.
    let (message, ack) = loop {
        let event = tokio::time::timeout(Duration::from_secs(10), other_events.recv())
            .await
            .expect("the other bind gets its delivery while the first is full")
            .expect("events open");
        match event {
            hato_smpp::ConnectorEvent::Inbound { message, ack } => break (message, ack),
            hato_smpp::ConnectorEvent::BindChanged { .. } => {}
            event => panic!("expected an inbound message, got {event:?}"),
        }
    };
    assert_eq!(message.body, "b1");
    ack.send(true).unwrap();
    first_ack.send(true).unwrap();
    for expected in ["a2", "a3"] {
        let (message, ack) = first.inbound().await;
        assert_eq!(message.body, expected, "held deliveries keep their order");
        ack.send(true).unwrap();
    }
    eventually("all answered", || first.sim.stats().deliver_ok == 4).await;
    other_shutdown.cancel();
    other.stopped().await;
    first.stop().await;
}

#[tokio::test]
async fn deliveries_wait_for_room_in_the_window() {
    // Like a real SMSC, the simulator keeps at most `deliver_window` deliveries unanswered
    // per session: a burst is sent as fast as the ESME answers, not all at once.
    let config = SimulatorConfig {
        deliver_window: 3,
        ..SimulatorConfig::default()
    };
    let mut h = start(config, |c| c.binds = 1).await;
    for i in 0..10 {
        h.sim
            .send_mo(MoMessage::new("+819011112222", "12345", format!("m{i}")))
            .unwrap();
    }
    let mut acks = Vec::new();
    for _ in 0..3 {
        acks.push(h.inbound().await);
    }
    h.expect_no_message_event(Duration::from_millis(300)).await;
    assert_eq!(h.sim.stats().mo_sent, 3, "the window is full");
    let mut bodies: Vec<String> = acks.iter().map(|(m, _)| m.body.clone()).collect();
    for (_, ack) in acks {
        ack.send(true).unwrap();
    }
    for _ in 0..7 {
        let (message, ack) = h.inbound().await;
        bodies.push(message.body);
        ack.send(true).unwrap();
    }
    eventually("all answered", || h.sim.stats().deliver_ok == 10).await;
    let expected: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    assert_eq!(bodies, expected, "in order, none lost or repeated");
    h.stop().await;
}
