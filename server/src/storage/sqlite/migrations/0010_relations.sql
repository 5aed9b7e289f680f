CREATE TABLE relations (
    event_id TEXT PRIMARY KEY,
    relates_to TEXT NOT NULL,
    rel_type TEXT NOT NULL,
    event_type TEXT NOT NULL,
    stream INTEGER NOT NULL
);
CREATE INDEX relations_parent ON relations (relates_to, stream);
