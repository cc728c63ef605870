-- Inbound calls (issue 17): each client's inbound settings, and who handled a missed call or a
-- voicemail in the desktop tray (inbound calls are `calls` rows with direction 'inbound' and the
-- outcomes answered, missed or voicemail).

CREATE TABLE inbound_settings (
    client_id BIGINT PRIMARY KEY REFERENCES clients(id) ON DELETE CASCADE,
    greeting TEXT NOT NULL DEFAULT '',
    hold_music_url TEXT,
    announce_position BOOLEAN NOT NULL DEFAULT TRUE,
    max_wait_seconds BIGINT NOT NULL DEFAULT 120,
    voicemail BOOLEAN NOT NULL DEFAULT TRUE,
    voicemail_prompt TEXT NOT NULL DEFAULT '',
    recording BOOLEAN NOT NULL DEFAULT FALSE,
    transcription BOOLEAN NOT NULL DEFAULT FALSE,
    script_id BIGINT REFERENCES scripts(id) ON DELETE SET NULL,
    affinity_window_days BIGINT NOT NULL DEFAULT 30,
    affinity_wait_seconds BIGINT NOT NULL DEFAULT 20,
    ring_timeout_seconds BIGINT NOT NULL DEFAULT 20,
    updated_at BIGINT NOT NULL
);

ALTER TABLE calls ADD COLUMN handled_at BIGINT;
ALTER TABLE calls ADD COLUMN handled_by BIGINT REFERENCES users(id) ON DELETE SET NULL;
CREATE INDEX calls_inbound_tray ON calls(client_id, direction, outcome, handled_at);
CREATE INDEX calls_contact_connected ON calls(client_id, contact_id, connected_at);
