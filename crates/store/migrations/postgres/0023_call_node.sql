-- The node that runs a manual or inbound call (issue 16): after a restart a node reconciles only
-- its own calls (campaign calls belong to the campaign's leader). '' = written before this
-- migration, reconciled by any node.
ALTER TABLE calls ADD COLUMN node TEXT NOT NULL DEFAULT '';
