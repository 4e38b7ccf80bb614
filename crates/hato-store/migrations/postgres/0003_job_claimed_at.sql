-- When a job was last claimed. A message claimed from the queue keeps its stored status
-- (`scheduled` or `queued`) while it is being sent: its lease says `sending`, and this says
-- since when (see src/dispatch.rs), so a claim does not rewrite the message row.

ALTER TABLE jobs ADD COLUMN claimed_at BIGINT;
