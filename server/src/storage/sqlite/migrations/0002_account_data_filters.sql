ALTER TABLE users ADD COLUMN avatar_url TEXT;
CREATE TABLE account_data (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL DEFAULT '',
    event_type TEXT NOT NULL,
    content TEXT NOT NULL,
    stream INTEGER NOT NULL,
    PRIMARY KEY (user_id, room_id, event_type)
);
CREATE INDEX account_data_stream ON account_data (user_id, stream);
CREATE TABLE filters (
    filter_id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    filter_json TEXT NOT NULL
);
