-- Manual calls are recorded and transcribed when the client chooses it (issue 13); off by default.
ALTER TABLE recording_settings ADD COLUMN record_manual_calls INTEGER NOT NULL DEFAULT 0;
ALTER TABLE recording_settings ADD COLUMN transcribe_manual_calls INTEGER NOT NULL DEFAULT 0;
