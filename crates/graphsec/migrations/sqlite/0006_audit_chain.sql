-- A profile's history is a chain rather than an index: every audit row names the previous row of
-- its (tenant, profile_id), and the newest row's seq is kept with the profile's row, which every
-- write rewrites anyway (or, once the row is gone, in audit_heads). An index over
-- (tenant, profile_id, ...) took an insert at a random place of a growing b-tree on every write.
--
-- The invariant: the newest seq of a (tenant, profile_id) with audit rows is in
-- profiles.audit_head when the profile has a row, else in audit_heads; links go strictly down.
ALTER TABLE audit_log ADD COLUMN prev INTEGER;       -- seq of the previous row of the same profile
ALTER TABLE profiles ADD COLUMN audit_head INTEGER;  -- seq of the profile's newest audit row
CREATE TABLE audit_heads (
    profile_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (profile_id, tenant)
) WITHOUT ROWID;

UPDATE audit_log SET prev = chain.prev FROM (
    SELECT seq, LAG(seq) OVER (PARTITION BY tenant, profile_id ORDER BY seq) AS prev FROM audit_log
) AS chain WHERE audit_log.seq = chain.seq AND chain.prev IS NOT NULL;
UPDATE profiles SET audit_head = heads.seq FROM (
    SELECT tenant, profile_id, max(seq) AS seq FROM audit_log GROUP BY tenant, profile_id
) AS heads WHERE profiles.tenant = heads.tenant AND profiles.id = heads.profile_id;
INSERT INTO audit_heads (profile_id, tenant, seq)
    SELECT profile_id, tenant, max(seq) FROM audit_log AS a GROUP BY tenant, profile_id
    HAVING NOT EXISTS (SELECT 1 FROM profiles AS p WHERE p.tenant = a.tenant AND p.id = a.profile_id);
DROP INDEX IF EXISTS audit_log_profile;
