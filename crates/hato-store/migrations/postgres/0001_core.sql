-- Hato core schema (PostgreSQL). Times are unix milliseconds; ids and JSON are text.

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    webhook_url TEXT,
    webhook_secret TEXT NOT NULL,
    previous_webhook_secret TEXT,
    previous_secret_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    to_number TEXT NOT NULL,
    from_sender TEXT,
    body TEXT NOT NULL,
    encoding TEXT NOT NULL,
    segments BIGINT NOT NULL,
    reference TEXT,
    metadata TEXT,
    status_callback TEXT,
    send_at BIGINT,
    expires_at BIGINT,
    idempotency_key TEXT,
    request_hash TEXT,
    connector TEXT,
    error_code TEXT,
    error_message TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    scheduled_at BIGINT,
    queued_at BIGINT,
    sending_at BIGINT,
    sent_at BIGINT,
    delivered_at BIGINT,
    undelivered_at BIGINT,
    expired_at BIGINT,
    failed_at BIGINT,
    cancelled_at BIGINT,
    received_at BIGINT
);
CREATE UNIQUE INDEX messages_idempotency ON messages (account_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX messages_account ON messages (account_id, id);
CREATE INDEX messages_account_status ON messages (account_id, status, id);
CREATE INDEX messages_account_to ON messages (account_id, to_number, id);
CREATE INDEX messages_account_reference ON messages (account_id, reference, id) WHERE reference IS NOT NULL;

-- One row per submitted part: receipts come per part, and a multipart message is
-- delivered only when every part is.
CREATE TABLE message_parts (
    message_id TEXT NOT NULL,
    part BIGINT NOT NULL,
    connector TEXT NOT NULL,
    carrier_message_id TEXT NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (message_id, part)
);
CREATE INDEX message_parts_carrier ON message_parts (connector, carrier_message_id);

-- Receipts that matched no part yet (they can arrive before submit_sm_resp), kept for
-- inspection and applied when the part appears.
CREATE TABLE unmatched_receipts (
    id BIGSERIAL PRIMARY KEY,
    connector TEXT NOT NULL,
    carrier_message_id TEXT NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT,
    received_at BIGINT NOT NULL
);
CREATE INDEX unmatched_receipts_carrier ON unmatched_receipts (connector, carrier_message_id);

-- The durable job queue. One job per (queue, ref_id): enqueueing is idempotent.
CREATE TABLE jobs (
    id BIGSERIAL PRIMARY KEY,
    queue TEXT NOT NULL,
    lane BIGINT NOT NULL,
    run_at BIGINT NOT NULL,
    lease_until BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    ref_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX jobs_claim ON jobs (queue, lane, run_at, id);
CREATE UNIQUE INDEX jobs_ref ON jobs (queue, ref_id);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    message_id TEXT,
    event_type TEXT NOT NULL,
    url TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_message ON webhook_deliveries (message_id);

CREATE TABLE webhook_attempts (
    id BIGSERIAL PRIMARY KEY,
    delivery_id TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    attempted_at BIGINT NOT NULL,
    response_status BIGINT,
    error TEXT,
    duration_ms BIGINT NOT NULL,
    next_attempt_at BIGINT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

-- Replays of batch requests sent with an Idempotency-Key.
CREATE TABLE idempotency_keys (
    account_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response_status BIGINT NOT NULL,
    response_body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, idempotency_key)
);
