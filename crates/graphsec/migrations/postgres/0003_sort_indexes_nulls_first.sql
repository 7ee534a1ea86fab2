-- OData sorts nulls first in ascending order; PostgreSQL's indexes default to NULLS LAST, which
-- would make every ordered page sort the whole tenant. Rebuild the sort indexes NULLS FIRST.
-- Skipped on CockroachDB, whose ascending indexes already put NULLs first (and whose CREATE INDEX
-- takes no NULLS clause).
DROP INDEX IF EXISTS profiles_upn;
DROP INDEX IF EXISTS profiles_display_name;
DROP INDEX IF EXISTS profiles_risk_score;
DROP INDEX IF EXISTS profiles_created;
DROP INDEX IF EXISTS profiles_last_modified;
CREATE INDEX IF NOT EXISTS profiles_upn ON profiles (tenant, user_principal_name NULLS FIRST, id);
CREATE INDEX IF NOT EXISTS profiles_display_name ON profiles (tenant, display_name NULLS FIRST, id);
CREATE INDEX IF NOT EXISTS profiles_risk_score ON profiles (tenant, risk_score NULLS FIRST, id);
CREATE INDEX IF NOT EXISTS profiles_created ON profiles (tenant, created_date_time NULLS FIRST, id);
CREATE INDEX IF NOT EXISTS profiles_last_modified ON profiles (tenant, last_modified_date_time NULLS FIRST, id);
