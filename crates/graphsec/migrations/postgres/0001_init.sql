-- PostgreSQL schema; the same tables as the SQLite one. Kept to DDL that CockroachDB and
-- YugabyteDB also accept: plain CREATE TABLE / CREATE INDEX, TEXT, BIGINT, JSONB, composite
-- primary keys; no DO blocks, sequences, triggers or extensions. On CockroachDB the column
-- clauses COLLATE "C" are left out when migrating (it compares strings byte-wise anyway and does
-- not take them on columns).
--
-- `wire` holds the canonical JSON exactly as it is sent (JSONB would reorder members), `doc` the
-- same document as JSONB for filters. Text compares byte-wise (COLLATE "C"), as OData and the
-- SQLite store do.
CREATE TABLE IF NOT EXISTS profiles (
    tenant TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    user_principal_name TEXT COLLATE "C",
    display_name TEXT COLLATE "C",
    risk_score TEXT COLLATE "C",
    azure_subscription_id TEXT COLLATE "C",
    created_date_time TEXT COLLATE "C",
    last_modified_date_time TEXT COLLATE "C",
    doc JSONB NOT NULL,
    wire TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);

CREATE INDEX IF NOT EXISTS profiles_upn ON profiles (tenant, user_principal_name, id);
CREATE INDEX IF NOT EXISTS profiles_display_name ON profiles (tenant, display_name, id);
CREATE INDEX IF NOT EXISTS profiles_risk_score ON profiles (tenant, risk_score, id);
CREATE INDEX IF NOT EXISTS profiles_created ON profiles (tenant, created_date_time, id);
CREATE INDEX IF NOT EXISTS profiles_last_modified ON profiles (tenant, last_modified_date_time, id);
CREATE INDEX IF NOT EXISTS profiles_id ON profiles (id, tenant);

CREATE TABLE IF NOT EXISTS profile_tags (
    tenant TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    pos BIGINT NOT NULL,
    tag TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, id, pos)
);
CREATE INDEX IF NOT EXISTS profile_tags_tag ON profile_tags (tenant, tag, id);

CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
