CREATE TABLE aliases (
    alias TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    creator TEXT NOT NULL
);
CREATE INDEX aliases_room ON aliases (room_id);
ALTER TABLE rooms ADD COLUMN published INTEGER NOT NULL DEFAULT 0;
