-- The audit trail: one row per successful create, update and delete, written in the same
-- transaction as the change itself, so an acknowledged write always has its audit row.
CREATE TABLE IF NOT EXISTS audit_log (
    id TEXT NOT NULL PRIMARY KEY,
    at TEXT COLLATE "C" NOT NULL,
    tenant TEXT COLLATE "C" NOT NULL,
    caller TEXT NOT NULL,
    app TEXT NOT NULL,
    request_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    profile_id TEXT COLLATE "C" NOT NULL,
    changed TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at, id);
CREATE INDEX IF NOT EXISTS audit_log_tenant_at ON audit_log (tenant, at, id);
