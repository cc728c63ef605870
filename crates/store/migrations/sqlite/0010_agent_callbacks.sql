-- Callbacks an agent promised (a callback disposition on a campaign or manual call): the agent's
-- own list on the desktop. The instant is stored in UTC with the zone it was set in, so the list
-- shows the contact's local time labelled with that zone.

CREATE TABLE agent_callbacks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    agent_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    campaign_id INTEGER REFERENCES campaigns(id) ON DELETE SET NULL,
    due_at BIGINT NOT NULL,
    time_zone TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX agent_callbacks_agent ON agent_callbacks(agent_id, due_at);
