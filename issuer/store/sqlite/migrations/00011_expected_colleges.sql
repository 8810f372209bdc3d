-- The colleges the authority expects to register (issue 13 point 16): the
-- denominators of the coverage dashboard. name_key is the name as compared
-- (issuer.CollegeNameKey), unique so a college is listed once; code is an
-- official code (学校标识码 or 统一社会信用代码), unique when given;
-- institution_id links a registered institution by hand ('' = matched by
-- code or name).

-- +goose Up
CREATE TABLE expected_colleges (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    city TEXT NOT NULL,
    code TEXT NOT NULL DEFAULT '',
    institution_id TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX expected_colleges_code ON expected_colleges (code) WHERE code <> '';

-- +goose Down
DROP TABLE expected_colleges;
