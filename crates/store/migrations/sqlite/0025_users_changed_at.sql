-- When a user's row last changed (issue 16): the call engine reads only the users changed since
-- its last read (with an overlap for commits in flight and clocks of other nodes) instead of
-- every user of the installation every few seconds.
ALTER TABLE users ADD COLUMN changed_at INTEGER NOT NULL DEFAULT 0;
UPDATE users SET changed_at = MAX(created_at, voice_state_since);
CREATE INDEX users_changed ON users(changed_at);
