-- Status lists (W3C Bitstring Status List): each certificate gets a random
-- free index in its institution's list when it is issued (status_index;
-- NULL for records issued before lists existed until they are given one),
-- and every signed version of a list is kept as it was published: a
-- versioned address serves the same bytes for ever.

-- +goose Up
ALTER TABLE certificates ADD COLUMN status_index integer;
CREATE UNIQUE INDEX certificates_status_index ON certificates (institution_id, status_index)
    WHERE status_index IS NOT NULL;

CREATE TABLE status_lists (
    institution_id text        NOT NULL REFERENCES institutions (id),
    version        integer     NOT NULL,
    valid_from     timestamptz NOT NULL,
    ttl_ms         bigint      NOT NULL,
    size           integer     NOT NULL,
    revoked        integer     NOT NULL,
    token          text        NOT NULL,
    PRIMARY KEY (institution_id, version)
);

-- +goose Down
DROP TABLE status_lists;
DROP INDEX certificates_status_index;
ALTER TABLE certificates DROP COLUMN status_index;
