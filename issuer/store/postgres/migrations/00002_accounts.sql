-- Console accounts, API tokens and the sealed session-signing key.

-- +goose Up
CREATE TABLE users (
    id             text PRIMARY KEY,
    name           text NOT NULL UNIQUE,
    display_name   text NOT NULL,
    role           text NOT NULL CHECK (role IN ('authority_admin', 'college_admin', 'college_operator', 'auditor')),
    institution_id text REFERENCES institutions (id),
    password_hash  text NOT NULL,
    disabled       boolean NOT NULL DEFAULT false,
    failed_logins  integer NOT NULL DEFAULT 0,
    locked_until   timestamptz,
    session_gen    integer NOT NULL DEFAULT 1,
    must_change    boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    created_by     text NOT NULL,
    last_login_at  timestamptz
);
CREATE INDEX users_institution ON users (institution_id);

CREATE TABLE api_tokens (
    id           text PRIMARY KEY,
    user_id      text NOT NULL REFERENCES users (id),
    label        text NOT NULL,
    hash         text NOT NULL UNIQUE,
    scopes       text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE secrets (
    name       text PRIMARY KEY,
    value      bytea NOT NULL,
    created_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE secrets;
DROP TABLE api_tokens;
DROP TABLE users;
