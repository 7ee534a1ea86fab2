-- One row per userSecurityProfile. `doc` holds the canonical JSON entity exactly as it is sent on
-- the wire (declared members in CSDL order, explicit nulls, datetimes as 28-character UTC strings),
-- so reads pass it through without re-serialising. The scalar columns copy the declared members
-- users filter and sort on, so those run on indexes. Text compares byte-wise (BINARY collation),
-- which is OData's case-sensitive ordinal comparison.
CREATE TABLE profiles (
    tenant TEXT NOT NULL,                -- azureTenantId: the owning tenant
    id TEXT NOT NULL,
    version INTEGER NOT NULL,            -- ETag W/"<version>"; +1 on every write
    user_principal_name TEXT,
    display_name TEXT,
    risk_score TEXT,
    azure_subscription_id TEXT,
    created_date_time TEXT,              -- 'YYYY-MM-DDTHH:MM:SS.fffffffZ', sorts chronologically
    last_modified_date_time TEXT,
    doc TEXT NOT NULL
);
-- A rowid table: rows are about a kilobyte, too large for a WITHOUT ROWID b-tree to pack well.
CREATE UNIQUE INDEX profiles_key ON profiles (tenant, id);

CREATE INDEX profiles_upn ON profiles (tenant, user_principal_name, id);
CREATE INDEX profiles_display_name ON profiles (tenant, display_name, id);
CREATE INDEX profiles_risk_score ON profiles (tenant, risk_score, id);
CREATE INDEX profiles_created ON profiles (tenant, created_date_time, id);
CREATE INDEX profiles_last_modified ON profiles (tenant, last_modified_date_time, id);
-- Lookups by id alone (auth off sees every tenant).
CREATE INDEX profiles_id ON profiles (id, tenant);

-- tags, one row per element (duplicates kept, in order), so `tags/any(t: t eq 'X')` is indexed.
CREATE TABLE profile_tags (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    pos INTEGER NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (tenant, id, pos)
) WITHOUT ROWID;
CREATE INDEX profile_tags_tag ON profile_tags (tenant, tag, id);

-- Server-wide secrets and settings shared by every instance (e.g. the skiptoken MAC key).
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
