//! The rows the SQLite writer wrote last, kept so that a PATCH of a recently written profile is
//! decided without reading the database.
//!
//! Only the writer thread fills it, after its commits, so an entry is what the database holds
//! unless another connection (another process on the same file) wrote since. The writer notices
//! that (`PRAGMA data_version`) and [`RowCache::invalidate`]s the cache; every entry handed out
//! carries the cache's generation, and a PATCH decided on an older generation is decided again
//! on the current row. A PATCH decided on an entry the writer has since replaced is caught, like
//! one decided on a reader's snapshot, by the version check of the update itself.

use std::collections::HashMap;
use std::sync::Mutex;

/// A row as the writer last stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CachedRow {
    pub rowid: i64,
    pub version: i64,
    pub doc: String,
}

/// A change the writer makes to the cache once the transaction that wrote it has committed.
#[derive(Debug)]
pub(crate) enum CacheChange {
    Put { tenant: String, id: String, row: CachedRow },
    Remove { tenant: String, id: String },
}

pub(crate) struct RowCache {
    budget_bytes: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    rows: HashMap<(String, String), CachedRow>,
    bytes: usize,
    generation: u64,
}

/// What an entry costs beyond its text: the key, the map's slot and allocator slack.
const ENTRY_OVERHEAD: usize = 128;

fn cost(tenant: &str, id: &str, row: &CachedRow) -> usize {
    tenant.len() + id.len() + row.doc.len() + ENTRY_OVERHEAD
}

impl RowCache {
    /// A cache that holds at most about `budget_bytes`; when full it starts over empty, which
    /// keeps it simple and its memory bounded.
    pub(crate) fn new(budget_bytes: usize) -> RowCache {
        RowCache { budget_bytes, inner: Mutex::new(Inner::default()) }
    }

    /// The entry for a profile, with the generation to hand back to [`RowCache::generation`].
    pub(crate) fn get(&self, tenant: &str, id: &str) -> Option<(u64, CachedRow)> {
        let inner = self.inner.lock().ok()?;
        let row = inner.rows.get(&(tenant.to_string(), id.to_string()))?;
        Some((inner.generation, row.clone()))
    }

    pub(crate) fn generation(&self) -> u64 {
        self.inner.lock().map(|inner| inner.generation).unwrap_or(u64::MAX)
    }

    /// Forgets every entry: the database was written by someone else.
    pub(crate) fn invalidate(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.rows.clear();
            inner.bytes = 0;
            inner.generation += 1;
        }
    }

    pub(crate) fn apply(&self, changes: Vec<CacheChange>) {
        let Ok(mut inner) = self.inner.lock() else { return };
        for change in changes {
            match change {
                CacheChange::Put { tenant, id, row } => {
                    let added = cost(&tenant, &id, &row);
                    let key = (tenant, id);
                    if let Some(old) = inner.rows.remove(&key) {
                        inner.bytes -= cost(&key.0, &key.1, &old);
                    }
                    if inner.bytes + added > self.budget_bytes {
                        inner.rows.clear();
                        inner.bytes = 0;
                    }
                    // A row larger than the whole budget is not kept (a budget of 0 keeps none).
                    if added <= self.budget_bytes {
                        inner.rows.insert(key, row);
                        inner.bytes += added;
                    }
                }
                CacheChange::Remove { tenant, id } => {
                    let key = (tenant, id);
                    if let Some(old) = inner.rows.remove(&key) {
                        inner.bytes -= cost(&key.0, &key.1, &old);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(version: i64, doc: &str) -> CachedRow {
        CachedRow { rowid: 7, version, doc: doc.to_string() }
    }

    fn put(tenant: &str, id: &str, row: CachedRow) -> CacheChange {
        CacheChange::Put { tenant: tenant.into(), id: id.into(), row }
    }

    #[test]
    fn puts_replace_and_removes_forget() {
        let cache = RowCache::new(1 << 20);
        cache.apply(vec![put("t", "a", row(1, "{}")), put("t", "a", row(2, "{\"x\":1}")), put("u", "a", row(5, "{}"))]);
        assert_eq!(cache.get("t", "a"), Some((0, row(2, "{\"x\":1}"))));
        assert_eq!(cache.get("u", "a").map(|(_, r)| r.version), Some(5));
        cache.apply(vec![CacheChange::Remove { tenant: "t".into(), id: "a".into() }]);
        assert_eq!(cache.get("t", "a"), None);
        assert!(cache.get("u", "a").is_some());
    }

    #[test]
    fn invalidating_forgets_everything_and_moves_the_generation_on() {
        let cache = RowCache::new(1 << 20);
        cache.apply(vec![put("t", "a", row(1, "{}"))]);
        let (generation, _) = cache.get("t", "a").unwrap();
        cache.invalidate();
        assert_eq!(cache.get("t", "a"), None);
        assert_ne!(cache.generation(), generation);
        cache.apply(vec![put("t", "a", row(2, "{}"))]);
        assert_eq!(cache.get("t", "a").map(|(g, _)| g), Some(cache.generation()));
    }

    #[test]
    fn stays_within_its_budget() {
        let doc = "x".repeat(1000);
        let cache = RowCache::new(10 * (1000 + ENTRY_OVERHEAD + 8));
        for i in 0..100 {
            cache.apply(vec![put("t", &format!("id{i:03}"), row(1, &doc))]);
            let inner = cache.inner.lock().unwrap();
            assert!(inner.bytes <= cache.budget_bytes, "{} bytes after {i} puts", inner.bytes);
            assert_eq!(inner.bytes, inner.rows.iter().map(|((t, id), r)| cost(t, id, r)).sum::<usize>());
        }
        // The last put is always kept.
        assert!(cache.get("t", "id099").is_some());
    }
}
