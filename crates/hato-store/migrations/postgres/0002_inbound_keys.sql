-- Inbound (mobile-originated) messages get a de-duplication key, so an MO the SMSC delivers
-- again (because our deliver_sm_resp was lost) is stored once. See src/inbound.rs for the rule.

ALTER TABLE messages ADD COLUMN inbound_key TEXT;
CREATE UNIQUE INDEX messages_inbound_key ON messages (inbound_key) WHERE inbound_key IS NOT NULL;

-- A receipt that arrives before its part is known is kept under every form of its id (hex,
-- decimal), since the submit response may use another form; `receipt_key` (the first form)
-- ties those rows together so the receipt is applied once.
ALTER TABLE unmatched_receipts ADD COLUMN receipt_key TEXT;
CREATE INDEX unmatched_receipts_key ON unmatched_receipts (connector, receipt_key);
