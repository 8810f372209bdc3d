-- Verification receipts (核验回执, issue 13 point 9): what the public side
-- recorded of a check, looked up again by its reference. ref is random
-- (100 bits); body is the public side's JSON, with no more personal data
-- than the public page shows (masked name, no ID number) and, for a batch,
-- per row only the number, the conclusion and whether the holder matched.
-- Receipts expire (the public side keeps them 5 years); expired rows are
-- deleted as new ones are added, by the index on expires_at.

-- +goose Up
CREATE TABLE receipts (
    ref        text PRIMARY KEY,
    kind       text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    body       bytea NOT NULL
);
CREATE INDEX receipts_expires_at ON receipts (expires_at);

-- +goose Down
DROP TABLE receipts;
