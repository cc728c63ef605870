-- Per-list contact counts, kept by triggers in the same transaction as every insert, move and
-- delete of a contact (so the pipeline view reads a few rows instead of counting 1M), and the
-- saved upload of an API import job (so a job a stopped server left unfinished is resumed).
-- No foreign key to lists: a row may outlive its list (ids are never reused) and is ignored.

CREATE TABLE list_counts (
    list_id INTEGER PRIMARY KEY,
    contacts INTEGER NOT NULL DEFAULT 0
);

INSERT INTO list_counts (list_id, contacts)
    SELECT list_id, COUNT(*) FROM contacts WHERE list_id IS NOT NULL GROUP BY list_id;

CREATE TRIGGER contacts_count_insert AFTER INSERT ON contacts
WHEN NEW.list_id IS NOT NULL
BEGIN
    INSERT INTO list_counts (list_id, contacts) VALUES (NEW.list_id, 1)
        ON CONFLICT (list_id) DO UPDATE SET contacts = contacts + 1;
END;

CREATE TRIGGER contacts_count_delete AFTER DELETE ON contacts
WHEN OLD.list_id IS NOT NULL
BEGIN
    UPDATE list_counts SET contacts = contacts - 1 WHERE list_id = OLD.list_id;
END;

CREATE TRIGGER contacts_count_move AFTER UPDATE OF list_id ON contacts
WHEN OLD.list_id IS NOT NEW.list_id
BEGIN
    UPDATE list_counts SET contacts = contacts - 1 WHERE list_id = OLD.list_id;
    INSERT INTO list_counts (list_id, contacts) SELECT NEW.list_id, 1 WHERE NEW.list_id IS NOT NULL
        ON CONFLICT (list_id) DO UPDATE SET contacts = contacts + 1;
END;

ALTER TABLE import_jobs ADD COLUMN upload_path TEXT;
