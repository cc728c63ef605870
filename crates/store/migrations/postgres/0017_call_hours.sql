-- Reports over millions of calls (issue 15). Each call's hold time and first disposition are kept on
-- its row by triggers on call_events (hold / resume / disposition), so no report replays the events.
-- call_hours adds up the calls per client, campaign (0: none), UTC hour of placing and the columns a
-- tally groups by, kept by triggers on calls in the same transaction as every insert, update and
-- delete: a report reads whole hours here and only the partial hours at the edges of its range from
-- calls, so its figures equal a tally of the calls themselves. Rows whose count falls to 0 stay
-- (with every sum 0) and are skipped by readers.
ALTER TABLE calls ADD COLUMN hold_ms BIGINT NOT NULL DEFAULT 0;
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

INSERT INTO call_hours (client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition, n, ring_ms, talk_ms, talked, hold_ms, wrap_ms, wrapped)
    SELECT c.client_id, COALESCE(c.campaign_id, 0), c.placed_at / 3600000, c.direction, c.status, c.outcome, COALESCE(c.answered_by, ''), COALESCE(c.disposition, ''),
        SUM(1), SUM((CASE WHEN COALESCE(c.answered_at, c.ended_at) >= c.placed_at THEN COALESCE(c.answered_at, c.ended_at) - c.placed_at ELSE 0 END)), SUM((CASE WHEN c.ended_at >= c.connected_at THEN c.ended_at - c.connected_at ELSE 0 END)), SUM((CASE WHEN c.connected_at IS NOT NULL AND c.ended_at IS NOT NULL THEN 1 ELSE 0 END)), SUM((c.hold_ms + CASE WHEN c.ended_at >= c.hold_since THEN c.ended_at - c.hold_since ELSE 0 END)), SUM((CASE WHEN c.disposed_at >= c.ended_at THEN c.disposed_at - c.ended_at ELSE 0 END)), SUM((CASE WHEN c.disposed_at IS NOT NULL AND c.ended_at IS NOT NULL THEN 1 ELSE 0 END))
    FROM calls c
    GROUP BY c.client_id, COALESCE(c.campaign_id, 0), c.placed_at / 3600000, c.direction, c.status, c.outcome, COALESCE(c.answered_by, ''), COALESCE(c.disposition, '');

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

