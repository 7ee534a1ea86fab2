//! The two shapes of a filtered, ordered, keyset-paged read, and the count that chooses between
//! them.
//!
//! * **Walk**: read the rows in sort order (through the sort's index) and test each against the
//!   filter until the page is full. Cheap when many rows match; when few do, it reads the whole
//!   table to fill a page.
//! * **Drive**: take the keys a [`Cover`] names from its indexes, read only those rows, test them
//!   against the filter and sort them. Cheap when the cover names few keys, whatever the order.
//!
//! Both shapes take the same keyset bound (rows strictly after the previous page's last sort
//! key) and the same ORDER BY, so a page's last row continues the walk in either shape and a
//! client paging through `@odata.nextLink` sees one order whichever shape each page ran.

use crate::cover::{Cover, KeySource};
use crate::filter::Filter;
use crate::operand_sql::push_text_literal;
use crate::orderby::{OrderBy, SortKey, SortTarget};
use crate::schema::Storage;
use crate::sql::{Dialect, SqlBuilder, SqlValue};

/// Pushes the scope condition on the table aliased by the argument (e.g. `x.tenant = $1`, or
/// `1 = 1` for every row).
pub type ScopeSql<'a> = &'a dyn Fn(&str, &mut SqlBuilder);

/// Which rows a statement starts from.
#[derive(Debug, Clone, Copy)]
pub enum Access<'a> {
    Walk,
    Drive(&'a Cover),
}

/// The entity table, its key and the scope every statement keeps to.
#[derive(Clone, Copy)]
pub struct Table<'a> {
    pub storage: &'a Storage,
    /// The columns identifying an entity in the entity table and in every element table.
    pub key: &'a [&'static str],
    pub scope: ScopeSql<'a>,
}

/// One page: `SELECT columns` (over the entity table's alias) of the rows after `after`,
/// `offset` skipped, at most `limit`.
pub struct Page<'a> {
    pub columns: &'a str,
    pub filter: Option<&'a Filter>,
    pub order: &'a OrderBy,
    pub after: Option<&'a SortKey>,
    pub limit: i64,
    pub offset: i64,
}

