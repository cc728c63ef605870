-- Inbound calls (issue 17): each client's inbound settings, and who handled a missed call or a
-- voicemail in the desktop tray (inbound calls are `calls` rows with direction 'inbound' and the
-- outcomes answered, missed or voicemail).

CREATE TABLE inbound_settings (
    client_id INTEGER PRIMARY KEY REFERENCES clients(id) ON DELETE CASCADE,
    greeting TEXT NOT NULL DEFAULT '',
    hold_music_url TEXT,
    announce_position INTEGER NOT NULL DEFAULT 1,
    max_wait_seconds INTEGER NOT NULL DEFAULT 120,
    voicemail INTEGER NOT NULL DEFAULT 1,
    voicemail_prompt TEXT NOT NULL DEFAULT '',
    recording INTEGER NOT NULL DEFAULT 0,
    transcription INTEGER NOT NULL DEFAULT 0,
    script_id INTEGER REFERENCES scripts(id) ON DELETE SET NULL,
    affinity_window_days INTEGER NOT NULL DEFAULT 30,
    affinity_wait_seconds INTEGER NOT NULL DEFAULT 20,
    ring_timeout_seconds INTEGER NOT NULL DEFAULT 20,
    updated_at INTEGER NOT NULL
);

ALTER TABLE calls ADD COLUMN handled_at INTEGER;
ALTER TABLE calls ADD COLUMN handled_by INTEGER REFERENCES users(id) ON DELETE SET NULL;
CREATE INDEX calls_inbound_tray ON calls(client_id, direction, outcome, handled_at);
CREATE INDEX calls_contact_connected ON calls(client_id, contact_id, connected_at);
