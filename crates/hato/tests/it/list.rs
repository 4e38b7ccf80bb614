//! `GET /v1/messages`: filters, cursor pagination and refused parameters.

use std::{collections::HashSet, time::Duration};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Reply, TestApp, TestDb, on_both_backends, time_from_now};

on_both_backends!(
    filters_select_the_right_messages,
    cursor_pagination_walks_every_message_once,
    bad_parameters_are_refused_by_name,
);

async fn list(app: &TestApp, query: &[(&str, &str)]) -> Vec<String> {
    let reply =
        Reply::of(app.request(Method::GET, &format!("/v1/messages?{}", encode(query)))).await;
    assert_eq!(reply.status, 200, "{query:?}: {reply:?}");
    reply.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_owned())
        .collect()
}

fn encode(query: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish()
}

fn id(message: &Value) -> String {
    message["id"].as_str().expect("id").to_owned()
}

async fn filters_select_the_right_messages(db: TestDb) {
    let app = TestApp::start(db).await;
    let a = app
        .send(json!({"to": "09012345678", "body": "a", "reference": "r1"}))
        .await;
    let b = app
        .send(
            json!({"to": "+818011112222", "body": "b", "reference": "r2",
                     "send_at": time_from_now(Duration::from_secs(3600))}),
        )
        .await;
    let c = app
        .send(json!({"to": "090 1234 5678", "body": "c", "reference": "r1"}))
        .await;
    let (a, b, c) = (id(&a), id(&b), id(&c));
    let (a, b, c) = (a.as_str(), b.as_str(), c.as_str());
    app.until_status(a, "delivered").await;
    app.until_status(c, "delivered").await;

    // Newest first.
    assert_eq!(list(&app, &[]).await, [c, b, a]);
    assert_eq!(list(&app, &[("status", "delivered")]).await, [c, a]);
    assert_eq!(list(&app, &[("status", "scheduled")]).await, [b]);
    assert!(list(&app, &[("status", "failed")]).await.is_empty());
    for to in ["090-1234-5678", "+819012345678", "09012345678"] {
        assert_eq!(list(&app, &[("to", to)]).await, [c, a], "to={to}");
    }
    assert_eq!(list(&app, &[("to", "080-1111-2222")]).await, [b]);
    assert_eq!(list(&app, &[("reference", "r2")]).await, [b]);
    assert_eq!(
        list(&app, &[("reference", "r1"), ("to", "09012345678")]).await,
        [c, a]
    );
    assert!(list(&app, &[("reference", "nope")]).await.is_empty());
    assert_eq!(list(&app, &[("direction", "outbound")]).await.len(), 3);
    assert!(list(&app, &[("direction", "inbound")]).await.is_empty());

    // Creation times: `created_after` inclusive, `created_before` exclusive.
    let created = |id: &str| {
        let app = &app;
        let id = id.to_owned();
        async move {
            app.get(&format!("/v1/messages/{id}")).await.body["created_at"]
                .as_str()
                .expect("created_at")
                .to_owned()
        }
    };
    let (at_a, at_c) = (created(a).await, created(c).await);
    let after_a = list(&app, &[("created_after", &at_a)]).await;
    assert!(
        after_a.iter().any(|x| x == a) && after_a.iter().any(|x| x == c),
        "{after_a:?}"
    );
    let before_c = list(&app, &[("created_before", &at_c)]).await;
    assert!(
        !before_c.iter().any(|x| x == c) && before_c.iter().any(|x| x == a),
        "{before_c:?}"
    );
    let far_future = time_from_now(Duration::from_secs(3600));
    assert!(
        list(&app, &[("created_after", &far_future)])
            .await
            .is_empty()
    );
    assert_eq!(
        list(&app, &[("created_before", &far_future)]).await.len(),
        3
    );
    app.shutdown().await;
}

async fn cursor_pagination_walks_every_message_once(db: TestDb) {
    let app = TestApp::start(db).await;
    let mut sent = Vec::new();
    for i in 0..7 {
        sent.push(id(&app
            .send(json!({"to": "09012345678", "body": format!("m{i}")}))
            .await));
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _page in 0..10 {
        let mut query = vec![("limit", "2")];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.as_str()));
        }
        let reply = app.get(&format!("/v1/messages?{}", encode(&query))).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let data = reply.body["data"].as_array().expect("data");
        assert!(data.len() <= 2);
        seen.extend(data.iter().map(id));
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    sent.reverse();
    assert_eq!(seen, sent, "every message once, newest first");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 7);
    app.shutdown().await;
}

async fn bad_parameters_are_refused_by_name(db: TestDb) {
    let app = TestApp::start(db).await;
    let cases: &[(&str, &str, &str)] = &[
        ("status", "lost", "invalid_status"),
        ("direction", "sideways", "invalid_direction"),
        ("to", "not-a-number", "invalid_phone_number"),
        ("created_after", "yesterday", "invalid_time"),
        ("created_before", "2026-13-01T00:00:00Z", "invalid_time"),
        ("cursor", "page2", "invalid_cursor"),
        ("limit", "0", "invalid_limit"),
        ("limit", "1001", "invalid_limit"),
        ("limit", "ten", "invalid_limit"),
        ("limit", "-1", "invalid_limit"),
        ("colour", "red", "unknown_parameter"),
    ];
    for (name, value, code) in cases {
        let reply = app
            .get(&format!("/v1/messages?{}", encode(&[(name, value)])))
            .await;
        reply.assert_error(422, code, Some(name));
    }
    app.shutdown().await;
}