impl Table<'_> {
    fn aliased(&self, alias: &'static str) -> Storage {
        Storage { alias, ..self.storage.clone() }
    }

    fn key_match(&self, left: &str, right: &str) -> String {
        let parts: Vec<String> = self.key.iter().map(|k| format!("{left}.{k} = {right}.{k}")).collect();
        parts.join(" AND ")
    }

    fn key_list(&self, alias: &str) -> String {
        let parts: Vec<String> = self.key.iter().map(|k| format!("{alias}.{k}")).collect();
        parts.join(", ")
    }

    /// `SELECT <key> FROM ...` of one source, `distinct` when it may name a key twice.
    fn push_source(&self, source: &KeySource, distinct: bool, b: &mut SqlBuilder) {
        match source {
            KeySource::Column { condition, .. } => {
                let storage = self.aliased("k");
                b.push_sql(&format!("SELECT {} FROM {} k WHERE ", self.key_list("k"), storage.table));
                (self.scope)("k", b);
                b.push_sql(" AND ");
                condition.render_sql(&storage, b);
            }
            KeySource::Elements { property, values } => {
                let Some(t) = self.storage.element_table(property) else {
                    // A cover only names element tables of this storage.
                    b.push_sql(&format!("SELECT {} FROM {} k WHERE 1 = 0", self.key_list("k"), self.storage.table));
                    return;
                };
                b.push_sql(if distinct { "SELECT DISTINCT " } else { "SELECT " });
                b.push_sql(&format!("{} FROM {} e WHERE ", self.key_list("e"), t.table));
                (self.scope)("e", b);
                b.push_sql(&format!(" AND e.{} IN (", t.value));
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        b.push_sql(", ");
                    }
                    push_text_literal(v, b);
                }
                b.push_sql(")");
            }
        }
    }

    /// The distinct keys of a cover, as a parenthesised subquery aliased `keys`.
    fn push_keys(&self, cover: &Cover, b: &mut SqlBuilder) {
        b.push_sql("(");
        let many = cover.sources.len() > 1;
        for (i, source) in cover.sources.iter().enumerate() {
            if i > 0 {
                b.push_sql(" UNION ");
            }
            self.push_source(source, !many && self.may_repeat(source), b);
        }
        b.push_sql(") AS keys");
    }

    /// Whether a source's select may name a key more than once.
    fn may_repeat(&self, source: &KeySource) -> bool {
        match source {
            KeySource::Column { .. } => false,
            // An element table kept beside a JSON array on SQLite holds each distinct element
            // of an entity once; otherwise an entity may have the value twice.
            KeySource::Elements { property, values } => {
                values.len() > 1 || self.storage.element_table(property).is_none_or(|t| t.json_array.is_none())
            }
        }
    }

    /// One row with one column per cover: how many keys it names, counted up to `cap(cover)`
    /// over all its sources together (they are read one after the other and the reading stops at
    /// the cap), from its indexes only. A key two sources name counts twice: an upper bound.
    pub fn render_estimate(&self, covers: &[Cover], cap: &dyn Fn(&Cover) -> i64, dialect: Dialect) -> SqlBuilder {
        let mut b = SqlBuilder::new(dialect);
        b.push_sql("SELECT ");
        for (i, cover) in covers.iter().enumerate() {
            if i > 0 {
                b.push_sql(", ");
            }
            b.push_sql("(SELECT COUNT(*) FROM (");
            for (j, source) in cover.sources.iter().enumerate() {
                if j > 0 {
                    b.push_sql(" UNION ALL ");
                }
                self.push_source(source, false, &mut b);
            }
            b.push_sql(" LIMIT ");
            b.push_param(SqlValue::Int(cap(cover)));
            b.push_sql(") AS capped)");
        }
        b
    }

    /// `SELECT COUNT(*)` of the rows matching `filter`.
    pub fn render_count(&self, filter: Option<&Filter>, access: Access<'_>, dialect: Dialect) -> SqlBuilder {
        let mut b = SqlBuilder::new(dialect);
        let s = self.storage;
        match (access, filter) {
            (Access::Drive(cover), Some(filter)) => {
                b.push_sql("SELECT COUNT(*) FROM ");
                self.push_keys(cover, &mut b);
                if !cover.exact {
                    b.push_sql(&format!(" CROSS JOIN {} {} WHERE ", s.table, s.alias));
                    b.push_sql(&self.key_match(s.alias, "keys"));
                    b.push_sql(" AND ");
                    filter.render_sql(s, &mut b);
                }
            }
            (_, filter) => {
                b.push_sql(&format!("SELECT COUNT(*) FROM {} {} WHERE ", s.table, s.alias));
                (self.scope)(s.alias, &mut b);
                if let Some(filter) = filter {
                    b.push_sql(" AND ");
                    filter.render_sql(s, &mut b);
                }
            }
        }
        b
    }

    /// The statement reading `page`.
    pub fn render_page(&self, page: &Page<'_>, access: Access<'_>, dialect: Dialect) -> SqlBuilder {
        let mut b = SqlBuilder::new(dialect);
        match (access, page.filter) {
            (Access::Drive(cover), Some(_)) => self.push_driven(page, cover, &mut b),
            _ => self.push_walk(page, &mut b),
        }
        b
    }

    fn push_walk(&self, page: &Page<'_>, b: &mut SqlBuilder) {
        let s = self.storage;
        b.push_sql(&format!("SELECT {} FROM {} {} WHERE ", page.columns, s.table, s.alias));
        (self.scope)(s.alias, b);
        if let Some(filter) = page.filter {
            b.push_sql(" AND ");
            // The first sort column may also bound the walk; every other column's index would
            // start the walk somewhere else and leave the rows to be sorted.
            let keep: Vec<&'static str> = self.sort_columns(page.order).into_iter().take(1).collect();
            filter.render_sql_walking(s, &keep, b);
        }
        self.push_after_order_limit(page, s, b);
    }

    /// Keys from the cover, sorted and bounded on their own, and only the page's rows read in
    /// full: a sort holds keys, never whole rows.
    fn push_driven(&self, page: &Page<'_>, cover: &Cover, b: &mut SqlBuilder) {
        let s = self.storage;
        b.push_sql(&format!("SELECT {} FROM (SELECT ", page.columns));
        if !self.reads_rows(cover, page.order) {
            // The keys alone answer the filter and hold every sort value.
            b.push_sql(&format!("{} FROM ", self.key_list("keys")));
            self.push_keys(cover, b);
            let keys = self.aliased("keys");
            b.push_sql(" WHERE 1 = 1");
            self.push_after_order_limit(page, &keys, b);
        } else {
            b.push_sql(&format!("{} FROM ", self.key_list(s.alias)));
            self.push_keys(cover, b);
            b.push_sql(&format!(" CROSS JOIN {} {} WHERE ", s.table, s.alias));
            b.push_sql(&self.key_match(s.alias, "keys"));
            if let (false, Some(filter)) = (cover.exact, page.filter) {
                b.push_sql(" AND ");
                filter.render_sql(s, b);
            }
            self.push_after_order_limit(page, s, b);
        }
        b.push_sql(&format!(") AS page CROSS JOIN {} {} WHERE ", s.table, s.alias));
        b.push_sql(&self.key_match(s.alias, "page"));
        b.push_sql(" ");
        page.order.render_order_by(s, b);
    }

    fn push_after_order_limit(&self, page: &Page<'_>, s: &Storage, b: &mut SqlBuilder) {
        if let Some(after) = page.after {
            b.push_sql(" AND ");
            page.order.render_after(after, s, b);
        }
        b.push_sql(" ");
        page.order.render_order_by(s, b);
        b.push_sql(" LIMIT ");
        b.push_param(SqlValue::Int(page.limit));
        b.push_sql(" OFFSET ");
        b.push_param(SqlValue::Int(page.offset));
    }

    /// The columns of the declared sort keys, in order, up to the first key without one.
    fn sort_columns(&self, order: &OrderBy) -> Vec<&'static str> {
        order
            .keys()
            .iter()
            .map_while(|k| match k.target {
                SortTarget::Declared { name, .. } => self.storage.column(name),
                _ => None,
            })
            .collect()
    }

    /// Whether driving from `cover` reads no more than its page, whatever its size: the cover
    /// is exactly the filter, one equality (its index holds the matching keys in key order)
    /// naming each key once (a DISTINCT would read them all), and the order is by the key
    /// alone, so the keyset bound and LIMIT stop the index scan.
    pub fn reads_in_order(&self, cover: &Cover, order: &OrderBy) -> bool {
        let distinct = cover.sources.iter().all(|s| !self.may_repeat(s));
        cover.exact && cover.is_point() && distinct && self.orders_by_key_only(order)
    }

    /// Whether driving from `cover` reads each key's row: to test the rest of the filter, or to
    /// sort by more than the key.
    pub fn reads_rows(&self, cover: &Cover, order: &OrderBy) -> bool {
        !(cover.exact && self.orders_by_key_only(order))
    }

    fn orders_by_key_only(&self, order: &OrderBy) -> bool {
        let columns = self.sort_columns(order);
        columns.len() == order.keys().len() && columns.iter().all(|c| self.key.contains(c))
    }
}
