-- Call scripts (issue 14): a client's scripts, their versions (a published version never changes;
-- editing makes a new draft), the script a campaign runs, and each call's run through the
-- version it ran (answers, acknowledgements with times).

CREATE TABLE scripts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX scripts_client_name ON scripts(client_id, name);

CREATE TABLE script_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    script_id INTEGER NOT NULL REFERENCES scripts(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    published_at INTEGER,
    created_at INTEGER NOT NULL,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    UNIQUE (script_id, version)
);

ALTER TABLE campaigns ADD COLUMN script_id INTEGER REFERENCES scripts(id) ON DELETE SET NULL;

CREATE TABLE script_runs (
    call_id INTEGER PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
    version_id INTEGER NOT NULL REFERENCES script_versions(id),
    run TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
