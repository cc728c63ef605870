-- The admin action log (issue 19): who changed which client, user, campaign, number, DNC entry or
-- setting, and when — every successful change staff made through the API or the pages.
CREATE TABLE admin_actions (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor_id BIGINT,
    actor_email TEXT NOT NULL,
    client_id BIGINT,
    object TEXT NOT NULL,
    object_id TEXT,
    method TEXT NOT NULL,
    route TEXT NOT NULL,
    status BIGINT NOT NULL
);
CREATE INDEX admin_actions_client ON admin_actions(client_id, id);
