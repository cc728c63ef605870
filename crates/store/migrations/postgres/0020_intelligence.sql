-- Post-call transcripts by the client's Twilio Conversational Intelligence service (issue 13):
-- the service's SID in the recording settings, and on each recording the transcript job asked
-- of Twilio and when it was asked (a job that does not finish is given up and asked again).
ALTER TABLE recording_settings ADD COLUMN intelligence_service_sid TEXT;
ALTER TABLE recordings ADD COLUMN transcript_job TEXT;
ALTER TABLE recordings ADD COLUMN transcript_job_at BIGINT;
