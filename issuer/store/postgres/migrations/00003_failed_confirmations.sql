-- Failed confirmations of a certificate's holder (a wrong name, or the right
-- name with a wrong ID number) per day, for the public side's cap on
-- guessing when no Redis is configured: a restart must not reset it. day is
-- days since 1970-01-01 UTC; rows of past days are deleted as new ones come.

-- +goose Up
CREATE TABLE failed_confirmations (
    number   text    NOT NULL REFERENCES certificates (number),
    day      bigint  NOT NULL,
    failures integer NOT NULL,
    PRIMARY KEY (number, day)
);
CREATE INDEX failed_confirmations_day ON failed_confirmations (day);

-- +goose Down
DROP TABLE failed_confirmations;