-- Statement triggers add up each statement's changes per key and apply them in key order, so two
-- transactions lock call_hours rows in the same order.
CREATE FUNCTION call_hours_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO call_hours (client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition, n, ring_ms, talk_ms, talked, hold_ms, wrap_ms, wrapped)
            SELECT client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition, SUM(n), SUM(ring_ms), SUM(talk_ms), SUM(talked), SUM(hold_ms), SUM(wrap_ms), SUM(wrapped) FROM (
                SELECT nr.client_id AS client_id, COALESCE(nr.campaign_id, 0) AS campaign_id, nr.placed_at / 3600000 AS hour, nr.direction AS direction, nr.status AS status, nr.outcome AS outcome, COALESCE(nr.answered_by, '') AS answered_by, COALESCE(nr.disposition, '') AS disposition, 1 AS n, (CASE WHEN COALESCE(nr.answered_at, nr.ended_at) >= nr.placed_at THEN COALESCE(nr.answered_at, nr.ended_at) - nr.placed_at ELSE 0 END) AS ring_ms, (CASE WHEN nr.ended_at >= nr.connected_at THEN nr.ended_at - nr.connected_at ELSE 0 END) AS talk_ms, (CASE WHEN nr.connected_at IS NOT NULL AND nr.ended_at IS NOT NULL THEN 1 ELSE 0 END) AS talked, (nr.hold_ms + CASE WHEN nr.ended_at >= nr.hold_since THEN nr.ended_at - nr.hold_since ELSE 0 END) AS hold_ms, (CASE WHEN nr.disposed_at >= nr.ended_at THEN nr.disposed_at - nr.ended_at ELSE 0 END) AS wrap_ms, (CASE WHEN nr.disposed_at IS NOT NULL AND nr.ended_at IS NOT NULL THEN 1 ELSE 0 END) AS wrapped FROM new_rows nr
            ) d
            GROUP BY client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition
            HAVING SUM(n) <> 0 OR SUM(ring_ms) <> 0 OR SUM(talk_ms) <> 0 OR SUM(talked) <> 0 OR SUM(hold_ms) <> 0 OR SUM(wrap_ms) <> 0 OR SUM(wrapped) <> 0
            ORDER BY client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition
            ON CONFLICT (client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition) DO UPDATE SET n = call_hours.n + excluded.n, ring_ms = call_hours.ring_ms + excluded.ring_ms, talk_ms = call_hours.talk_ms + excluded.talk_ms, talked = call_hours.talked + excluded.talked, hold_ms = call_hours.hold_ms + excluded.hold_ms, wrap_ms = call_hours.wrap_ms + excluded.wrap_ms, wrapped = call_hours.wrapped + excluded.wrapped;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO call_hours (client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition, n, ring_ms, talk_ms, talked, hold_ms, wrap_ms, wrapped)
            SELECT client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition, SUM(n), SUM(ring_ms), SUM(talk_ms), SUM(talked), SUM(hold_ms), SUM(wrap_ms), SUM(wrapped) FROM (
                SELECT orow.client_id AS client_id, COALESCE(orow.campaign_id, 0) AS campaign_id, orow.placed_at / 3600000 AS hour, orow.direction AS direction, orow.status AS status, orow.outcome AS outcome, COALESCE(orow.answered_by, '') AS answered_by, COALESCE(orow.disposition, '') AS disposition, -1 AS n, -(CASE WHEN COALESCE(orow.answered_at, orow.ended_at) >= orow.placed_at THEN COALESCE(orow.answered_at, orow.ended_at) - orow.placed_at ELSE 0 END) AS ring_ms, -(CASE WHEN orow.ended_at >= orow.connected_at THEN orow.ended_at - orow.connected_at ELSE 0 END) AS talk_ms, -(CASE WHEN orow.connected_at IS NOT NULL AND orow.ended_at IS NOT NULL THEN 1 ELSE 0 END) AS talked, -(orow.hold_ms + CASE WHEN orow.ended_at >= orow.hold_since THEN orow.ended_at - orow.hold_since ELSE 0 END) AS hold_ms, -(CASE WHEN orow.disposed_at >= orow.ended_at THEN orow.disposed_at - orow.ended_at ELSE 0 END) AS wrap_ms, -(CASE WHEN orow.disposed_at IS NOT NULL AND orow.ended_at IS NOT NULL THEN 1 ELSE 0 END) AS wrapped FROM old_rows orow
            ) d
            GROUP BY client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition
            HAVING SUM(n) <> 0 OR SUM(ring_ms) <> 0 OR SUM(talk_ms) <> 0 OR SUM(talked) <> 0 OR SUM(hold_ms) <> 0 OR SUM(wrap_ms) <> 0 OR SUM(wrapped) <> 0
            ORDER BY client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition
            ON CONFLICT (client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition) DO UPDATE SET n = call_hours.n + excluded.n, ring_ms = call_hours.ring_ms + excluded.ring_ms, talk_ms = call_hours.talk_ms + excluded.talk_ms, talked = call_hours.talked + excluded.talked, hold_ms = call_hours.hold_ms + excluded.hold_ms, wrap_ms = call_hours.wrap_ms + excluded.wrap_ms, wrapped = call_hours.wrapped + excluded.wrapped;
    ELSE
        INSERT INTO call_hours (client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition, n, ring_ms, talk_ms, talked, hold_ms, wrap_ms, wrapped)
            SELECT client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition, SUM(n), SUM(ring_ms), SUM(talk_ms), SUM(talked), SUM(hold_ms), SUM(wrap_ms), SUM(wrapped) FROM (
                SELECT nr.client_id AS client_id, COALESCE(nr.campaign_id, 0) AS campaign_id, nr.placed_at / 3600000 AS hour, nr.direction AS direction, nr.status AS status, nr.outcome AS outcome, COALESCE(nr.answered_by, '') AS answered_by, COALESCE(nr.disposition, '') AS disposition, 1 AS n, (CASE WHEN COALESCE(nr.answered_at, nr.ended_at) >= nr.placed_at THEN COALESCE(nr.answered_at, nr.ended_at) - nr.placed_at ELSE 0 END) AS ring_ms, (CASE WHEN nr.ended_at >= nr.connected_at THEN nr.ended_at - nr.connected_at ELSE 0 END) AS talk_ms, (CASE WHEN nr.connected_at IS NOT NULL AND nr.ended_at IS NOT NULL THEN 1 ELSE 0 END) AS talked, (nr.hold_ms + CASE WHEN nr.ended_at >= nr.hold_since THEN nr.ended_at - nr.hold_since ELSE 0 END) AS hold_ms, (CASE WHEN nr.disposed_at >= nr.ended_at THEN nr.disposed_at - nr.ended_at ELSE 0 END) AS wrap_ms, (CASE WHEN nr.disposed_at IS NOT NULL AND nr.ended_at IS NOT NULL THEN 1 ELSE 0 END) AS wrapped FROM new_rows nr
                UNION ALL
                SELECT orow.client_id AS client_id, COALESCE(orow.campaign_id, 0) AS campaign_id, orow.placed_at / 3600000 AS hour, orow.direction AS direction, orow.status AS status, orow.outcome AS outcome, COALESCE(orow.answered_by, '') AS answered_by, COALESCE(orow.disposition, '') AS disposition, -1 AS n, -(CASE WHEN COALESCE(orow.answered_at, orow.ended_at) >= orow.placed_at THEN COALESCE(orow.answered_at, orow.ended_at) - orow.placed_at ELSE 0 END) AS ring_ms, -(CASE WHEN orow.ended_at >= orow.connected_at THEN orow.ended_at - orow.connected_at ELSE 0 END) AS talk_ms, -(CASE WHEN orow.connected_at IS NOT NULL AND orow.ended_at IS NOT NULL THEN 1 ELSE 0 END) AS talked, -(orow.hold_ms + CASE WHEN orow.ended_at >= orow.hold_since THEN orow.ended_at - orow.hold_since ELSE 0 END) AS hold_ms, -(CASE WHEN orow.disposed_at >= orow.ended_at THEN orow.disposed_at - orow.ended_at ELSE 0 END) AS wrap_ms, -(CASE WHEN orow.disposed_at IS NOT NULL AND orow.ended_at IS NOT NULL THEN 1 ELSE 0 END) AS wrapped FROM old_rows orow
            ) d
            GROUP BY client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition
            HAVING SUM(n) <> 0 OR SUM(ring_ms) <> 0 OR SUM(talk_ms) <> 0 OR SUM(talked) <> 0 OR SUM(hold_ms) <> 0 OR SUM(wrap_ms) <> 0 OR SUM(wrapped) <> 0
            ORDER BY client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition
            ON CONFLICT (client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition) DO UPDATE SET n = call_hours.n + excluded.n, ring_ms = call_hours.ring_ms + excluded.ring_ms, talk_ms = call_hours.talk_ms + excluded.talk_ms, talked = call_hours.talked + excluded.talked, hold_ms = call_hours.hold_ms + excluded.hold_ms, wrap_ms = call_hours.wrap_ms + excluded.wrap_ms, wrapped = call_hours.wrapped + excluded.wrapped;
    END IF;
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
