-- Dispositions of a client's calls outside campaigns (manual calls now, inbound calls next):
-- the same shape as a campaign's set. Calls keep the chosen label (calls.disposition), so a
-- replaced set never rewrites history. Every client starts with a default set.

CREATE TABLE client_dispositions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    effect TEXT NOT NULL,
    target_list_id INTEGER REFERENCES lists(id) ON DELETE SET NULL,
    position INTEGER NOT NULL
);
CREATE INDEX client_dispositions_client ON client_dispositions(client_id, position);

INSERT INTO client_dispositions (client_id, label, effect, position)
    SELECT id, 'Completed', 'final', 0 FROM clients;
INSERT INTO client_dispositions (client_id, label, effect, position)
    SELECT id, 'Call back', 'callback', 1 FROM clients;
INSERT INTO client_dispositions (client_id, label, effect, position)
    SELECT id, 'No answer', 'retry', 2 FROM clients;
INSERT INTO client_dispositions (client_id, label, effect, position)
    SELECT id, 'Do not call', 'dnc', 3 FROM clients;
