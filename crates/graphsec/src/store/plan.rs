//! How a list or count query reaches its rows, for both stores.
//!
//! A filter that an index can answer in part (see [`odata::Cover`]) is first measured: each
//! candidate index's matching keys are counted, but never past [`DRIVE_LIMIT`]. When one names
//! few enough keys, the query starts from it and sorts that small set; otherwise it walks the
//! rows in sort order, where many matches fill a page quickly. Both shapes return the same rows
//! in the same order (see `odata::plan`).

use super::{ListRequest, Scope, TENANT_COLUMN};
use crate::domain::members;
use odata::plan::{Access, Page, Table};
use odata::{Cover, Dialect, SqlBuilder, SqlValue};

/// The most keys a query starts from; past it, walking in sort order fills a page sooner.
pub(crate) const DRIVE_LIMIT: i64 = 10_000;

/// The most keys a list starts from when it must read each key's row (to sort by another
/// property, or to test the rest of the filter): a row found by its key costs several times one
/// read walking an index, so the walk is cheaper from fewer matches on.
pub(crate) const ROW_DRIVE_LIMIT: i64 = 4_000;

/// The key columns of `profiles` and of its element tables.
const KEY: &[&str] = &[TENANT_COLUMN, "id"];

fn indexed(name: &str) -> bool {
    members::MEMBERS.iter().any(|m| m.name == name && m.indexed)
}

/// The parts of `filter` an index can answer; none without a filter.
pub(crate) fn covers(dialect: Dialect, filter: Option<&odata::Filter>) -> Vec<Cover> {
    filter.map(|f| f.index_covers(members::storage(dialect), &indexed)).unwrap_or_default()
}

fn with_table<T>(dialect: Dialect, scope: &Scope, f: impl FnOnce(&Table<'_>) -> T) -> T {
    let scope_sql = |alias: &str, b: &mut SqlBuilder| match scope {
        Scope::Tenant(tenant) => {
            b.push_sql(&format!("{alias}.{TENANT_COLUMN} = "));
            b.push_param(SqlValue::Text(tenant.clone()));
        }
        Scope::AllTenants => b.push_sql("1 = 1"),
    };
    f(&Table { storage: members::storage(dialect), key: KEY, scope: &scope_sql })
}

/// One row, one count per cover, each counted only up to one past the cover's limit (what
/// [`choose`] needs to know); `order` as for [`choose`].
pub(crate) fn estimate_sql(
    dialect: Dialect,
    scope: &Scope,
    covers: &[Cover],
    order: Option<&odata::OrderBy>,
) -> SqlBuilder {
    with_table(dialect, scope, |t| t.render_estimate(covers, &|c| drive_limit(t, c, order) + 1, dialect))
}

/// The most keys a query may start from `cover`: [`ROW_DRIVE_LIMIT`] when a list in `order`
/// would read its rows, else [`DRIVE_LIMIT`] (a count has no order).
fn drive_limit(t: &Table<'_>, cover: &Cover, order: Option<&odata::OrderBy>) -> i64 {
    match order {
        Some(order) if t.reads_rows(cover, order) => ROW_DRIVE_LIMIT,
        _ => DRIVE_LIMIT,
    }
}

/// A cover whose index yields the page in order (see `Table::reads_in_order`): it is driven
/// from without counting its keys first.
pub(crate) fn in_order<'a>(dialect: Dialect, covers: &'a [Cover], order: &odata::OrderBy) -> Option<&'a Cover> {
    with_table(dialect, &Scope::AllTenants, |t| covers.iter().find(|c| t.reads_in_order(c, order)))
}

/// The cover to start from, given the capped key counts [`estimate_sql`] returned: the one
/// naming the fewest keys, if that is within its [`drive_limit`].
pub(crate) fn choose<'a>(
    dialect: Dialect,
    covers: &'a [Cover],
    estimates: &[i64],
    order: Option<&odata::OrderBy>,
) -> Option<&'a Cover> {
    with_table(dialect, &Scope::AllTenants, |t| {
        let within = |(c, n): &(&Cover, &i64)| **n <= drive_limit(t, c, order);
        covers.iter().zip(estimates).filter(within).min_by_key(|(_, n)| **n).map(|(c, _)| c)
    })
}

/// Whether a count needs no estimate: a cover whose keys are exactly the matching rows is
/// counted from its index alone, which never reads more than a scan would.
pub(crate) fn exact(covers: &[Cover]) -> Option<&Cover> {
    covers.iter().find(|c| c.exact)
}

/// `SELECT <columns>` of one page, fetching one row more than the page so the caller knows
/// whether another page follows; from `drive`'s keys, or walking in sort order.
pub(crate) fn list_sql(
    dialect: Dialect,
    columns: &str,
    scope: &Scope,
    request: &ListRequest,
    drive: Option<&Cover>,
) -> SqlBuilder {
    let page = Page {
        columns,
        filter: request.filter.as_ref(),
        order: &request.order,
        after: request.after.as_ref(),
        limit: request.limit as i64 + 1,
        offset: i64::try_from(request.skip).unwrap_or(i64::MAX),
    };
    with_table(dialect, scope, |t| t.render_page(&page, access(drive), dialect))
}

/// `SELECT COUNT(*)` of the profiles matching `filter`.
pub(crate) fn count_sql(
    dialect: Dialect,
    scope: &Scope,
    filter: Option<&odata::Filter>,
    drive: Option<&Cover>,
) -> SqlBuilder {
    with_table(dialect, scope, |t| t.render_count(filter, access(drive), dialect))
}

fn access(drive: Option<&Cover>) -> Access<'_> {
    drive.map_or(Access::Walk, Access::Drive)
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
