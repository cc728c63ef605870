CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    settings TEXT NOT NULL,
    caller_id TEXT NOT NULL,
    voicemail_url TEXT,
    hold_music_url TEXT,
    recording INTEGER NOT NULL,
    transcription INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX campaigns_client ON campaigns(client_id);

CREATE TABLE campaign_lists (
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    PRIMARY KEY (campaign_id, list_id)
);

CREATE TABLE campaign_agents (
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (campaign_id, user_id)
);
CREATE INDEX campaign_agents_user ON campaign_agents(user_id);

CREATE TABLE dispositions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    effect TEXT NOT NULL,
    target_list_id INTEGER REFERENCES lists(id) ON DELETE SET NULL,
    position INTEGER NOT NULL
);
CREATE INDEX dispositions_campaign ON dispositions(campaign_id);

CREATE TABLE campaign_audio (
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    content_type TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (campaign_id, kind)
);

CREATE TABLE calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    campaign_id INTEGER REFERENCES campaigns(id) ON DELETE SET NULL,
    contact_id INTEGER REFERENCES contacts(id) ON DELETE SET NULL,
    agent_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    direction TEXT NOT NULL,
    phone TEXT NOT NULL,
    carrier_sid TEXT,
    status TEXT NOT NULL,
    outcome TEXT NOT NULL,
    answered_by TEXT,
    placed_at INTEGER NOT NULL,
    answered_at INTEGER,
    connected_at INTEGER,
    ended_at INTEGER,
    disposition_id INTEGER REFERENCES dispositions(id) ON DELETE SET NULL,
    disposition TEXT,
    notes TEXT NOT NULL
);
CREATE INDEX calls_campaign_placed ON calls(campaign_id, placed_at);
CREATE INDEX calls_open ON calls(ended_at);
CREATE INDEX calls_carrier_sid ON calls(carrier_sid);

CREATE TABLE campaign_contacts (
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    phone TEXT NOT NULL,
    time_zone TEXT,
    name TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    status TEXT NOT NULL,
    next_due_at INTEGER NOT NULL,
    last_cycle TEXT,
    holder_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    in_flight_call_id INTEGER REFERENCES calls(id) ON DELETE SET NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, contact_id)
);
CREATE INDEX campaign_contacts_due ON campaign_contacts(campaign_id, status, next_due_at);

CREATE TABLE call_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX call_events_call ON call_events(call_id);
