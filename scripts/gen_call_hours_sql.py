#!/usr/bin/env python3
# Writes migration 17 (the call_hours rollup and its triggers) for both databases from one
# description of the rollup's keys and sums, so the SQLite and PostgreSQL texts stay in step.
# Usage: scripts/gen_call_hours_sql.py crates/store/migrations
KEYS = ["client_id", "campaign_id", "hour", "direction", "status", "outcome", "answered_by", "disposition"]
MEAS = ["n", "ring_ms", "talk_ms", "talked", "hold_ms", "wrap_ms", "wrapped"]

def key_exprs(r):
    return [f"{r}.client_id", f"COALESCE({r}.campaign_id, 0)", f"{r}.placed_at / 3600000", f"{r}.direction",
            f"{r}.status", f"{r}.outcome", f"COALESCE({r}.answered_by, '')", f"COALESCE({r}.disposition, '')"]

def meas_exprs(r, sign):
    s = "" if sign > 0 else "-"
    return [
        f"{s}1",
        f"{s}(CASE WHEN COALESCE({r}.answered_at, {r}.ended_at) >= {r}.placed_at THEN COALESCE({r}.answered_at, {r}.ended_at) - {r}.placed_at ELSE 0 END)",
        f"{s}(CASE WHEN {r}.ended_at >= {r}.connected_at THEN {r}.ended_at - {r}.connected_at ELSE 0 END)",
        f"{s}(CASE WHEN {r}.connected_at IS NOT NULL AND {r}.ended_at IS NOT NULL THEN 1 ELSE 0 END)",
        f"{s}({r}.hold_ms + CASE WHEN {r}.ended_at >= {r}.hold_since THEN {r}.ended_at - {r}.hold_since ELSE 0 END)",
        f"{s}(CASE WHEN {r}.disposed_at >= {r}.ended_at THEN {r}.disposed_at - {r}.ended_at ELSE 0 END)",
        f"{s}(CASE WHEN {r}.disposed_at IS NOT NULL AND {r}.ended_at IS NOT NULL THEN 1 ELSE 0 END)",
    ]

HEAD = """-- Reports over millions of calls (issue 15). Each call's hold time and first disposition are kept on
-- its row by triggers on call_events (hold / resume / disposition), so no report replays the events.
-- call_hours adds up the calls per client, campaign (0: none), UTC hour of placing and the columns a
-- tally groups by, kept by triggers on calls in the same transaction as every insert, update and
-- delete: a report reads whole hours here and only the partial hours at the edges of its range from
-- calls, so its figures equal a tally of the calls themselves. Rows whose count falls to 0 stay
-- (with every sum 0) and are skipped by readers.
"""

UPSERT_SET = ", ".join(f"{m} = call_hours.{m} + excluded.{m}" for m in MEAS)

def common_cols(t):
    return f"""ALTER TABLE calls ADD COLUMN hold_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN hold_since BIGINT;
ALTER TABLE calls ADD COLUMN disposed_at BIGINT;

-- Existing calls: closed holds (a resume after a hold), an open hold, the first disposition.
UPDATE calls SET hold_ms = COALESCE((
    SELECT SUM(CASE WHEN e.at >= e.prev_at THEN e.at - e.prev_at ELSE 0 END) FROM (
        SELECT kind, at, LAG(kind) OVER (ORDER BY id) AS prev_kind, LAG(at) OVER (ORDER BY id) AS prev_at
        FROM call_events WHERE call_id = calls.id AND kind IN ('hold', 'resume')
    ) e WHERE e.kind = 'resume' AND e.prev_kind = 'hold'), 0)
WHERE id IN (SELECT call_id FROM call_events WHERE kind = 'resume');
UPDATE calls SET hold_since = (
    SELECT CASE WHEN kind = 'hold' THEN at END FROM call_events
    WHERE call_id = calls.id AND kind IN ('hold', 'resume') ORDER BY id DESC LIMIT 1)
WHERE id IN (SELECT call_id FROM call_events WHERE kind = 'hold');
UPDATE calls SET disposed_at = (
    SELECT at FROM call_events WHERE call_id = calls.id AND kind = 'disposition' ORDER BY id LIMIT 1)
WHERE id IN (SELECT call_id FROM call_events WHERE kind = 'disposition');

CREATE TABLE call_hours (
    client_id BIGINT NOT NULL,
    campaign_id BIGINT NOT NULL,
    hour BIGINT NOT NULL,
    direction TEXT NOT NULL,
    status TEXT NOT NULL,
    outcome TEXT NOT NULL,
    answered_by TEXT NOT NULL,
    disposition TEXT NOT NULL,
    n BIGINT NOT NULL,
    ring_ms BIGINT NOT NULL,
    talk_ms BIGINT NOT NULL,
    talked BIGINT NOT NULL,
    hold_ms BIGINT NOT NULL,
    wrap_ms BIGINT NOT NULL,
    wrapped BIGINT NOT NULL,
    PRIMARY KEY (client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition)
);
CREATE INDEX call_hours_client_hour ON call_hours(client_id, hour);

INSERT INTO call_hours ({", ".join(KEYS + MEAS)})
    SELECT {", ".join(key_exprs("c"))},
        {", ".join(f"SUM({e})" for e in meas_exprs("c", 1))}
    FROM calls c
    GROUP BY {", ".join(key_exprs("c"))};
"""

