-- How many parts the submission of a message had, on each of its parts. A receipt for a
-- message of one part decides the message's status by itself, so applying it needs no second
-- read of the message's parts (see src/receipts.rs). NULL on rows stored before: their
-- siblings are read, as before.

ALTER TABLE message_parts ADD COLUMN part_count BIGINT;
