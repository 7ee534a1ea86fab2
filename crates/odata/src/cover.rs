//! Which parts of a filter an index can answer on its own.
//!
//! A store that keeps an index per column (and per string collection, an element table keyed by
//! value) can find the rows matching such a part without reading the others. The store decides
//! from the answer whether to start from that index or to walk the rows in sort order: only it
//! knows how many rows the index would yield.

use crate::filter::{CmpOp, Coll, Expr, Filter, Literal, Operand, Prop};
use crate::schema::Storage;

/// A set of rows an index yields: a superset of the rows some part of the filter matches.
#[derive(Debug, Clone, PartialEq)]
pub enum KeySource {
    /// Rows whose column (the copy of `property`) satisfies `condition`, a filter on that
    /// property alone: comparisons with values and `in`, joined by `and`.
    Column { property: &'static str, column: &'static str, condition: Filter },
    /// Rows with an element of the string collection `property` equal to one of `values`.
    Elements { property: &'static str, values: Vec<String> },
}

/// The rows of a union of key sources contain every row the filter matches.
#[derive(Debug, Clone, PartialEq)]
pub struct Cover {
    pub sources: Vec<KeySource>,
    /// Whether the union is exactly the rows the filter matches.
    pub exact: bool,
}

impl Filter {
    /// The covers of this filter, one per top-level conjunct an index can answer (a filter that
    /// is not a conjunction is its own single conjunct); conjuncts on the same column make one
    /// cover together. `indexed` tells which declared
    /// properties have an index on their column or element table. Empty when no index can
    /// narrow the filter's rows.
    pub fn index_covers(&self, s: &Storage, indexed: &dyn Fn(&str) -> bool) -> Vec<Cover> {
        let conjuncts: Vec<&Expr> = match &self.expr {
            Expr::And(items) => items.iter().collect(),
            e => vec![e],
        };
        let mut covers: Vec<Cover> = Vec::new();
        let mut uncovered = false;
        for e in conjuncts {
            match cover(e, s, indexed) {
                Some(c) => match covers.iter_mut().find(|known| known.exact && c.exact && same_column(known, &c)) {
                    Some(known) => narrow(known, e),
                    None => covers.push(c),
                },
                None => uncovered = true,
            }
        }
        // One cover for every conjunct is exactly the filter; otherwise each is only a superset.
        let exact = !uncovered && covers.len() == 1;
        covers.into_iter().map(|c| Cover { exact: c.exact && exact, ..c }).collect()
    }
}

impl Cover {
    /// Whether the cover is one equality: one column equal to one value, or one element value.
    /// Its index then yields the keys in key order.
    pub fn is_point(&self) -> bool {
        match self.sources.as_slice() {
            [KeySource::Column { condition, .. }] => {
                matches!(&condition.expr, Expr::Cmp { op: CmpOp::Eq, .. })
                    || matches!(&condition.expr, Expr::In { items, .. } if items.len() == 1)
            }
            [KeySource::Elements { values, .. }] => values.len() == 1,
            _ => false,
        }
    }
}

/// The single column both covers read, if they read the same one.
fn same_column(a: &Cover, b: &Cover) -> bool {
    match (a.sources.as_slice(), b.sources.as_slice()) {
        ([KeySource::Column { column: x, .. }], [KeySource::Column { column: y, .. }]) => x == y,
        _ => false,
    }
}

/// Adds conjunct `e` (on the same column) to a single-column cover's condition, so that
/// `x ge a and x lt b` is one range of the index rather than two halves of the table.
fn narrow(c: &mut Cover, e: &Expr) {
    if let [KeySource::Column { condition, .. }] = c.sources.as_mut_slice() {
        match &mut condition.expr {
            Expr::And(items) => items.push(e.clone()),
            first => *first = Expr::And(vec![first.clone(), e.clone()]),
        }
    }
}

fn cover(e: &Expr, s: &Storage, indexed: &dyn Fn(&str) -> bool) -> Option<Cover> {
    match e {
        Expr::Not(inner) => match &**inner {
            Expr::Not(twice) => cover(twice, s, indexed),
            _ => None,
        },
        Expr::And(items) => {
            // The narrowest kind of conjunct: fewest sources, equality before ranges.
            let best = items.iter().filter_map(|i| cover(i, s, indexed)).min_by_key(|c| (c.sources.len(), rank(c)))?;
            Some(Cover { exact: false, ..best })
        }
        Expr::Or(items) => {
            let mut sources = Vec::new();
            let mut exact = true;
            for item in items {
                let c = cover(item, s, indexed)?;
                exact &= c.exact;
                sources.extend(c.sources);
            }
            Some(Cover { sources, exact })
        }
        Expr::Cmp { op, left, right } => {
            let (property, value) = match (left, right) {
                (Operand::Prop(p), Operand::Lit(l)) | (Operand::Lit(l), Operand::Prop(p)) => (p, l),
                _ => return None,
            };
            let ordering = matches!(op, CmpOp::Eq | CmpOp::Gt | CmpOp::Ge | CmpOp::Lt | CmpOp::Le);
            if !ordering || !is_value(value) {
                return None;
            }
            column_source(property, e, s, indexed)
        }
        Expr::In { operand: Operand::Prop(property), items } => {
            if items.is_empty() || !items.iter().all(is_value) {
                return None;
            }
            column_source(property, e, s, indexed)
        }
        Expr::Lambda { coll: Coll::Strings(name), all: false, id, body: Some(body), .. } => {
            if !indexed(name) || s.element_table(name).is_none() {
                return None;
            }
            let mut values = Vec::new();
            equal_strings(body, *id, &mut values)?;
            Some(Cover { sources: vec![KeySource::Elements { property: name, values }], exact: true })
        }
        _ => None,
    }
}

/// Equality sources sort before ranges, since a range may hold any share of the rows.
fn rank(c: &Cover) -> u8 {
    let range = c.sources.iter().any(|s| match s {
        KeySource::Column { condition, .. } => matches!(condition.expr, Expr::Cmp { op, .. } if op != CmpOp::Eq),
        KeySource::Elements { .. } => false,
    });
    u8::from(range)
}

/// A literal an index can seek to: not null (null tests are left to the rows).
fn is_value(l: &Literal) -> bool {
    matches!(l, Literal::Str(_) | Literal::DateTime(_) | Literal::Enum(..))
}

fn column_source(p: &Prop, e: &Expr, s: &Storage, indexed: &dyn Fn(&str) -> bool) -> Option<Cover> {
    let Prop::Declared { name, .. } = p else { return None };
    let column = s.column(name).filter(|_| indexed(name))?;
    let source = KeySource::Column { property: name, column, condition: Filter { expr: e.clone() } };
    Some(Cover { sources: vec![source], exact: true })
}

/// Collects the strings lambda variable `var` must equal for `e` to hold; `None` when `e` is not
/// only such equality tests (joined by `or`).
pub(crate) fn equal_strings(e: &Expr, var: usize, out: &mut Vec<String>) -> Option<()> {
    let is_var = |o: &Operand| matches!(o, Operand::Prop(Prop::Element { id, .. }) if *id == var);
    match e {
        Expr::Cmp { op: CmpOp::Eq, left, right } => match (left, right) {
            (v, Operand::Lit(Literal::Str(s))) | (Operand::Lit(Literal::Str(s)), v) if is_var(v) => {
                out.push(s.clone());
                Some(())
            }
            _ => None,
        },
        Expr::In { operand, items } if is_var(operand) && !items.is_empty() => {
            for item in items {
                let Literal::Str(s) = item else { return None };
                out.push(s.clone());
            }
            Some(())
        }
        Expr::Or(items) => items.iter().try_for_each(|i| equal_strings(i, var, out)),
        Expr::Not(inner) => match &**inner {
            Expr::Not(twice) => equal_strings(twice, var, out),
            _ => None,
        },
        _ => None,
    }
}