def sqlite():
    out = HEAD + common_cols("sqlite")
    out += """
CREATE TRIGGER call_events_hold AFTER INSERT ON call_events WHEN NEW.kind = 'hold' BEGIN
    UPDATE calls SET hold_since = NEW.at WHERE id = NEW.call_id AND hold_since IS NULL;
END;
CREATE TRIGGER call_events_resume AFTER INSERT ON call_events WHEN NEW.kind = 'resume' BEGIN
    UPDATE calls SET hold_ms = hold_ms + MAX(NEW.at - hold_since, 0), hold_since = NULL
    WHERE id = NEW.call_id AND hold_since IS NOT NULL;
END;
CREATE TRIGGER call_events_disposition AFTER INSERT ON call_events WHEN NEW.kind = 'disposition' BEGIN
    UPDATE calls SET disposed_at = NEW.at WHERE id = NEW.call_id AND disposed_at IS NULL;
END;
"""
    def up(r, sign):
        return (f"    INSERT INTO call_hours ({', '.join(KEYS + MEAS)})\n"
                f"    VALUES ({', '.join(key_exprs(r) + meas_exprs(r, sign))})\n"
                f"    ON CONFLICT ({', '.join(KEYS)}) DO UPDATE SET {UPSERT_SET};\n")
    cols = "client_id, campaign_id, direction, status, outcome, answered_by, placed_at, answered_at, connected_at, ended_at, disposition, hold_ms, hold_since, disposed_at"
    out += "\nCREATE TRIGGER calls_hours_insert AFTER INSERT ON calls BEGIN\n" + up("NEW", 1) + "END;\n"
    out += "CREATE TRIGGER calls_hours_delete AFTER DELETE ON calls BEGIN\n" + up("OLD", -1) + "END;\n"
    out += f"CREATE TRIGGER calls_hours_update AFTER UPDATE OF {cols} ON calls BEGIN\n" + up("OLD", -1) + up("NEW", 1) + "END;\n"
    return out

def postgres():
    out = HEAD + common_cols("postgres")
    out += """
-- Every call write updates a row here: leave room on each page for the new version (HOT updates)
-- and let autovacuum come often, so the rollup stays compact between vacuums.
ALTER TABLE call_hours SET (fillfactor = 50, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05);

CREATE FUNCTION call_events_to_calls() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind = 'hold' THEN
        UPDATE calls SET hold_since = NEW.at WHERE id = NEW.call_id AND hold_since IS NULL;
    ELSIF NEW.kind = 'resume' THEN
        UPDATE calls SET hold_ms = hold_ms + GREATEST(NEW.at - hold_since, 0), hold_since = NULL
        WHERE id = NEW.call_id AND hold_since IS NOT NULL;
    ELSIF NEW.kind = 'disposition' THEN
        UPDATE calls SET disposed_at = NEW.at WHERE id = NEW.call_id AND disposed_at IS NULL;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER call_events_calls AFTER INSERT ON call_events
    FOR EACH ROW WHEN (NEW.kind IN ('hold', 'resume', 'disposition')) EXECUTE FUNCTION call_events_to_calls();
"""
    def sel(r, sign):
        table = 'new_rows' if r == 'NEW' else 'old_rows'
        r = 'nr' if r == 'NEW' else 'orow'
        ks = [f"{e} AS {k}" for k, e in zip(KEYS, key_exprs(r))]
        ms = [f"{e} AS {m}" for m, e in zip(MEAS, meas_exprs(r, sign))]
        return f"SELECT {', '.join(ks + ms)} FROM {table} {r}"
    def apply(parts):
        inner = "\n                UNION ALL\n                ".join(parts)
        return (f"        INSERT INTO call_hours ({', '.join(KEYS + MEAS)})\n"
                f"            SELECT {', '.join(KEYS)}, {', '.join(f'SUM({m})' for m in MEAS)} FROM (\n                {inner}\n            ) d\n"
                f"            GROUP BY {', '.join(KEYS)}\n"
                f"            HAVING {' OR '.join(f'SUM({m}) <> 0' for m in MEAS)}\n"
                f"            ORDER BY {', '.join(KEYS)}\n"
                f"            ON CONFLICT ({', '.join(KEYS)}) DO UPDATE SET {UPSERT_SET};\n")
    out += f"""
-- Statement triggers add up each statement's changes per key and apply them in key order, so two
-- transactions lock call_hours rows in the same order.
CREATE FUNCTION call_hours_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
{apply([sel('NEW', 1)])}    ELSIF TG_OP = 'DELETE' THEN
{apply([sel('OLD', -1)])}    ELSE
{apply([sel('NEW', 1), sel('OLD', -1)])}    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER calls_hours_insert AFTER INSERT ON calls
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION call_hours_add();
CREATE TRIGGER calls_hours_update AFTER UPDATE ON calls
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION call_hours_add();
CREATE TRIGGER calls_hours_delete AFTER DELETE ON calls
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION call_hours_add();
"""
    return out

import sys
base = sys.argv[1]
open(f"{base}/sqlite/0017_call_hours.sql", "w").write(sqlite())
open(f"{base}/postgres/0017_call_hours.sql", "w").write(postgres())
