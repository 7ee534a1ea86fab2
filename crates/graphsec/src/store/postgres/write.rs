//! A write as one PostgreSQL transaction: the row it names is read `FOR UPDATE`, the domain
//! decides on it, and what was decided is written and committed. Concurrent writers (on any
//! instance) serialise on the row lock, so no update is lost. Bulk loads, pruning and resets run
//! here, and so do the creates, updates and deletes that `optimistic` does not write in one
//! statement: a move between tenants, and a row other writers keep changing.

use super::rows::{Found, delete_row, find_for_update, import, insert, insert_audit, update_in_place};
use super::{PgStore, faults, pg};
use crate::domain::write::{Decision, Update};
use crate::store::{Actor, IndexedColumns, StoreError, WriteCommand, WriteOutcome};
use sqlx::{Postgres, Transaction};

/// How a write's transaction ends.
enum End {
    /// Something was written: committed, then answered.
    Commit(WriteOutcome),
    /// Answered without writing (refused, unchanged, or a conflict): rolled back.
    Rollback(WriteOutcome),
}

impl PgStore {
    /// One try of a write, in a transaction of its own.
    pub(super) async fn try_write(&self, command: &WriteCommand, actor: &Actor) -> Result<WriteOutcome, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(pg)?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(pg)?;
        let end = match command {
            WriteCommand::Create(create) => {
                let (columns, wire) = IndexedColumns::with_text(&create.doc)?;
                match insert(&mut tx, &columns, wire, 1).await? {
                    written @ WriteOutcome::Written(_) => {
                        insert_audit(&mut tx, &create.audit(actor.author())).await?;
                        End::Commit(written)
                    }
                    other => End::Rollback(other),
                }
            }
            WriteCommand::Update(update) => write_update(&mut tx, update, actor).await?,
            WriteCommand::Delete(delete) => {
                let found = find_for_update(&mut tx, &delete.scope, &delete.id).await?;
                match delete.decide(found.as_ref().map(Found::current), actor.author()) {
                    Err(refusal) => End::Rollback(refusal.into()),
                    Ok(audit) => {
                        delete_row(&mut tx, &audit.tenant, &delete.id).await?;
                        insert_audit(&mut tx, &audit).await?;
                        End::Commit(WriteOutcome::Deleted)
                    }
                }
            }
            WriteCommand::Import { profiles } => End::Commit(import(&mut tx, profiles).await?),
            WriteCommand::PruneAudit { before, limit } => {
                let deleted = sqlx::query(
                    "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < $1 ORDER BY at LIMIT $2)",
                )
                .bind(before)
                .bind(i64::from(*limit))
                .execute(&mut *tx)
                .await
                .map_err(pg)?
                .rows_affected();
                End::Commit(WriteOutcome::Pruned { deleted })
            }
            WriteCommand::Reset { tenant } => {
                let mut profiles = 0;
                for table in ["profile_tags", "profiles", "audit_log"] {
                    let sql = format!("DELETE FROM {table} WHERE $1::text IS NULL OR tenant = $1");
                    let deleted = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(tenant.as_deref())
                        .execute(&mut *tx)
                        .await
                        .map_err(pg)?
                        .rows_affected();
                    if table == "profiles" {
                        profiles = deleted;
                    }
                }
                End::Commit(WriteOutcome::Reset { profiles })
            }
        };
        match end {
            End::Rollback(outcome) => {
                // Now, not when the connection is next used: the row lock goes with it, and
                // writers queued on the row (here or on another instance) go on at once. Nothing
                // was written either way, so a failed rollback does not change the answer.
                match tx.rollback().await {
                    Ok(()) => conn.release(),
                    Err(e) => tracing::debug!(error = %e, "rolling back an answered write failed"),
                }
                Ok(outcome)
            }
            End::Commit(outcome) => {
                if !actor.take_up() {
                    // The request stopped waiting; dropping the transaction rolls it back.
                    return Err(StoreError::Closed);
                }
                tx.commit().await.map_err(faults::at_commit)?;
                conn.release();
                Ok(outcome)
            }
        }
    }
}

/// Decides an update on the locked row, and writes what was decided.
async fn write_update(tx: &mut Transaction<'_, Postgres>, update: &Update, actor: &Actor) -> Result<End, StoreError> {
    let found = find_for_update(tx, &update.scope, &update.id).await?;
    let (outcome, audit) = match (update.decide(found.as_ref().map(Found::current), actor.author())?, found) {
        (Decision::Refuse(refusal), _) => return Ok(End::Rollback(refusal.into())),
        (Decision::Keep, Some(found)) => return Ok(End::Rollback(WriteOutcome::Written(found.profile))),
        // In place, so a writer queued on this row's lock sees the new version.
        (Decision::Rewrite(change), Some(found)) => {
            let columns = IndexedColumns::of_copied(&change.copied)?;
            (update_in_place(tx, &columns, change.text, found.profile.version).await?, change.audit)
        }
        (Decision::Move(change), Some(found)) => {
            let outcome = insert(tx, &IndexedColumns::of_copied(&change.copied)?, change.text, change.version).await?;
            if matches!(outcome, WriteOutcome::Written(_)) {
                delete_row(tx, &found.tenant, &update.id).await?;
            }
            (outcome, change.audit)
        }
        (_, None) => return Err(StoreError::Other("an update was decided on no row".into())),
    };
    if !matches!(outcome, WriteOutcome::Written(_)) {
        return Ok(End::Rollback(outcome));
    }
    insert_audit(tx, &audit).await?;
    Ok(End::Commit(outcome))
}
