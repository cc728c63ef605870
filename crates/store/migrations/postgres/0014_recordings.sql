-- Recordings and transcripts (issue 13, DESIGN §2.6): each client's recording settings
-- (retention, whether the carrier's copy is deleted once ours is stored), one recording per call
-- with its fetch state, the pauses marked on its timeline, and transcript lines (live lines while
-- the call runs, the post-call transcript after it) searched through a generated tsvector.

CREATE TABLE recording_settings (
    client_id BIGINT PRIMARY KEY REFERENCES clients(id) ON DELETE CASCADE,
    -- NULL keeps recordings for ever.
    retention_days BIGINT,
    delete_at_carrier BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at BIGINT NOT NULL
);

CREATE TABLE recordings (
    id BIGSERIAL PRIMARY KEY,
    client_id BIGINT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    call_id BIGINT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    -- The carrier's id of the recording (Twilio RE…), and where its file is fetched from.
    carrier_sid TEXT,
    source_url TEXT,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at BIGINT,
    storage_key TEXT,
    content_type TEXT,
    bytes BIGINT,
    channels BIGINT NOT NULL DEFAULT 2,
    duration_seconds BIGINT,
    transcription BOOLEAN NOT NULL DEFAULT FALSE,
    -- The post-call transcript: none, pending, done or failed (retried like fetches).
    transcript_status TEXT NOT NULL DEFAULT 'none',
    transcript_attempts BIGINT NOT NULL DEFAULT 0,
    transcript_error TEXT,
    transcript_next_at BIGINT,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    stored_at BIGINT,
    carrier_deleted_at BIGINT
);
CREATE UNIQUE INDEX recordings_call ON recordings(call_id);
CREATE INDEX recordings_due ON recordings(status, next_attempt_at);
CREATE INDEX recordings_client_started ON recordings(client_id, started_at);

CREATE TABLE recording_pauses (
    recording_id BIGINT NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
    paused_ms BIGINT NOT NULL,
    resumed_ms BIGINT,
    PRIMARY KEY (recording_id, paused_ms)
);

-- kind: 'live' (streamed during the call) or 'final' (the post-call transcript).
CREATE TABLE transcript_lines (
    id BIGSERIAL PRIMARY KEY,
    client_id BIGINT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    call_id BIGINT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    seq BIGINT NOT NULL,
    speaker TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT NOT NULL,
    text TEXT NOT NULL,
    -- 'simple': no stemming, so a search means what it means in SQLite's FTS5.
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED
);
CREATE UNIQUE INDEX transcript_lines_seq ON transcript_lines(call_id, kind, seq);
CREATE INDEX transcript_lines_client ON transcript_lines(client_id, id);
CREATE INDEX transcript_lines_tsv ON transcript_lines USING GIN (tsv);
