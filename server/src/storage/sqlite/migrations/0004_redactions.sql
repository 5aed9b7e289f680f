ALTER TABLE events ADD COLUMN redacted_by TEXT;
