-- Recordings and transcripts (issue 13, DESIGN §2.6): each client's recording settings
-- (retention, whether the carrier's copy is deleted once ours is stored), one recording per call
-- with its fetch state, the pauses marked on its timeline, and transcript lines (live lines while
-- the call runs, the post-call transcript after it) searched with FTS5.

CREATE TABLE recording_settings (
    client_id INTEGER PRIMARY KEY REFERENCES clients(id) ON DELETE CASCADE,
    -- NULL keeps recordings for ever.
    retention_days INTEGER,
    delete_at_carrier INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);

CREATE TABLE recordings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    call_id INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    -- The carrier's id of the recording (Twilio RE…), and where its file is fetched from.
    carrier_sid TEXT,
    source_url TEXT,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at INTEGER,
    storage_key TEXT,
    content_type TEXT,
    bytes INTEGER,
    channels INTEGER NOT NULL DEFAULT 2,
    duration_seconds INTEGER,
    transcription INTEGER NOT NULL DEFAULT 0,
    -- The post-call transcript: none, pending, done or failed (retried like fetches).
    transcript_status TEXT NOT NULL DEFAULT 'none',
    transcript_attempts INTEGER NOT NULL DEFAULT 0,
    transcript_error TEXT,
    transcript_next_at INTEGER,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    stored_at INTEGER,
    carrier_deleted_at INTEGER
);
CREATE UNIQUE INDEX recordings_call ON recordings(call_id);
CREATE INDEX recordings_due ON recordings(status, next_attempt_at);
CREATE INDEX recordings_client_started ON recordings(client_id, started_at);

CREATE TABLE recording_pauses (
    recording_id INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
    paused_ms INTEGER NOT NULL,
    resumed_ms INTEGER,
    PRIMARY KEY (recording_id, paused_ms)
);

-- kind: 'live' (streamed during the call) or 'final' (the post-call transcript).
CREATE TABLE transcript_lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    call_id INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    seq INTEGER NOT NULL,
    speaker TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE UNIQUE INDEX transcript_lines_seq ON transcript_lines(call_id, kind, seq);
CREATE INDEX transcript_lines_client ON transcript_lines(client_id, id);

CREATE VIRTUAL TABLE transcript_fts USING fts5(
    text, content = 'transcript_lines', content_rowid = 'id', tokenize = 'unicode61'
);
CREATE TRIGGER transcript_lines_ai AFTER INSERT ON transcript_lines BEGIN
    INSERT INTO transcript_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER transcript_lines_ad AFTER DELETE ON transcript_lines BEGIN
    INSERT INTO transcript_fts (transcript_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
