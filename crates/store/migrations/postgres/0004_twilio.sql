-- Twilio webhooks: one row per distinct event received (Twilio retries; a repeat finds its row
-- and is not processed again), and which agent each agent-leg call is (for participant events).
CREATE TABLE webhook_receipts (
    client_id BIGINT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    event_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    call_sid TEXT,
    call_id BIGINT,
    summary TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, event_key)
);
CREATE INDEX webhook_receipts_recent ON webhook_receipts(client_id, received_at);

CREATE TABLE twilio_agent_legs (
    client_id BIGINT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    call_sid TEXT NOT NULL,
    call_id BIGINT NOT NULL,
    agent_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, call_sid)
);
