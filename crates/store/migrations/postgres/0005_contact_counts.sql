-- Per-list contact counts, kept by statement triggers in the same transaction as every insert,
-- move and delete of contacts (so the pipeline view reads a few rows instead of counting 1M),
-- and the saved upload of an API import job (so a job a stopped server left unfinished is
-- resumed). The triggers add up each statement's changed rows per list and apply them in list
-- order, so two transactions lock count rows in the same order. No foreign key to lists: a row
-- may outlive its list (ids are never reused) and is ignored.

CREATE TABLE list_counts (
    list_id BIGINT PRIMARY KEY,
    contacts BIGINT NOT NULL DEFAULT 0
);

INSERT INTO list_counts (list_id, contacts)
    SELECT list_id, COUNT(*) FROM contacts WHERE list_id IS NOT NULL GROUP BY list_id;

CREATE FUNCTION list_counts_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO list_counts (list_id, contacts)
            SELECT list_id, COUNT(*) FROM new_rows WHERE list_id IS NOT NULL
            GROUP BY list_id ORDER BY list_id
            ON CONFLICT (list_id) DO UPDATE SET contacts = list_counts.contacts + excluded.contacts;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO list_counts (list_id, contacts)
            SELECT list_id, -COUNT(*) FROM old_rows WHERE list_id IS NOT NULL
            GROUP BY list_id ORDER BY list_id
            ON CONFLICT (list_id) DO UPDATE SET contacts = list_counts.contacts + excluded.contacts;
    ELSE
        INSERT INTO list_counts (list_id, contacts)
            SELECT list_id, SUM(d) FROM (
                SELECT list_id, 1 AS d FROM new_rows WHERE list_id IS NOT NULL
                UNION ALL
                SELECT list_id, -1 AS d FROM old_rows WHERE list_id IS NOT NULL
            ) moved
            GROUP BY list_id HAVING SUM(d) <> 0 ORDER BY list_id
            ON CONFLICT (list_id) DO UPDATE SET contacts = list_counts.contacts + excluded.contacts;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER contacts_count_insert AFTER INSERT ON contacts
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION list_counts_add();
CREATE TRIGGER contacts_count_update AFTER UPDATE ON contacts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION list_counts_add();
CREATE TRIGGER contacts_count_delete AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION list_counts_add();

ALTER TABLE import_jobs ADD COLUMN upload_path TEXT;
