//! Creates, updates and deletes without holding a lock across round trips: the row is read
//! without a lock, the domain decides on it, and the decision is written by one statement
//! ([`statements`]) that checks the version it was decided on. A writer that lost a race decides
//! again on the newer row; after a few lost races it decides on the locked row instead
//! ([`PgStore::try_write`]), so a hot row cannot starve it.
//!
//! The statement commits on its own, so a connection lost after it was sent leaves its fate
//! unknown. Its audit row's id tells: the write is tried again, and any answer other than its
//! own success is given only once the audit trail shows that no earlier try was stored (if one
//! was, that try's answer is given). A late earlier try can no longer be stored once the row has
//! moved past the version it names, and a create once the id is taken.

use super::rows::Found;
use super::statements::{self, RowWrite};
use super::{PgStore, faults, pg, pool, stored};
use crate::domain::write::{Change, Decision, Update};
use crate::store::audit;
use crate::store::sql::{self, NamedRow};
use crate::store::{Actor, IndexedColumns, Scope, StoreError, StoredProfile, WriteCommand, WriteOutcome};
use sqlx::Row;

/// Lost races before an update or delete is decided on the locked row.
const OPTIMISTIC_TRIES: usize = 3;

static NAMED_ROW_WITH_TENANT: NamedRow = sql::named_row!("tenant, wire, version", "");

/// How one try ended.
enum Try {
    /// Its own statement wrote this.
    Stored(WriteOutcome),
    /// Answered without writing: refused, unchanged, or a conflict.
    Answered(WriteOutcome),
    /// The row moved on between the read and the write.
    LostRace,
    /// The write moves a profile between tenants, which is done under the row's lock.
    NeedsLock,
}

/// A try whose statement was sent on a connection that was lost before the answer came.
struct Unsure {
    audit_id: String,
    /// The answer had it been stored.
    answer: WriteOutcome,
}

impl PgStore {
    /// A create, update or delete, tried until it is answered.
    pub(super) async fn write_row(&self, command: &WriteCommand, actor: &Actor) -> Result<WriteOutcome, StoreError> {
        let mut unsure = Vec::new();
        let (mut tries, mut lost_races, mut reconnected) = (0, 0, false);
        loop {
            tries += 1;
            let attempt = if lost_races < OPTIMISTIC_TRIES {
                self.try_row(command, actor, &mut unsure).await
            } else {
                self.try_write(command, actor).await.map(|outcome| match outcome {
                    stored @ (WriteOutcome::Written(_) | WriteOutcome::Deleted) => Try::Stored(stored),
                    other => Try::Answered(other),
                })
            };
            let error = match attempt {
                Ok(Try::Stored(outcome)) => return Ok(outcome),
                Ok(Try::Answered(outcome)) => return self.unless_stored_before(outcome, &mut unsure).await,
                Ok(Try::LostRace) => {
                    lost_races += 1;
                    continue;
                }
                Ok(Try::NeedsLock) => {
                    lost_races = OPTIMISTIC_TRIES;
                    continue;
                }
                Err(StoreError::Postgres(error)) => error,
                Err(other) => return Err(other),
            };
            if faults::gave_way(&error) && tries < faults::MAX_ATTEMPTS {
                tokio::time::sleep(faults::backoff(tries)).await;
                continue;
            }
            if faults::is_connection_lost(&error) && !reconnected {
                tracing::info!(%error, "PostgreSQL connection lost; trying the write once more on another connection");
                pool::connection_lost();
                reconnected = true;
                continue;
            }
            if unsure.is_empty() {
                return Err(faults::settle(error));
            }
            return match self.stored_before(&mut unsure).await {
                Ok(Some(answer)) => Ok(answer),
                _ => {
                    tracing::warn!(%error, "PostgreSQL connection lost with a write sent: it may or may not be stored");
                    Err(StoreError::OutcomeUnknown(error.to_string()))
                }
            };
        }
    }

    /// One try: read, decide, and write in one statement.
    async fn try_row(
        &self,
        command: &WriteCommand,
        actor: &Actor,
        unsure: &mut Vec<Unsure>,
    ) -> Result<Try, StoreError> {
        match command {
            WriteCommand::Create(create) => {
                let record = create.audit(actor.author());
                let (columns, wire) = IndexedColumns::with_text(&create.doc)?;
                let row = RowWrite::of(columns, wire, &record)?;
                let answer = WriteOutcome::Written(StoredProfile { doc: row.wire.clone(), version: 1 });
                Ok(self
                    .send(row.create(), &record.id, answer, actor, unsure)
                    .await?
                    .map_or(Try::Answered(WriteOutcome::Conflict), Try::Stored))
            }
            WriteCommand::Update(update) => self.try_update(update, actor, unsure).await,
            WriteCommand::Delete(delete) => {
                let found = self.read_row(&delete.scope, &delete.id).await?;
                let record = match delete.decide(found.as_ref().map(Found::current), actor.author()) {
                    Err(refusal) => return Ok(Try::Answered(refusal.into())),
                    Ok(record) => record,
                };
                let Some(found) = found else { return Err(StoreError::Other("a delete was decided on no row".into())) };
                let values = audit::audit_values(&record)?;
                let statement = statements::delete(&found.tenant, &delete.id, found.profile.version, &values);
                let sent = self.send(statement, &record.id, WriteOutcome::Deleted, actor, unsure).await?;
                Ok(sent.map_or(Try::LostRace, Try::Stored))
            }
            _ => Err(StoreError::Other("only creates, updates and deletes are written in one statement".into())),
        }
    }

