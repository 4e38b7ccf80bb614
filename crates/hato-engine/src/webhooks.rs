//! Delivering status callbacks, signed as the Standard Webhooks specification says.
//!
//! Each delivery has a fixed id and payload; every attempt signs `id.timestamp.payload` with
//! the account's secret (and, during a rotation's grace period, the previous one as well, so
//! receivers that still hold the old secret keep verifying). Failures are retried on a growing
//! schedule with jitter, and a `Retry-After` from the receiver is honoured.

use std::{sync::Arc, time::Duration};

use hato_store::{
    Account, ClaimedJob, NewAttempt, Queue, Store, WebhookAttemptOutcome, WebhookDelivery,
};
use reqwest::{StatusCode, header::HeaderMap};
use standardwebhooks::Webhook;
use tokio::sync::Semaphore;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{EngineConfig, clock::now_ms, retry::delay_after};

pub(crate) async fn run(store: Store, config: Arc<EngineConfig>, shutdown: CancellationToken) {
    let client = match reqwest::Client::builder()
        .timeout(config.webhooks.timeout)
        .user_agent(concat!("Hato-Webhooks/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(error = ?error, "cannot build the webhook HTTP client; webhooks are off");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(config.webhooks.concurrency.max(1)));
    let deliveries = TaskTracker::new();
    let lease = config.webhooks.timeout * 2 + Duration::from_secs(30);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("semaphore never closes"),
            () = shutdown.cancelled() => break,
        };
        // Claim as many as there are free slots (this one included).
        let free = slots.available_permits() + 1;
        let now = now_ms();
        let jobs = match store
            .claim_jobs(Queue::Webhook, now, now + lease.as_millis() as i64, free)
            .await
        {
            Ok(jobs) => jobs,
            Err(error) => {
                tracing::error!(error = ?error, "claiming webhook jobs failed");
                Vec::new()
            }
        };
        if jobs.is_empty() {
            drop(permit);
            tokio::select! {
                () = tokio::time::sleep(config.idle_poll) => {}
                () = shutdown.cancelled() => break,
            }
            continue;
        }
        let mut permit = Some(permit);
        for job in jobs {
            let permit = match permit.take() {
                Some(permit) => permit,
                None => slots
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore never closes"),
            };
            let (store, client, config) = (store.clone(), client.clone(), config.clone());
            deliveries.spawn(async move {
                deliver(&store, &client, &config, job).await;
                drop(permit);
            });
        }
    }
    deliveries.close();
    deliveries.wait().await;
}

async fn deliver(store: &Store, client: &reqwest::Client, config: &EngineConfig, job: ClaimedJob) {
    let delivery = match store.webhook_delivery(&job.ref_id).await {
        Ok(Some(delivery)) => delivery,
        Ok(None) => {
            let _ = store.discard_job(job.id).await;
            return;
        }
        Err(error) => {
            tracing::error!(error = ?error, delivery = %job.ref_id, "loading webhook delivery failed");
            return;
        }
    };
    let account = match store.account(&delivery.account_id).await {
        Ok(Some(account)) => account,
        other => {
            tracing::error!(result = ?other.map(|_| ()), delivery = %delivery.id, "loading webhook account failed");
            return;
        }
    };
    let started = std::time::Instant::now();
    let attempted_at = now_ms();
    let response = send(client, &account, &delivery, attempted_at).await;
    let duration_ms = started.elapsed().as_millis() as i64;
    let attempt_number = usize::try_from(delivery.attempts + 1).unwrap_or(usize::MAX);
    let (response_status, error, retry_after, give_up_now) = match &response {
        Ok((status, headers)) => {
            let retry_after = retry_after(headers, attempted_at);
            let error = (!status.is_success()).then(|| format!("receiver answered {status}"));
            (
                Some(status.as_u16()),
                error,
                retry_after,
                *status == StatusCode::GONE,
            )
        }
        Err(error) => (None, Some(error.clone()), None, false),
    };
    let outcome = if error.is_none() {
        WebhookAttemptOutcome::Succeeded
    } else if give_up_now {
        WebhookAttemptOutcome::GaveUp
    } else {
        match delay_after(
            &config.webhooks.retry_schedule,
            attempt_number,
            config.webhooks.jitter,
        ) {
            Some(delay) => {
                let honoured =
                    retry_after.map_or(Duration::ZERO, |d| d.min(config.webhooks.max_retry_after));
                WebhookAttemptOutcome::RetryAt(now_ms() + delay.max(honoured).as_millis() as i64)
            }
            None => WebhookAttemptOutcome::GaveUp,
        }
    };
    let result = match outcome {
        WebhookAttemptOutcome::Succeeded => "succeeded",
        WebhookAttemptOutcome::RetryAt(_) => "retrying",
        WebhookAttemptOutcome::GaveUp => "gave_up",
    };
    metrics::counter!("hato_webhook_attempts_total", "result" => result).increment(1);
    if let Some(error) = &error {
        tracing::info!(delivery = %delivery.id, url = %delivery.url, attempt = attempt_number, error, result, "webhook attempt failed");
    }
    let attempt = NewAttempt {
        delivery_id: delivery.id.clone(),
        job_id: job.id,
        attempted_at,
        response_status,
        error,
        duration_ms,
        outcome,
    };
    if let Err(error) = store.record_webhook_attempt(&attempt).await {
        tracing::error!(error = ?error, delivery = %delivery.id, "recording webhook attempt failed");
    }
}

async fn send(
    client: &reqwest::Client,
    account: &Account,
    delivery: &WebhookDelivery,
    attempted_at: i64,
) -> Result<(StatusCode, HeaderMap), String> {
    let timestamp = attempted_at / 1000;
    let signature = signature(
        account,
        &delivery.id,
        timestamp,
        delivery.payload.as_bytes(),
        attempted_at,
    )?;
    let response = client
        .post(&delivery.url)
        .header("content-type", "application/json")
        .header("webhook-id", &delivery.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(delivery.payload.clone())
        .send()
        .await
        .map_err(|e| describe_error(&e))?;
    Ok((response.status(), response.headers().clone()))
}

/// `v1,<sig>` with the current secret, followed by `v1,<sig>` with the previous secret while its
/// grace period lasts.
pub fn signature(
    account: &Account,
    id: &str,
    timestamp: i64,
    payload: &[u8],
    now: i64,
) -> Result<String, String> {
    let sign = |secret: &str| {
        Webhook::new(secret)
            .and_then(|hook| hook.sign(id, timestamp, payload))
            .map_err(|e| format!("cannot sign the webhook: {e:?}"))
    };
    let mut signature = sign(&account.webhook_secret)?;
    if let (Some(previous), Some(until)) = (
        &account.previous_webhook_secret,
        account.previous_secret_expires_at,
    ) && until > now
    {
        signature.push(' ');
        signature.push_str(&sign(previous)?);
    }
    Ok(signature)
}

fn describe_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap, now: i64) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    Some(Duration::from_millis(
        (date.as_millisecond() - now).max(0) as u64
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "120".parse().unwrap());
        assert_eq!(retry_after(&headers, 0), Some(Duration::from_secs(120)));
        headers.insert(
            "retry-after",
            "Thu, 01 Jan 1970 00:01:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers, 0), Some(Duration::from_secs(60)));
        headers.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&headers, 0), None);
    }
}
