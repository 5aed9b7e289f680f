-- One-time keys remember their upload order (claims hand out the oldest first; key IDs
-- are base64 and do not sort by age). Server-side key backups: versions per user
-- (numbers never reused; deleted ones stay as tombstones) and the keys of each.
ALTER TABLE one_time_keys ADD COLUMN upload_seq INTEGER NOT NULL DEFAULT 0;
UPDATE one_time_keys SET upload_seq = rowid;
DROP INDEX one_time_keys_algorithm;
CREATE INDEX one_time_keys_age ON one_time_keys (user_id, device_id, algorithm, upload_seq);
CREATE TABLE backup_versions (
    user_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    algorithm TEXT NOT NULL,
    auth_data TEXT NOT NULL,
    etag INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, version)
);
CREATE TABLE backup_keys (
    user_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    room_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    first_message_index INTEGER NOT NULL,
    forwarded_count INTEGER NOT NULL,
    is_verified INTEGER NOT NULL,
    session_data TEXT NOT NULL,
    PRIMARY KEY (user_id, version, room_id, session_id)
);
