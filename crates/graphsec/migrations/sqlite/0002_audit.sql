-- The audit trail: one row per successful create, update and delete, written in the same
-- transaction as the change itself, so an acknowledged write always has its audit row.
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,             -- append order
    id TEXT NOT NULL,                    -- random UUID
    at TEXT NOT NULL,                    -- 'YYYY-MM-DDTHH:MM:SS.fffffffZ'
    tenant TEXT NOT NULL,
    caller TEXT NOT NULL,                -- oid / sub of the token, or 'anonymous' with auth off
    app TEXT NOT NULL,                   -- appid / azp
    request_id TEXT NOT NULL,
    operation TEXT NOT NULL,             -- create | update | delete
    profile_id TEXT NOT NULL,
    changed TEXT NOT NULL                -- JSON array of the property names the request set
);
CREATE INDEX audit_log_tenant_at ON audit_log (tenant, at, id);
