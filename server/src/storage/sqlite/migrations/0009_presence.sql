CREATE TABLE presence (
    user_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    status_msg TEXT,
    last_active_ts INTEGER NOT NULL,
    stream INTEGER NOT NULL
);
CREATE INDEX presence_stream ON presence (stream);
