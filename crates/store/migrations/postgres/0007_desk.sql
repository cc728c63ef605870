-- Agent desktop (issue 6): the campaign's script, and versioned call notes (a save wins only
-- if it was written on the latest version).

ALTER TABLE campaigns ADD COLUMN script_text TEXT NOT NULL DEFAULT '';
ALTER TABLE campaigns ADD COLUMN script_url TEXT;
ALTER TABLE calls ADD COLUMN notes_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN notes_updated_at BIGINT;
ALTER TABLE calls ADD COLUMN notes_user_id BIGINT REFERENCES users(id) ON DELETE SET NULL;
CREATE INDEX calls_contact ON calls(contact_id, id);
