-- Manual calls are recorded and transcribed when the client chooses it (issue 13); off by default.
ALTER TABLE recording_settings ADD COLUMN record_manual_calls BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE recording_settings ADD COLUMN transcribe_manual_calls BOOLEAN NOT NULL DEFAULT FALSE;
