-- A profile's history (GET /_graphsec/profiles/{id}/history) reads one profile's audit entries,
-- newest first, a page at a time: this index holds them together, in that order.
CREATE INDEX IF NOT EXISTS audit_log_profile ON audit_log (tenant, profile_id, at, id);
