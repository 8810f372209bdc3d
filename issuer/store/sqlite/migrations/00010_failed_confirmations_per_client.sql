-- Failed confirmations are counted per client as well as per certificate
-- (issue 13 point 2): one client's wrong guesses must not lock a
-- certificate's name check for everyone. client is the public side's
-- hashed client key (never an address); the certificate's total for a day
-- is the sum of its rows. Today's counts carry over under the client ''.

-- +goose Up
CREATE TABLE failed_confirmations_v2 (
    number   TEXT    NOT NULL REFERENCES certificates (number),
    day      INTEGER NOT NULL,
    client   TEXT    NOT NULL,
    failures INTEGER NOT NULL,
    PRIMARY KEY (number, day, client)
);
INSERT INTO failed_confirmations_v2 (number, day, client, failures) SELECT number, day, '', failures FROM failed_confirmations;
DROP TABLE failed_confirmations;
ALTER TABLE failed_confirmations_v2 RENAME TO failed_confirmations;
CREATE INDEX failed_confirmations_day ON failed_confirmations (day);

-- +goose Down
CREATE TABLE failed_confirmations_v1 (
    number   TEXT    NOT NULL REFERENCES certificates (number),
    day      INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    PRIMARY KEY (number, day)
);
INSERT INTO failed_confirmations_v1 (number, day, failures) SELECT number, day, SUM(failures) FROM failed_confirmations GROUP BY number, day;
DROP TABLE failed_confirmations;
ALTER TABLE failed_confirmations_v1 RENAME TO failed_confirmations;
CREATE INDEX failed_confirmations_day ON failed_confirmations (day);
