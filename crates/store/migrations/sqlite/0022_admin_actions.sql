-- The admin action log (issue 19): who changed which client, user, campaign, number, DNC entry or
-- setting, and when — every successful change staff made through the API or the pages.
CREATE TABLE admin_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor_id INTEGER,
    actor_email TEXT NOT NULL,
    client_id INTEGER,
    object TEXT NOT NULL,
    object_id TEXT,
    method TEXT NOT NULL,
    route TEXT NOT NULL,
    status INTEGER NOT NULL
);
CREATE INDEX admin_actions_client ON admin_actions(client_id, id);
