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

CREATE TRIGGER calls_hours_insert AFTER INSERT ON calls BEGIN
    INSERT INTO call_hours (client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition, n, ring_ms, talk_ms, talked, hold_ms, wrap_ms, wrapped)
    VALUES (NEW.client_id, COALESCE(NEW.campaign_id, 0), NEW.placed_at / 3600000, NEW.direction, NEW.status, NEW.outcome, COALESCE(NEW.answered_by, ''), COALESCE(NEW.disposition, ''), 1, (CASE WHEN COALESCE(NEW.answered_at, NEW.ended_at) >= NEW.placed_at THEN COALESCE(NEW.answered_at, NEW.ended_at) - NEW.placed_at ELSE 0 END), (CASE WHEN NEW.ended_at >= NEW.connected_at THEN NEW.ended_at - NEW.connected_at ELSE 0 END), (CASE WHEN NEW.connected_at IS NOT NULL AND NEW.ended_at IS NOT NULL THEN 1 ELSE 0 END), (NEW.hold_ms + CASE WHEN NEW.ended_at >= NEW.hold_since THEN NEW.ended_at - NEW.hold_since ELSE 0 END), (CASE WHEN NEW.disposed_at >= NEW.ended_at THEN NEW.disposed_at - NEW.ended_at ELSE 0 END), (CASE WHEN NEW.disposed_at IS NOT NULL AND NEW.ended_at IS NOT NULL THEN 1 ELSE 0 END))
    ON CONFLICT (client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition) DO UPDATE SET n = call_hours.n + excluded.n, ring_ms = call_hours.ring_ms + excluded.ring_ms, talk_ms = call_hours.talk_ms + excluded.talk_ms, talked = call_hours.talked + excluded.talked, hold_ms = call_hours.hold_ms + excluded.hold_ms, wrap_ms = call_hours.wrap_ms + excluded.wrap_ms, wrapped = call_hours.wrapped + excluded.wrapped;
END;
CREATE TRIGGER calls_hours_delete AFTER DELETE ON calls BEGIN
    INSERT INTO call_hours (client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition, n, ring_ms, talk_ms, talked, hold_ms, wrap_ms, wrapped)
    VALUES (OLD.client_id, COALESCE(OLD.campaign_id, 0), OLD.placed_at / 3600000, OLD.direction, OLD.status, OLD.outcome, COALESCE(OLD.answered_by, ''), COALESCE(OLD.disposition, ''), -1, -(CASE WHEN COALESCE(OLD.answered_at, OLD.ended_at) >= OLD.placed_at THEN COALESCE(OLD.answered_at, OLD.ended_at) - OLD.placed_at ELSE 0 END), -(CASE WHEN OLD.ended_at >= OLD.connected_at THEN OLD.ended_at - OLD.connected_at ELSE 0 END), -(CASE WHEN OLD.connected_at IS NOT NULL AND OLD.ended_at IS NOT NULL THEN 1 ELSE 0 END), -(OLD.hold_ms + CASE WHEN OLD.ended_at >= OLD.hold_since THEN OLD.ended_at - OLD.hold_since ELSE 0 END), -(CASE WHEN OLD.disposed_at >= OLD.ended_at THEN OLD.disposed_at - OLD.ended_at ELSE 0 END), -(CASE WHEN OLD.disposed_at IS NOT NULL AND OLD.ended_at IS NOT NULL THEN 1 ELSE 0 END))
    ON CONFLICT (client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition) DO UPDATE SET n = call_hours.n + excluded.n, ring_ms = call_hours.ring_ms + excluded.ring_ms, talk_ms = call_hours.talk_ms + excluded.talk_ms, talked = call_hours.talked + excluded.talked, hold_ms = call_hours.hold_ms + excluded.hold_ms, wrap_ms = call_hours.wrap_ms + excluded.wrap_ms, wrapped = call_hours.wrapped + excluded.wrapped;