    async fn try_update(&self, update: &Update, actor: &Actor, unsure: &mut Vec<Unsure>) -> Result<Try, StoreError> {
        let found = self.read_row(&update.scope, &update.id).await?;
        let change = match (update.decide(found.as_ref().map(Found::current), actor.author())?, found) {
            (Decision::Refuse(refusal), _) => return Ok(Try::Answered(refusal.into())),
            (Decision::Keep, Some(found)) => return Ok(Try::Answered(WriteOutcome::Written(found.profile))),
            (Decision::Move(_), _) => return Ok(Try::NeedsLock),
            (Decision::Rewrite(change), Some(found)) => (change, found.profile.version),
            (_, None) => return Err(StoreError::Other("an update was decided on no row".into())),
        };
        let (change, read_version) = change;
        let Change { text, copied_before, copied, audit, .. } = *change;
        let tags_changed = copied_before.get("tags") != copied.get("tags");
        let row = RowWrite::of(IndexedColumns::of_copied(&copied)?, text, &audit)?;
        let answer = WriteOutcome::Written(StoredProfile { doc: row.wire.clone(), version: read_version + 1 });
        let sent = self.send(row.rewrite(read_version, tags_changed), &audit.id, answer, actor, unsure).await?;
        Ok(sent.map_or(Try::LostRace, Try::Stored))
    }

    /// The row a write names, read without a lock.
    async fn read_row(&self, scope: &Scope, id: &str) -> Result<Option<Found>, StoreError> {
        match self.named_row(&NAMED_ROW_WITH_TENANT, scope, id).await? {
            None => Ok(None),
            Some(r) => Ok(Some(Found { tenant: r.try_get(0).map_err(pg)?, profile: stored(&r, 1)? })),
        }
    }

    /// Sends a write's one statement: `answer` when it wrote, None when it touched nothing. The
    /// request is held to the outcome from here on ([`Actor::take_up`]).
    async fn send(
        &self,
        statement: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
        audit_id: &str,
        answer: WriteOutcome,
        actor: &Actor,
        unsure: &mut Vec<Unsure>,
    ) -> Result<Option<WriteOutcome>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(pg)?;
        if !actor.take_up() {
            conn.release();
            return Err(StoreError::Closed);
        }
        let result = statement.execute(&mut *conn).await;
        conn.settle(&result);
        match result {
            Ok(done) if done.rows_affected() == 1 => Ok(Some(answer)),
            Ok(_) => Ok(None),
            Err(error) => {
                if faults::is_connection_lost(&error) {
                    unsure.push(Unsure { audit_id: audit_id.to_string(), answer });
                }
                Err(pg(error))
            }
        }
    }

    /// `outcome`, unless an earlier try whose fate was unknown was stored after all.
    async fn unless_stored_before(
        &self,
        outcome: WriteOutcome,
        unsure: &mut Vec<Unsure>,
    ) -> Result<WriteOutcome, StoreError> {
        if unsure.is_empty() {
            return Ok(outcome);
        }
        match self.stored_before(unsure).await {
            Ok(Some(answer)) => Ok(answer),
            Ok(None) => Ok(outcome),
            Err(error) => Err(StoreError::OutcomeUnknown(error.to_string())),
        }
    }

    /// The answer of the earlier try that the audit trail shows was stored, if any.
    async fn stored_before(&self, unsure: &mut Vec<Unsure>) -> Result<Option<WriteOutcome>, StoreError> {
        let ids: Vec<&str> = unsure.iter().map(|u| u.audit_id.as_str()).collect();
        let found = faults::retrying(|| async {
            let mut conn = self.pool.acquire().await.map_err(pg)?;
            let found = sqlx::query_scalar::<_, String>("SELECT id FROM audit_log WHERE id = ANY($1) LIMIT 1")
                .bind(&ids)
                .fetch_optional(&mut *conn)
                .await;
            conn.settle(&found);
            found.map_err(pg)
        })
        .await?;
        let Some(position) = found.and_then(|id| unsure.iter().position(|u| u.audit_id == id)) else {
            return Ok(None);
        };
        Ok(Some(unsure.swap_remove(position).answer))
    }
}
