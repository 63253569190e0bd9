-- Messages received at least once, by visibility: the redrive check on each
-- receive looks for visible messages that reached maxReceiveCount, and
-- without this index it walked the whole visible backlog to find them (most
-- of a backlog has never been received).
CREATE INDEX sqs_messages_received ON sqs_messages (queue_id, visible_at) WHERE receive_count > 0;
