-- Status lists (W3C Bitstring Status List): each certificate gets a random
-- free index in its institution's list when it is issued (status_index;
-- NULL for records issued before lists existed until they are given one),
-- and every signed version of a list is kept as it was published: a
-- versioned address serves the same bytes for ever.

-- +goose Up
ALTER TABLE certificates ADD COLUMN status_index INTEGER;
CREATE UNIQUE INDEX certificates_status_index ON certificates (institution_id, status_index)
    WHERE status_index IS NOT NULL;

CREATE TABLE status_lists (
    institution_id TEXT    NOT NULL REFERENCES institutions (id),
    version        INTEGER NOT NULL,
    valid_from     TEXT    NOT NULL,
    ttl_ms         INTEGER NOT NULL,
    size           INTEGER NOT NULL,
    revoked        INTEGER NOT NULL,
    token          TEXT    NOT NULL,
    PRIMARY KEY (institution_id, version)
);

-- +goose Down
DROP TABLE status_lists;
DROP INDEX certificates_status_index;
ALTER TABLE certificates DROP COLUMN status_index;
