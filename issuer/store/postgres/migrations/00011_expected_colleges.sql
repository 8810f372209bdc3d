-- The colleges the authority expects to register (issue 13 point 16): the
-- denominators of the coverage dashboard. name_key is the name as compared
-- (issuer.CollegeNameKey), unique so a college is listed once; code is an
-- official code (学校标识码 or 统一社会信用代码), unique when given;
-- institution_id links a registered institution by hand ('' = matched by
-- code or name).

-- +goose Up
CREATE TABLE expected_colleges (
    id text PRIMARY KEY,
    name text NOT NULL,
    name_key text NOT NULL UNIQUE,
    kind text NOT NULL,
    city text NOT NULL,
    code text NOT NULL DEFAULT '',
    institution_id text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX expected_colleges_code ON expected_colleges (code) WHERE code <> '';

-- +goose Down
DROP TABLE expected_colleges;
