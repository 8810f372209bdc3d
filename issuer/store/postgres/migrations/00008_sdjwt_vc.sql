-- The holder's credential: an SD-JWT VC (RFC 9901, typ dc+sd-jwt) signed by
-- the same institution key as the record, with every disclosure, in the
-- compact serialisation. NULL for certificates issued before it existed:
-- theirs is made on the holder's first request and set once, never changed.

-- +goose Up
ALTER TABLE certificates ADD COLUMN credential TEXT;

-- +goose Down
ALTER TABLE certificates DROP COLUMN credential;
