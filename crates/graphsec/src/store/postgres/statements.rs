//! Creates, updates and deletes as one statement each: the row, its tags and its audit row are
//! written by one data-modifying statement, which commits on its own. The audit row is inserted
//! from what the row's own sub-statement returned, so it is written exactly when the row is,
//! and the statement reports one row affected exactly then.
//!
//! An update or delete names the version it was decided on and touches nothing when the row has
//! moved on since: the writer lost a race and decides again on the newer row.

use crate::store::audit::{self, AuditRecord};
use crate::store::{IndexedColumns, StoreError};
use sqlx::Postgres;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;

type Statement<'q> = Query<'q, Postgres, PgArguments>;

const CREATE: &str = "WITH ins AS (\
        INSERT INTO profiles (tenant, id, version, user_principal_name, display_name, risk_score, \
        azure_subscription_id, created_date_time, last_modified_date_time, doc, wire) \
        VALUES ($1, $2, 1, $3, $4, $5, $6, $7, $8, $9::jsonb, $9) \
        ON CONFLICT (tenant, id) DO NOTHING RETURNING tenant, id), \
    tags AS (\
        INSERT INTO profile_tags (tenant, id, pos, tag) \
        SELECT ins.tenant, ins.id, t.pos - 1, t.tag FROM ins, UNNEST($10::text[]) WITH ORDINALITY AS t(tag, pos)) \
    INSERT INTO audit_log (id, at, tenant, caller, app, request_id, operation, profile_id, changed) \
    SELECT $11, $12, $13, $14, $15, $16, $17, $18, $19 FROM ins";

/// `$11` says whether the tags changed; when they did, positions past the new list are deleted
/// and the others written where they differ (the two touch different rows, as the
/// sub-statements of one statement must).
const REWRITE: &str = "WITH upd AS (\
        UPDATE profiles SET version = $3 + 1, user_principal_name = $4, display_name = $5, risk_score = $6, \
        azure_subscription_id = $7, created_date_time = $8, last_modified_date_time = $9, doc = $10::jsonb, wire = $10 \
        WHERE tenant = $1 AND id = $2 AND version = $3 RETURNING tenant, id), \
    gone AS (\
        DELETE FROM profile_tags t USING upd WHERE $11 AND t.tenant = upd.tenant AND t.id = upd.id \
        AND t.pos >= cardinality($12::text[])), \
    tags AS (\
        INSERT INTO profile_tags (tenant, id, pos, tag) \
        SELECT upd.tenant, upd.id, t.pos - 1, t.tag FROM upd, UNNEST($12::text[]) WITH ORDINALITY AS t(tag, pos) \
        WHERE $11 ON CONFLICT (tenant, id, pos) DO UPDATE SET tag = EXCLUDED.tag WHERE profile_tags.tag <> EXCLUDED.tag) \
    INSERT INTO audit_log (id, at, tenant, caller, app, request_id, operation, profile_id, changed) \
    SELECT $13, $14, $15, $16, $17, $18, $19, $20, $21 FROM upd";

const DELETE: &str = "WITH del AS (\
        DELETE FROM profiles WHERE tenant = $1 AND id = $2 AND version = $3 RETURNING tenant, id), \
    tags AS (DELETE FROM profile_tags t USING del WHERE t.tenant = del.tenant AND t.id = del.id) \
    INSERT INTO audit_log (id, at, tenant, caller, app, request_id, operation, profile_id, changed) \
    SELECT $4, $5, $6, $7, $8, $9, $10, $11, $12 FROM del";

/// A document's row values and its audit row, ready to bind.
pub(super) struct RowWrite<'a> {
    columns: IndexedColumns<'a>,
    /// The canonical JSON, stored as sent and, as JSONB, for filters.
    pub(super) wire: String,
    audit: ([&'a str; 8], String),
}

impl<'a> RowWrite<'a> {
    pub(super) fn of(
        columns: IndexedColumns<'a>,
        wire: String,
        record: &'a AuditRecord,
    ) -> Result<RowWrite<'a>, StoreError> {
        Ok(RowWrite { columns, wire, audit: audit::audit_values(record)? })
    }

    fn bind_audit<'q>(&'q self, mut query: Statement<'q>) -> Statement<'q> {
        for value in self.audit.0 {
            query = query.bind(value);
        }
        query.bind(self.audit.1.as_str())
    }

    fn bind_columns<'q>(&'q self, query: Statement<'q>) -> Statement<'q> {
        let c = &self.columns;
        query
            .bind(c.user_principal_name)
            .bind(c.display_name)
            .bind(c.risk_score)
            .bind(c.azure_subscription_id)
            .bind(c.created_date_time)
            .bind(c.last_modified_date_time)
            .bind(self.wire.as_str())
    }

    /// Inserts the profile unless its id is taken in its tenant.
    pub(super) fn create(&self) -> Statement<'_> {
        let query = sqlx::query(CREATE).bind(self.columns.tenant).bind(self.columns.id);
        let query = self.bind_columns(query).bind(&self.columns.tags);
        self.bind_audit(query)
    }

    /// Rewrites the row if it is still at `read_version`; `tags_changed` says whether its tag
    /// rows are rewritten too.
    pub(super) fn rewrite(&self, read_version: i64, tags_changed: bool) -> Statement<'_> {
        let query = sqlx::query(REWRITE).bind(self.columns.tenant).bind(self.columns.id).bind(read_version);
        let query = self.bind_columns(query).bind(tags_changed).bind(&self.columns.tags);
        self.bind_audit(query)
    }
}

/// Deletes the row `(tenant, id)` if it is still at `version`, with its tags, and writes `record`.
pub(super) fn delete<'q>(
    tenant: &'q str,
    id: &'q str,
    version: i64,
    record: &'q ([&'q str; 8], String),
) -> Statement<'q> {
    let mut query = sqlx::query(DELETE).bind(tenant).bind(id).bind(version);
    for value in record.0 {
        query = query.bind(value);
    }
    query.bind(record.1.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each statement's parameters are numbered without a gap, so none is bound to the wrong one.
    #[test]
    fn parameters_are_numbered_in_order() {
        for (sql, count) in [(CREATE, 19), (REWRITE, 21), (DELETE, 12)] {
            for n in 1..=count {
                assert!(sql.contains(&format!("${n}")), "${n} missing from {sql}");
            }
            assert!(!sql.contains(&format!("${}", count + 1)), "{sql}");
        }
    }
}
