-- Reports (issue 15): the call log pages a client's calls by placing instant (keyset on
-- placed_at, id) and an agent's activity reads the agent's calls by placing instant.
CREATE INDEX calls_client_placed ON calls(client_id, placed_at, id);
CREATE INDEX calls_agent_placed ON calls(agent_id, placed_at);
CREATE INDEX call_events_call_kind ON call_events(call_id, kind);
