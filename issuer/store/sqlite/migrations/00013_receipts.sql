-- Verification receipts (核验回执, issue 13 point 9): what the public side
-- recorded of a check, looked up again by its reference. ref is random
-- (100 bits); body is the public side's JSON, with no more personal data
-- than the public page shows (masked name, no ID number) and, for a batch,
-- per row only the number, the conclusion and whether the holder matched.
-- Receipts expire (the public side keeps them 5 years); expired rows are
-- deleted as new ones are added, by the index on expires_at.

-- +goose Up
CREATE TABLE receipts (
    ref        TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    body       BLOB NOT NULL
);
CREATE INDEX receipts_expires_at ON receipts (expires_at);

-- +goose Down
DROP TABLE receipts;
