-- Failed confirmations are counted per client as well as per certificate
-- (issue 13 point 2): one client's wrong guesses must not lock a
-- certificate's name check for everyone. client is the public side's
-- hashed client key (never an address); the certificate's total for a day
-- is the sum of its rows. Today's counts carry over under the client ''.

-- +goose Up
ALTER TABLE failed_confirmations ADD COLUMN client text NOT NULL DEFAULT '';
ALTER TABLE failed_confirmations DROP CONSTRAINT failed_confirmations_pkey;
ALTER TABLE failed_confirmations ADD PRIMARY KEY (number, day, client);
ALTER TABLE failed_confirmations ALTER COLUMN client DROP DEFAULT;

-- +goose Down
DELETE FROM failed_confirmations f USING (
    SELECT number, day, SUM(failures) AS total, MIN(client) AS keep FROM failed_confirmations GROUP BY number, day
) s WHERE f.number = s.number AND f.day = s.day AND f.client <> s.keep;
ALTER TABLE failed_confirmations DROP CONSTRAINT failed_confirmations_pkey;
ALTER TABLE failed_confirmations DROP COLUMN client;
ALTER TABLE failed_confirmations ADD PRIMARY KEY (number, day);
