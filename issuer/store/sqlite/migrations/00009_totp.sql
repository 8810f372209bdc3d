-- TOTP (RFC 6238) second factor of console accounts. totp_sealed is the
-- shared secret sealed under the KEK (purpose "totp", bound to the account
-- ID), so a copy of the database alone does not give the second factor;
-- totp_enabled is set once the holder proved a code from it;
-- totp_last_step is the last 30-second step a code was accepted for, so a
-- code seen over a shoulder cannot be used again.

-- +goose Up
ALTER TABLE users ADD COLUMN totp_sealed BLOB;
ALTER TABLE users ADD COLUMN totp_enabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE users DROP COLUMN totp_last_step;
ALTER TABLE users DROP COLUMN totp_enabled;
ALTER TABLE users DROP COLUMN totp_sealed;
