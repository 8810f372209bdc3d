-- The holder's side (issue 14).
--
-- holder_codes: a certificate's holder code is derived from the KEK, the
-- number and a generation (issuer/holder.go), so that the claim slip and the
-- console can show it again; a row exists once the code was reset (a later
-- generation, with the HMAC of the new code under a KEK-derived key: a
-- database dump alone cannot test guesses of it) or the holder claimed the
-- certificate. No row: generation 0, not claimed.
--
-- share_links: links a holder made to show one certificate. Only the
-- SHA-256 of the token is stored (the token has 128 random bits, so no slow
-- hash is needed). views and last_view_at are counted, never attributed.
--
-- holder_failures: failed holder sign-ins per key (a certificate "n:NUMBER"
-- or a client "c:ADDRESS-BLOCK") per day since 1970-01-01 UTC.

-- +goose Up
CREATE TABLE holder_codes (
    number     TEXT    PRIMARY KEY REFERENCES certificates (number),
    generation INTEGER NOT NULL DEFAULT 0,
    code_hash  TEXT    NOT NULL DEFAULT '',
    claimed_at TEXT
);
CREATE TABLE share_links (
    token_hash   TEXT    PRIMARY KEY,
    number       TEXT    NOT NULL REFERENCES certificates (number),
    label        TEXT    NOT NULL,
    reveal       TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    expires_at   TEXT    NOT NULL,
    ended_at     TEXT,
    views        INTEGER NOT NULL DEFAULT 0,
    last_view_at TEXT
);
CREATE INDEX share_links_number ON share_links (number);
CREATE TABLE holder_failures (
    key      TEXT    NOT NULL,
    day      INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    PRIMARY KEY (key, day)
);
CREATE INDEX holder_failures_day ON holder_failures (day);

-- +goose Down
DROP TABLE holder_failures;
DROP TABLE share_links;
DROP TABLE holder_codes;