END;
CREATE TRIGGER calls_hours_update AFTER UPDATE OF client_id, campaign_id, direction, status, outcome, answered_by, placed_at, answered_at, connected_at, ended_at, disposition, hold_ms, hold_since, disposed_at ON calls BEGIN
    INSERT INTO call_hours (client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition, n, ring_ms, talk_ms, talked, hold_ms, wrap_ms, wrapped)
    VALUES (OLD.client_id, COALESCE(OLD.campaign_id, 0), OLD.placed_at / 3600000, OLD.direction, OLD.status, OLD.outcome, COALESCE(OLD.answered_by, ''), COALESCE(OLD.disposition, ''), -1, -(CASE WHEN COALESCE(OLD.answered_at, OLD.ended_at) >= OLD.placed_at THEN COALESCE(OLD.answered_at, OLD.ended_at) - OLD.placed_at ELSE 0 END), -(CASE WHEN OLD.ended_at >= OLD.connected_at THEN OLD.ended_at - OLD.connected_at ELSE 0 END), -(CASE WHEN OLD.connected_at IS NOT NULL AND OLD.ended_at IS NOT NULL THEN 1 ELSE 0 END), -(OLD.hold_ms + CASE WHEN OLD.ended_at >= OLD.hold_since THEN OLD.ended_at - OLD.hold_since ELSE 0 END), -(CASE WHEN OLD.disposed_at >= OLD.ended_at THEN OLD.disposed_at - OLD.ended_at ELSE 0 END), -(CASE WHEN OLD.disposed_at IS NOT NULL AND OLD.ended_at IS NOT NULL THEN 1 ELSE 0 END))
    ON CONFLICT (client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition) DO UPDATE SET n = call_hours.n + excluded.n, ring_ms = call_hours.ring_ms + excluded.ring_ms, talk_ms = call_hours.talk_ms + excluded.talk_ms, talked = call_hours.talked + excluded.talked, hold_ms = call_hours.hold_ms + excluded.hold_ms, wrap_ms = call_hours.wrap_ms + excluded.wrap_ms, wrapped = call_hours.wrapped + excluded.wrapped;
    INSERT INTO call_hours (client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition, n, ring_ms, talk_ms, talked, hold_ms, wrap_ms, wrapped)
    VALUES (NEW.client_id, COALESCE(NEW.campaign_id, 0), NEW.placed_at / 3600000, NEW.direction, NEW.status, NEW.outcome, COALESCE(NEW.answered_by, ''), COALESCE(NEW.disposition, ''), 1, (CASE WHEN COALESCE(NEW.answered_at, NEW.ended_at) >= NEW.placed_at THEN COALESCE(NEW.answered_at, NEW.ended_at) - NEW.placed_at ELSE 0 END), (CASE WHEN NEW.ended_at >= NEW.connected_at THEN NEW.ended_at - NEW.connected_at ELSE 0 END), (CASE WHEN NEW.connected_at IS NOT NULL AND NEW.ended_at IS NOT NULL THEN 1 ELSE 0 END), (NEW.hold_ms + CASE WHEN NEW.ended_at >= NEW.hold_since THEN NEW.ended_at - NEW.hold_since ELSE 0 END), (CASE WHEN NEW.disposed_at >= NEW.ended_at THEN NEW.disposed_at - NEW.ended_at ELSE 0 END), (CASE WHEN NEW.disposed_at IS NOT NULL AND NEW.ended_at IS NOT NULL THEN 1 ELSE 0 END))
    ON CONFLICT (client_id, campaign_id, hour, direction, status, outcome, answered_by, disposition) DO UPDATE SET n = call_hours.n + excluded.n, ring_ms = call_hours.ring_ms + excluded.ring_ms, talk_ms = call_hours.talk_ms + excluded.talk_ms, talked = call_hours.talked + excluded.talked, hold_ms = call_hours.hold_ms + excluded.hold_ms, wrap_ms = call_hours.wrap_ms + excluded.wrap_ms, wrapped = call_hours.wrapped + excluded.wrapped;
END;
