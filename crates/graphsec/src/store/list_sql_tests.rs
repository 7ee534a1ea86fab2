//! Pins the SQL text and parameters [`list_sql`] and [`count_sql`] produce, on both dialects,
//! for filters and orders that reach every kind of member, walking in sort order and, where an
//! index covers the filter, driven from each cover. The pinned text is
//! `testdata/list_sql.txt`; delete it and run the test to pin the current output again.
#![allow(clippy::unwrap_used)]

use super::plan::{count_sql, covers, list_sql};
use super::{ListRequest, Scope};
use crate::domain::members;
use odata::{Dialect, SqlBuilder};
use serde_json::json;

const FILTERS: &[&str] = &[
    "userPrincipalName eq 'a@b'",
    "tags/any(t: t eq 'rare') or tags/any(t: t in ('a', 'b'))",
    "displayName eq 'x' and createdDateTime ge 2024-01-01T00:00:00Z and riskScore in ('1', '2')",
    "id eq 'x' and azureTenantId ne 'y'",
    "not (displayName gt 'm')",
    "createdDateTime ge 2024-01-01T00:00:00Z or lastModifiedDateTime lt 2024-02-01T00:00:00Z",
    "riskScore in ('1', null) and azureSubscriptionId eq null",
    "not (riskScore in ('1', '2'))",
    "vendorInformation/provider eq 'MS' and vendorInformation/subProvider ne null",
    "tags/any(t: t eq 'HVA')",
    "tags/any(t: t eq 'a' or t in ('b', 'c'))",
    "tags/all(t: t ne 'a')",
    "tags/any(t: startswith(t, 'x'))",
    "tags/any() and not tags/all(t: t eq 'z')",
    "tags/$count gt 1",
    "accounts/any(a: a/status eq 'active' and a/lastSeenDateTime gt 2020-01-01T00:00:00Z)",
    "accounts/all(a: a/service ne null) or accounts/$count eq 0",
    "Extra eq 'x' or score gt 1.5 or flag or custom eq null",
    "not flag and not (Extra lt 'q')",
    "contains(tolower(displayName), 'bob') and endswith(userPrincipalName, '@x')",
    "not startswith(toupper(displayName), 'A')",
];

const ORDERS: &[&str] =
    &["", "displayName desc", "vendorInformation/vendor asc, createdDateTime desc", "Extra", "id desc"];

fn parse_filter(text: &str) -> odata::Filter {
    odata::parse_filter(text, members::schema()).unwrap()
}

fn parse_orderby(text: &str) -> odata::OrderBy {
    odata::parse_orderby(text, members::schema()).unwrap()
}

fn default_order() -> odata::OrderBy {
    odata::OrderBy::default_order(members::schema())
}

fn show(out: &mut String, title: &str, b: SqlBuilder) {
    let (sql, params) = b.into_parts();
    out.push_str(&format!("## {title}\n{sql}\n{params:?}\n\n"));
}

fn pinned_text() -> String {
    let doc = json!({"id": "p'1", "displayName": null, "createdDateTime": "2024-01-01T00:00:00.0000000Z",
                     "vendorInformation": {"vendor": "V"}, "Extra": "e"});
    let mut out = String::new();
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        for text in FILTERS {
            let filter = parse_filter(text);
            let request =
                ListRequest { filter: Some(filter.clone()), order: default_order(), after: None, skip: 0, limit: 10 };
            let scope = Scope::Tenant("t1".into());
            show(
                &mut out,
                &format!("{dialect:?} list {text}"),
                list_sql(dialect, "p.doc, p.version", &scope, &request, None),
            );
            show(
                &mut out,
                &format!("{dialect:?} count {text}"),
                count_sql(dialect, &Scope::AllTenants, Some(&filter), None),
            );
            for (i, cover) in covers(dialect, Some(&filter)).iter().enumerate() {
                let request = ListRequest { order: parse_orderby("displayName desc"), ..request.clone() };
                show(
                    &mut out,
                    &format!("{dialect:?} list driven by cover {i} {text}"),
                    list_sql(dialect, "p.doc, p.version", &scope, &request, Some(cover)),
                );
                show(
                    &mut out,
                    &format!("{dialect:?} count driven by cover {i} {text}"),
                    count_sql(dialect, &Scope::AllTenants, Some(&filter), Some(cover)),
                );
            }
        }
        for text in ORDERS {
            let order = if text.is_empty() { default_order() } else { parse_orderby(text) };
            let after = Some(order.sort_key(&doc));
            let request = ListRequest { filter: None, order, after, skip: 3, limit: 5 };
            show(
                &mut out,
                &format!("{dialect:?} order {text}"),
                list_sql(dialect, "p.doc", &Scope::AllTenants, &request, None),
            );
            let filter = parse_filter("tags/any(t: t eq 'HVA')");
            let cover = covers(dialect, Some(&filter)).remove(0);
            let request = ListRequest { filter: Some(filter), ..request };
            show(
                &mut out,
                &format!("{dialect:?} order driven {text}"),
                list_sql(dialect, "p.doc", &Scope::AllTenants, &request, Some(&cover)),
            );
        }
    }
    out
}

#[test]
fn list_and_count_sql_are_pinned() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/testdata/list_sql.txt");
    let actual = pinned_text();
    let Ok(pinned) = std::fs::read_to_string(&path) else {
        std::fs::write(&path, &actual).unwrap();
        panic!("pinned the current SQL in {}; run again", path.display());
    };
    assert!(pinned == actual, "the SQL differs from {}:\n{actual}", path.display());
}
