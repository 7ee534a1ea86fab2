//! Plan choice: which cover a query starts from, given the capped key counts.
#![allow(clippy::unwrap_used)]

use super::*;

fn parse(text: &str) -> odata::Filter {
    odata::parse_filter(text, members::schema()).unwrap()
}

#[test]
fn only_indexed_members_give_covers() {
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        let f = parse("tags/any(t: t eq 'a') and displayName eq 'x' and azureSubscriptionId eq 's'");
        assert_eq!(covers(dialect, Some(&f)).len(), 2);
        assert!(covers(dialect, Some(&parse("azureSubscriptionId eq 's'"))).is_empty());
        assert!(covers(dialect, Some(&parse("contains(displayName, 'x')"))).is_empty());
        assert!(covers(dialect, Some(&parse("vendorInformation/provider eq 'x'"))).is_empty());
        assert!(covers(dialect, None).is_empty());
    }
}

#[test]
fn the_fewest_keys_under_the_limit_drive() {
    let f = parse("tags/any(t: t eq 'a') and displayName eq 'x' and riskScore ge '5'");
    let c = covers(Dialect::Sqlite, Some(&f));
    assert_eq!(c.len(), 3);
    let choose = |estimates: &[i64]| choose(Dialect::Sqlite, &c, estimates, None);
    assert_eq!(choose(&[5000, 7, 10_001]), Some(&c[1]));
    assert_eq!(choose(&[10_000, 10_001, 10_001]), Some(&c[0]));
    assert_eq!(choose(&[10_001, 10_001, 20_002]), None);
    assert_eq!(choose(&[0, 0, 0]), Some(&c[0]));
}

#[test]
fn a_list_that_reads_every_key_s_row_drives_from_fewer_keys() {
    let order = |text: &str| odata::parse_orderby(text, members::schema()).unwrap();
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        let exact = covers(dialect, Some(&parse("riskScore eq '5'")));
        let inexact = covers(dialect, Some(&parse("riskScore eq '5' and contains(displayName, 'x')")));
        let (by_key, by_name) = (odata::OrderBy::default_order(members::schema()), order("displayName"));
        // Sorted by the key, an exact cover's keys are the page without reading a row.
        assert!(choose(dialect, &exact, &[DRIVE_LIMIT], Some(&by_key)).is_some());
        for (c, o) in [(&exact, &by_name), (&inexact, &by_key)] {
            assert!(choose(dialect, c, &[ROW_DRIVE_LIMIT], Some(o)).is_some());
            assert!(choose(dialect, c, &[ROW_DRIVE_LIMIT + 1], Some(o)).is_none());
        }
        // A count reads no page: its limit is the larger one.
        assert!(choose(dialect, &inexact, &[DRIVE_LIMIT], None).is_some());
    }
}

#[test]
fn a_count_of_an_exact_cover_needs_no_estimate() {
    let exact_filters =
        ["tags/any(t: t eq 'a' or t eq 'b')", "riskScore in ('1', '2')", "createdDateTime lt 2020-01-01T00:00:00Z"];
    for text in exact_filters {
        assert!(exact(&covers(Dialect::Postgres, Some(&parse(text)))).is_some(), "{text}");
    }
    let inexact =
        ["tags/any(t: t eq 'a') and contains(displayName, 'x')", "riskScore in ('1', null)", "not (riskScore eq '1')"];
    for text in inexact {
        assert!(exact(&covers(Dialect::Postgres, Some(&parse(text)))).is_none(), "{text}");
    }
}

#[test]
fn the_estimate_counts_a_covers_sources_together_up_to_one_past_its_limit() {
    let f = parse("tags/any(t: t eq 'a') or displayName eq 'x'");
    let c = covers(Dialect::Sqlite, Some(&f));
    let (sql, params) = estimate_sql(Dialect::Sqlite, &Scope::Tenant("t".into()), &c, None).into_parts();
    assert_eq!(
        sql,
        "SELECT (SELECT COUNT(*) FROM (SELECT e.tenant, e.id FROM profile_tags e WHERE e.tenant = ?1 AND e.tag IN (?2) UNION ALL SELECT k.tenant, k.id FROM profiles k WHERE k.tenant = ?3 AND ((k.display_name = ?4)) LIMIT ?5) AS capped)"
    );
    assert_eq!(params[4], SqlValue::Int(DRIVE_LIMIT + 1), "a count");
    let by_name = odata::parse_orderby("displayName", members::schema()).unwrap();
    let (_, params) = estimate_sql(Dialect::Sqlite, &Scope::Tenant("t".into()), &c, Some(&by_name)).into_parts();
    assert_eq!(params[4], SqlValue::Int(ROW_DRIVE_LIMIT + 1), "a list that reads each row to sort it");
}

#[test]
fn a_range_on_one_column_is_one_cover() {
    let f = parse("createdDateTime ge 2020-01-01T00:00:00Z and createdDateTime lt 2020-01-02T00:00:00Z");
    let c = covers(Dialect::Sqlite, Some(&f));
    assert_eq!(c.len(), 1);
    assert!(c[0].exact);
    let (sql, _) = estimate_sql(Dialect::Sqlite, &Scope::AllTenants, &c, None).into_parts();
    assert!(sql.contains("((k.created_date_time >= ?1) AND (k.created_date_time < ?2))"), "{sql}");
    let f = parse(
        "createdDateTime ge 2020-01-01T00:00:00Z and riskScore eq '1' and createdDateTime lt 2021-01-01T00:00:00Z",
    );
    let c = covers(Dialect::Sqlite, Some(&f));
    assert_eq!(c.len(), 2);
    assert!(c.iter().all(|c| !c.exact));
}

#[test]
fn one_equality_ordered_by_id_is_read_in_order_without_an_estimate() {
    let by_id = odata::OrderBy::default_order(members::schema());
    let by_name = odata::parse_orderby("displayName", members::schema()).unwrap();
    for text in ["tags/any(t: t eq 'a')", "riskScore eq '1'", "riskScore in ('1')"] {
        let c = covers(Dialect::Sqlite, Some(&parse(text)));
        assert!(in_order(Dialect::Sqlite, &c, &by_id).is_some(), "{text}");
        assert!(in_order(Dialect::Sqlite, &c, &by_name).is_none(), "{text}");
    }
    for text in ["tags/any(t: t in ('a', 'b'))", "riskScore ge '1'", "riskScore eq '1' and contains(displayName, 'x')"]
    {
        let c = covers(Dialect::Sqlite, Some(&parse(text)));
        assert!(in_order(Dialect::Sqlite, &c, &by_id).is_none(), "{text}");
    }
}
