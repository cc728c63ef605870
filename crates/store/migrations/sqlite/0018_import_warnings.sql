-- Imports keep a contact whose optional field is not valid (issue 20): the field is left empty
-- and the row is listed here (line, field, reason) beside the job's rejections.
CREATE TABLE import_warnings (
    job_id BIGINT NOT NULL REFERENCES import_jobs(id) ON DELETE CASCADE,
    line BIGINT NOT NULL,
    field TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (job_id, line, field)
);
