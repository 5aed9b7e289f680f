CREATE TABLE media (
    media_id TEXT PRIMARY KEY,
    uploader TEXT NOT NULL,
    content_type TEXT,
    filename TEXT,
    size INTEGER,
    sha256 TEXT,
    created_ts INTEGER NOT NULL,
    expires_ts INTEGER
);
CREATE INDEX media_pending ON media (uploader, expires_ts) WHERE sha256 IS NULL;
