-- Status lists are re-signed every half ttl even when no bit changed: kept
-- as versions, that was 288 rows (about 1.3 MB) per institution and day.
-- bits_digest names the bits a version carries (empty for versions made
-- before this migration) and resign marks a version whose bits equal its
-- predecessor's. A re-signing that follows a re-signing replaces it, so a
-- run of unchanged lists keeps only its first version (when the change was
-- published) and its latest.

-- +goose Up
ALTER TABLE status_lists ADD COLUMN bits_digest TEXT NOT NULL DEFAULT '';
ALTER TABLE status_lists ADD COLUMN resign BOOLEAN NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE status_lists DROP COLUMN resign;
ALTER TABLE status_lists DROP COLUMN bits_digest;
