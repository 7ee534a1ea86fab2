//! Differential tests: the SQL (run on an in-memory SQLite, with the test entity stored in
//! tables and read from its JSON document only) must select and order exactly what the
//! evaluator does, and keyset paging must reproduce the full order.
#![allow(clippy::unwrap_used)]

mod support;

use odata::plan::{Access, Page, Table};
use odata::{Dialect, OrderBy, SortKey, SqlBuilder, SqlValue, Storage, parse_filter, parse_orderby, parse_select};
use proptest::prelude::*;
use proptest::sample::select;
use rusqlite::Connection;
use rusqlite::types::Value as Sql;
use serde_json::{Map, Value, json};

use support::{DOCUMENT_ONLY, SCHEMA, tables};

const WORDS: &[&str] = &[
    "alice", "Alice", "ALICE", "bob", "", "ä", "Ä", "Ärger", "x'y", "日本", "a😀", "ab", "abc", "b", "HVA", "hva",
    "%_", "a b", "B", "z",
];

fn word() -> BoxedStrategy<String> {
    prop_oneof![
        6 => select(WORDS).prop_map(String::from),
        3 => "[a-cA-C'ä😀 ]{0,4}",
        1 => "\\PC{0,5}",
    ]
    .boxed()
}

fn opt<T: std::fmt::Debug + Clone + 'static>(s: impl Strategy<Value = T> + 'static) -> BoxedStrategy<Option<T>> {
    prop::option::weighted(0.75, s).boxed()
}

const DATES: &[&str] = &[
    "1999-12-31T23:59:59.9999999Z",
    "2000-01-01T05:00:00.0000000Z",
    "2020-01-01T00:00:00.0000000Z",
    "2020-01-01T00:00:00.0000001Z",
    "2021-06-15T12:30:00.0000000Z",
];

const DATE_LITERALS: &[&str] = &[
    "1999-12-31T23:59:59.9999999Z",
    "2000-01-01T00:00:00-05:00",
    "2020-01-01T01:00:00+01:00",
    "2020-01-01T00:00:00.0000001Z",
    "2021-06-15T12:30Z",
    "2021-06-15T12:30:00.5Z",
];

const STATUS: &[&str] = &["unknown", "staged", "active", "suspended", "deleted", "unknownFutureValue"];

fn date() -> impl Strategy<Value = String> {
    select(DATES).prop_map(String::from)
}

fn account() -> impl Strategy<Value = Value> {
    prop_oneof![
        9 => (opt(word()), opt(date()), opt(word()), opt(word()), opt(word()), opt(select(STATUS))).prop_map(
            |(d, l, r, s, n, st)| json!({"displayName": d, "lastSeenDateTime": l, "riskScore": r,
                "service": s, "signinName": n, "status": st})
        ),
        1 => Just(Value::Null),
    ]
}

fn dynamic() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        (-3i64..4).prop_map(|i| Some(json!(i))),
        select(&[0.5f64, 1.5, -2.0, 2.0, 3.25][..]).prop_map(|f| Some(json!(f))),
        word().prop_map(|s| Some(json!(s))),
        any::<bool>().prop_map(|b| Some(json!(b))),
        Just(Some(json!({"a": 1}))),
        Just(Some(json!(["x"]))),
    ]
}

type Fields = (
    (Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>),
    (Option<Vec<String>>, Option<Vec<Value>>, Option<Vec<Option<String>>>),
    (Option<Value>, Option<Value>, Option<Value>),
);

fn fields() -> impl Strategy<Value = Fields> {
    (
        (opt(word()), opt(word()), opt(word()), opt(word()), opt(date()), opt(date())),
        (
            opt(prop::collection::vec(
                select(&["HVA", "hva", "alice", "x'y", "b", "日本", ""][..]).prop_map(String::from),
                0..4,
            )),
            opt(prop::collection::vec(account(), 0..3)),
            opt(prop::collection::vec(opt(word()), 4..=4)),
        ),
        (dynamic(), dynamic(), dynamic()),
    )
}

fn build(i: usize, prefix: &str, f: &Fields) -> Value {
    let ((upn, dn, risk, sub, created, modified), (tags, accounts, vendor), (score, flag, extra)) = f;
    let mut m = Map::new();
    m.insert("id".into(), json!(format!("{prefix}{i}")));
    m.insert("accounts".into(), json!(accounts));
    m.insert("azureSubscriptionId".into(), json!(sub));
    m.insert("azureTenantId".into(), json!("t1"));
    m.insert("createdDateTime".into(), json!(created));
    m.insert("displayName".into(), json!(dn));
    m.insert("lastModifiedDateTime".into(), json!(modified));
    m.insert("riskScore".into(), json!(risk));
    m.insert("tags".into(), json!(tags));
    m.insert("userPrincipalName".into(), json!(upn));
    let vendor = vendor
        .as_ref()
        .map(|v| json!({"provider": v[0], "providerVersion": v[1], "subProvider": v[2], "vendor": v[3]}));
    m.insert("vendorInformation".into(), vendor.unwrap_or(Value::Null));
    for (name, v) in [("score", score), ("flag", flag), ("Extra", extra)] {
        if let Some(v) = v {
            m.insert(name.into(), v.clone());
        }
    }
    Value::Object(m)
}

fn docs() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec((select(&["a", "B", "ä", "z", "a-"][..]), fields()), 0..20)
        .prop_map(|v| v.iter().enumerate().map(|(i, (p, f))| build(i, p, f)).collect())
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn leaf() -> BoxedStrategy<String> {
    let strprop = select(
        &[
            "userPrincipalName",
            "displayName",
            "riskScore",
            "azureSubscriptionId",
            "id",
            "vendorInformation/provider",
            "VendorInformation/VENDOR",
            "DisplayName",
            "azureTenantId",
        ][..],
    );
    let sexpr: BoxedStrategy<String> = prop_oneof![
        3 => strprop.clone().prop_map(String::from),
        1 => strprop.clone().prop_map(|p| format!("tolower({p})")),
        1 => strprop.clone().prop_map(|p| format!("toupper({p})")),
    ]
    .boxed();
    let op = select(&["eq", "ne", "gt", "ge", "lt", "le"][..]);
    let lit = word().prop_map(|s| quote(&s)).boxed();
    let lit_or_null = prop_oneof![4 => lit.clone(), 1 => Just("null".to_owned())];
    let func = select(&["startswith", "endswith", "contains"][..]);
    let dtprop = select(&["createdDateTime", "lastModifiedDateTime"][..]);
    let dtlit = select(DATE_LITERALS);
    let status_lit = select(STATUS)
        .prop_flat_map(|s| select(vec![format!("'{s}'"), format!("microsoft.graph.accountStatus'{s}'")]))
        .boxed();
    let tag_body = prop_oneof![
        (op.clone(), lit.clone()).prop_map(|(o, l)| format!("t {o} {l}")),
        (func.clone(), lit.clone()).prop_map(|(f, l)| format!("{f}(t, {l})")),
        Just("t eq displayName".to_owned()),
        Just("tolower(t) eq 'hva'".to_owned()),
    ];
    let account_body = prop_oneof![
        (select(&["eq", "ne"][..]), status_lit.clone()).prop_map(|(o, l)| format!("a/status {o} {l}")),
        prop::collection::vec(status_lit, 1..3).prop_map(|v| format!("a/Status in ({}, null)", v.join(", "))),
        (op.clone(), dtlit.clone()).prop_map(|(o, d)| format!("a/lastSeenDateTime {o} {d}")),
        (op.clone(), lit.clone()).prop_map(|(o, l)| format!("a/displayName {o} {l}")),
        (func.clone(), lit.clone()).prop_map(|(f, l)| format!("{f}(a/service, {l})")),
        Just("a/signinName eq null".to_owned()),
        Just("a/displayName eq displayName".to_owned()),
        Just("a/riskScore ne riskScore".to_owned()),
    ];
    let dynname = select(&["score", "flag", "Extra", "SCORE"][..]);
    let num = prop_oneof![
        (-3i64..4).prop_map(|i| i.to_string()),
        select(&["0.5", "1.5", "-2.0", "2", "3.25"][..]).prop_map(String::from)
    ]
    .boxed();
    prop_oneof![
        (sexpr.clone(), op.clone(), lit.clone()).prop_map(|(p, o, l)| format!("{p} {o} {l}")),
        (strprop.clone(), select(&["eq", "ne"][..])).prop_map(|(p, o)| format!("{p} {o} null")),
        (func.clone(), sexpr.clone(), lit.clone()).prop_map(|(f, p, l)| format!("{f}({p}, {l})")),
        (func.clone(), lit.clone(), strprop.clone()).prop_map(|(f, l, p)| format!("{f}({l}, {p})")),
        (dtprop.clone(), op.clone(), dtlit).prop_map(|(p, o, d)| format!("{p} {o} {d}")),
        (dtprop, op.clone(), select(&["createdDateTime", "lastModifiedDateTime"][..]))
            .prop_map(|(p, o, q)| format!("{p} {o} {q}")),
        (strprop.clone(), prop::collection::vec(lit_or_null, 1..4))
            .prop_map(|(p, v)| format!("{p} in ({})", v.join(", "))),
        (strprop.clone(), op.clone(), strprop).prop_map(|(p, o, q)| format!("{p} {o} {q}")),
        (select(&["any", "all"][..]), tag_body).prop_map(|(q, b)| format!("tags/{q}(t: {b})")),
        (select(&["tags", "accounts"][..]), op.clone(), 0i64..4).prop_map(|(c, o, n)| format!("{c}/$count {o} {n}")),
        select(&["tags/any()", "accounts/any()", "true", "false", "flag", "not flag"][..]).prop_map(String::from),
        (select(&["any", "all"][..]), account_body).prop_map(|(q, b)| format!("accounts/{q}(a: {b})")),
        (dynname.clone(), op.clone(), num.clone()).prop_map(|(d, o, n)| format!("{d} {o} {n}")),
        (dynname.clone(), op, lit.clone()).prop_map(|(d, o, l)| format!("{d} {o} {l}")),
        (dynname.clone(), select(&["eq null", "ne null", "eq true", "ne false"][..]))
            .prop_map(|(d, t)| format!("{d} {t}")),
        (func, dynname.clone(), lit.clone()).prop_map(|(f, d, l)| format!("{f}({d}, {l})")),
        (dynname, num, lit).prop_map(|(d, n, l)| format!("{d} in ({n}, {l}, null)")),
    ]
    .boxed()
}

fn filter() -> impl Strategy<Value = String> {
    leaf().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
            inner.clone().prop_map(|a| format!("not ({a})")),
            (select(&["any", "all"][..]), inner.clone()).prop_map(|(q, a)| format!("tags/{q}(x: ({a}) or x eq 'HVA')")),
            (select(&["any", "all"][..]), inner)
                .prop_map(|(q, a)| format!("accounts/{q}(y: ({a}) and y/status ne 'deleted')")),
        ]
    })
}

fn orderby() -> impl Strategy<Value = String> {
    let keys = [
        "displayName",
        "userPrincipalName",
        "riskScore",
        "createdDateTime",
        "vendorInformation/provider",
        "Extra",
        "score",
        "id",
        "azureSubscriptionId",
        "lastModifiedDateTime",
    ];
    prop::sample::subsequence(keys.to_vec(), 0..=3).prop_shuffle().prop_flat_map(|ks| {
        prop::collection::vec(select(&["", " asc", " desc"][..]), ks.len())
            .prop_map(move |dirs| ks.iter().zip(dirs).map(|(k, d)| format!("{k}{d}")).collect::<Vec<_>>().join(", "))
    })
}

fn setup(docs: &[Value]) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(support::SQLITE_DDL).unwrap();
    for d in docs {
        // Every profile also exists in tenant t2 with other tags: the lambdas must not see them.
        for tenant in ["t1", "t2"] {
            let mut d = d.clone();
            d["azureTenantId"] = json!(tenant);
            if tenant == "t2" {
                d["tags"] = json!(["HVA", "alice", "zzz"]);
            }
            let s = |k: &str| d[k].as_str().map(str::to_owned);
            let tag_strings: Vec<&Value> =
                d["tags"].as_array().into_iter().flatten().filter(|t| t.is_string()).collect();
            let tags_json = (!tag_strings.is_empty()).then(|| json!(tag_strings).to_string());
            conn.execute(
                "INSERT INTO profiles (tenant, id, user_principal_name, display_name, risk_score, \
                 azure_subscription_id, created_date_time, last_modified_date_time, tags_json, doc) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                rusqlite::params![
                    tenant,
                    s("id"),
                    s("userPrincipalName"),
                    s("displayName"),
                    s("riskScore"),
                    s("azureSubscriptionId"),
                    s("createdDateTime"),
                    s("lastModifiedDateTime"),
                    tags_json,
                    d.to_string()
                ],
            )
            .unwrap();
            if let Some(tags) = d["tags"].as_array() {
                for t in tags {
                    conn.execute(
                        "INSERT OR IGNORE INTO profile_tags (tenant, tag, id) VALUES (?1, ?2, ?3)",
                        rusqlite::params![tenant, t.as_str().unwrap(), s("id")],
                    )
                    .unwrap();
                }
            }
        }
    }
    conn
}

fn to_sql(v: &SqlValue) -> Sql {
    match v {
        SqlValue::Null => Sql::Null,
        SqlValue::Text(s) => Sql::Text(s.clone()),
        SqlValue::Int(i) => Sql::Integer(*i),
        SqlValue::Real(r) => Sql::Real(*r),
        SqlValue::Bool(b) => Sql::Integer(i64::from(*b)),
    }
}

/// The storages the SQLite queries run on.
fn storages() -> [&'static Storage; 2] {
    [tables(Dialect::Sqlite), &DOCUMENT_ONLY]
}

fn query(
    conn: &Connection,
    s: &Storage,
    f: &odata::Filter,
    o: &OrderBy,
    after: Option<&SortKey>,
    limit: Option<i64>,
) -> Vec<Value> {
    let mut b = SqlBuilder::new(Dialect::Sqlite);
    b.push_sql("SELECT p.doc FROM profiles p WHERE p.tenant = ");
    b.push_param(SqlValue::Text("t1".into()));
    b.push_sql(" AND ");
    f.render_sql(s, &mut b);
    if let Some(k) = after {
        b.push_sql(" AND ");
        o.render_after(k, s, &mut b);
    }
    b.push_sql(" ");
    o.render_order_by(s, &mut b);
    if let Some(n) = limit {
        b.push_sql(" LIMIT ");
        b.push_param(SqlValue::Int(n));
    }
    let (sql, params) = b.into_parts();
    let mut stmt = conn.prepare(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params.iter().map(to_sql)), |r| r.get::<_, String>(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.map(|r| serde_json::from_str(&r.unwrap()).unwrap()).collect()
}

/// The scope of every planned statement: tenant t1.
fn in_t1(alias: &str, b: &mut SqlBuilder) {
    b.push_sql(&format!("{alias}.tenant = "));
    b.push_param(SqlValue::Text("t1".into()));
}

/// The page statement of `odata::plan`, walking or driven from a cover.
fn planned(
    d: Dialect,
    s: &Storage,
    f: &odata::Filter,
    o: &OrderBy,
    after: Option<&SortKey>,
    limit: i64,
    access: Access<'_>,
) -> SqlBuilder {
    let table = Table { storage: s, key: &["tenant", "id"], scope: &in_t1 };
    let page = Page { columns: "p.doc", filter: Some(f), order: o, after, limit, offset: 0 };
    table.render_page(&page, access, d)
}

fn run(conn: &Connection, b: SqlBuilder) -> Vec<Value> {
    let (sql, params) = b.into_parts();
    let mut stmt = conn.prepare(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params.iter().map(to_sql)), |r| r.get::<_, String>(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.map(|r| serde_json::from_str(&r.unwrap()).unwrap()).collect()
}

/// Every plan the stores may run for `f`: the walk, and one driven from each cover.
fn accesses(covers: &[odata::Cover]) -> Vec<Access<'_>> {
    std::iter::once(Access::Walk).chain(covers.iter().map(Access::Drive)).collect()
}

/// Every declared property of the test schema with a column, and tags, have indexes.
fn indexed(_: &str) -> bool {
    true
}

fn run_count(conn: &Connection, s: &Storage, f: &odata::Filter, access: Access<'_>) -> i64 {
    let table = Table { storage: s, key: &["tenant", "id"], scope: &in_t1 };
    let (sql, params) = table.render_count(Some(f), access, Dialect::Sqlite).into_parts();
    conn.query_row(&sql, rusqlite::params_from_iter(params.iter().map(to_sql)), |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn ids(docs: &[Value]) -> Vec<String> {
    docs.iter().map(|d| d["id"].as_str().unwrap().to_owned()).collect()
}

/// Profiles where each indexed member has one common value (most rows), a few rare ones and
/// nulls, so covers name anything from no key to nearly every key.
fn skewed_docs() -> impl Strategy<Value = Vec<Value>> {
    let value = |common: &'static str, rare: &'static [&'static str]| prop_oneof![6 => Just(Some(common.to_owned())), 2 => select(rare).prop_map(|s| Some(s.to_owned())), 1 => Just(None)];
    let tags = prop::collection::vec(prop_oneof![5 => Just("common"), 1 => select(&["rare", "odd", "HVA"][..])], 0..3);
    let one = (
        value("Common Name", &["Rare Name", "Odd", "a"]),
        value("50", &["1", "99", "100"]),
        prop_oneof![3 => Just(Some("2021-06-15T12:30:00.0000000Z".to_owned())), 2 => opt(date())],
        tags,
    );
    prop::collection::vec(one, 20..60).prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(i, (name, risk, created, tags))| {
                json!({"id": format!("s{i:02}"), "azureTenantId": "t1", "displayName": name, "riskScore": risk,
                       "createdDateTime": created, "userPrincipalName": format!("u{}", i % 7), "tags": tags,
                       "accounts": [], "vendorInformation": null})
            })
            .collect()
    })
}

/// Filters an index can answer, alone, combined, and next to parts it cannot.
fn indexed_filter() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        select(&["Common Name", "Rare Name", "Odd", "none"][..]).prop_map(|v| format!("displayName eq '{v}'")),
        (select(&["gt", "ge", "lt", "le"][..]), select(&["1", "50", "99"][..]))
            .prop_map(|(o, v)| format!("riskScore {o} '{v}'")),
        select(&["('1', '99')", "('50')", "('100', null)"][..]).prop_map(|v| format!("riskScore in {v}")),
        (select(&["ge", "lt"][..]), select(DATE_LITERALS)).prop_map(|(o, d)| format!("createdDateTime {o} {d}")),
        select(&["common", "rare", "odd", "none"][..]).prop_map(|v| format!("tags/any(t: t eq '{v}')")),
        Just("tags/any(t: t in ('rare', 'odd') or t eq 'HVA')".to_owned()),
        Just("userPrincipalName eq 'u3'".to_owned()),
        Just("contains(displayName, 'a')".to_owned()),
        Just("not (displayName eq 'Odd')".to_owned()),
    ];
    leaf.prop_recursive(2, 6, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("({a}) or ({b})")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn plans_agree_on_rare_and_common_values(docs in skewed_docs(), filter in indexed_filter(), order in orderby(), page in 1i64..7) {
        let f = parse_filter(&filter, &SCHEMA).unwrap();
        let o = if order.is_empty() { OrderBy::default_order(&SCHEMA) } else { parse_orderby(&order, &SCHEMA).unwrap() };
        let conn = setup(&docs);
        let mut expected: Vec<Value> = docs.iter().filter(|d| f.matches(d)).cloned().collect();
        expected.sort_by(|a, b| o.compare(a, b));
        let s = tables(Dialect::Sqlite);
        let covers = f.index_covers(s, &indexed);

        // The capped estimate bounds the rows a cover can yield, and a cover never misses a row.
        let table = Table { storage: s, key: &["tenant", "id"], scope: &in_t1 };
        let (sql, params) = table.render_estimate(&covers, &|_| 1000, Dialect::Sqlite).into_parts();
        if !covers.is_empty() {
            let estimates: Vec<i64> = conn.query_row(&sql, rusqlite::params_from_iter(params.iter().map(to_sql)), |r| {
                (0..covers.len()).map(|i| r.get(i)).collect()
            }).unwrap();
            for n in estimates {
                prop_assert!(n >= expected.len() as i64, "estimate {} < {} for {}", n, expected.len(), filter);
            }
        }
        for (i, access) in accesses(&covers).iter().enumerate() {
            let mut paged = Vec::new();
            let mut after: Option<SortKey> = None;
            loop {
                let rows = run(&conn, planned(Dialect::Sqlite, s, &f, &o, after.as_ref(), page, *access));
                let Some(last) = rows.last() else { break };
                after = Some(o.sort_key(last));
                let n = rows.len() as i64;
                paged.extend(rows);
                if n < page { break; }
            }
            prop_assert_eq!(ids(&paged), ids(&expected), "plan {}: filter {} order {}", i, filter, o.canonical());
            prop_assert_eq!(run_count(&conn, s, &f, *access), expected.len() as i64, "count plan {}: {}", i, filter);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, max_shrink_iters: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn sql_agrees_with_evaluator(docs in docs(), filter in filter(), order in orderby(), page in 1i64..5) {
        let f = match parse_filter(&filter, &SCHEMA) {
            // The generator may nest lambdas, which the parser refuses by design.
            Err(e) if e.message.contains("cannot be nested") => return Ok(()),
            parsed => parsed.map_err(|e| TestCaseError::fail(format!("{filter}: {e}")))?,
        };
        let o = if order.is_empty() { OrderBy::default_order(&SCHEMA) } else { parse_orderby(&order, &SCHEMA).unwrap() };
        let conn = setup(&docs);

        let mut expected: Vec<Value> = docs.iter().filter(|d| f.matches(d)).cloned().collect();
        expected.sort_by(|a, b| o.compare(a, b));
        for s in storages() {
            let got = query(&conn, s, &f, &o, None, None);
            prop_assert_eq!(ids(&got), ids(&expected), "filter {} order {} on {:?}", filter, o.canonical(), s);

            let mut paged = Vec::new();
            let mut after: Option<SortKey> = None;
            loop {
                let rows = query(&conn, s, &f, &o, after.as_ref(), Some(page));
                let Some(last) = rows.last() else { break };
                let key = o.sort_key(last);
                prop_assert!(o.validate_key(&key).is_ok());
                // Round-trip the key as the server's skiptoken would.
                let key: SortKey = serde_json::from_str(&serde_json::to_string(&key).unwrap()).unwrap();
                after = Some(key);
                let n = rows.len() as i64;
                paged.extend(rows);
                prop_assert!(paged.len() <= docs.len());
                if n < page { break; }
            }
            prop_assert_eq!(ids(&paged), ids(&expected), "paged: filter {} order {} on {:?}", filter, o.canonical(), s);
        }

        // Each plan a store may choose, on its own and page by page (a nextLink continues
        // whichever plan the next page runs, so plans alternate here).
        let s = tables(Dialect::Sqlite);
        let covers = f.index_covers(s, &indexed);
        let plans = accesses(&covers);
        for (i, access) in plans.iter().enumerate() {
            let got = run(&conn, planned(Dialect::Sqlite, s, &f, &o, None, 1000, *access));
            prop_assert_eq!(ids(&got), ids(&expected), "plan {:?}: filter {} order {}", access, filter, o.canonical());
            let count = run_count(&conn, s, &f, *access);
            prop_assert_eq!(count, expected.len() as i64, "count {:?}: filter {}", access, filter);
            let mut paged = Vec::new();
            let mut after: Option<SortKey> = None;
            for turn in 0.. {
                let access = plans[(i + turn) % plans.len()];
                let rows = run(&conn, planned(Dialect::Sqlite, s, &f, &o, after.as_ref(), page, access));
                let Some(last) = rows.last() else { break };
                after = Some(o.sort_key(last));
                let n = rows.len() as i64;
                paged.extend(rows);
                prop_assert!(paged.len() <= docs.len());
                if n < page { break; }
            }
            prop_assert_eq!(ids(&paged), ids(&expected), "paged from plan {:?}: filter {} order {}", access, filter, o.canonical());
        }

        // The canonical text means the same and is stable.
        let c = f.canonical();
        let again = parse_filter(&c, &SCHEMA).unwrap();
        prop_assert_eq!(again.canonical(), c.clone());
        for d in &docs {
            prop_assert_eq!(again.matches(d), f.matches(d), "canonical {}", c);
        }
    }

    #[test]
    fn arbitrary_literals_are_bound(s in "\\PC{0,12}", docs in docs()) {
        let conn = setup(&docs);
        let lit = quote(&s);
        let templates = ["displayName eq {}", "contains(userPrincipalName, {})", "tags/any(t: t ne {})", "Extra lt {}"];
        for template in templates {
            let filter = template.replace("{}", &lit);
            let f = parse_filter(&filter, &SCHEMA).unwrap();
            // The SQL text does not depend on the literal at all: it only ever becomes a parameter.
            let reference = parse_filter(&template.replace("{}", "'x'"), &SCHEMA).unwrap();
            for d in [Dialect::Sqlite, Dialect::Postgres] {
                for storage in [tables(d), &DOCUMENT_ONLY] {
                    let (mut b, mut r) = (SqlBuilder::new(d), SqlBuilder::new(d));
                    f.render_sql(storage, &mut b);
                    reference.render_sql(storage, &mut r);
                    prop_assert_eq!(b.sql(), r.sql());
                    prop_assert!(b.params().contains(&SqlValue::Text(s.clone())));
                }
            }
            let o = OrderBy::default_order(&SCHEMA);
            let mut expected: Vec<Value> = docs.iter().filter(|d| f.matches(d)).cloned().collect();
            expected.sort_by(|a, b| o.compare(a, b));
            for storage in storages() {
                let got = query(&conn, storage, &f, &o, None, None);
                prop_assert_eq!(ids(&got), ids(&expected));
            }
        }
    }

    #[test]
    fn parsers_never_panic(s in "\\PC{0,40}", soup in prop::collection::vec(select(&[
        "(", ")", " eq ", " and ", " or ", "not ", "'a'", "tags/any(t: ", "t", "a/status", "accounts/all(a: ",
        "displayName", ",", "/", "$count", " in ", "null", "1", "2020-01-01T00:00:00Z", "startswith(", "tolower(",
        "microsoft.graph.accountStatus'active'", "flag", " desc", "*",
    ][..]), 0..30)) {
        let soup: String = soup.concat();
        for input in [s.as_str(), soup.as_str()] {
            if let Ok(f) = parse_filter(input, &SCHEMA) {
                let mut b = SqlBuilder::new(Dialect::Postgres);
                f.render_sql(tables(Dialect::Postgres), &mut b);
                let _ = f.matches(&json!({"id": "x"}));
                prop_assert_eq!(parse_filter(&f.canonical(), &SCHEMA).map(|g| g.canonical()), Ok(f.canonical()));
            }
            let _ = parse_orderby(input, &SCHEMA);
            let _ = parse_select(input, &SCHEMA);
        }
    }
}

/// PostgreSQL: the same differential check through `psql` (no PostgreSQL client library in the
/// build). Runs when `GRAPHSEC_TEST_POSTGRES` names a server at build time; else it is ignored.
/// Everything happens in temporary tables.
mod postgres {
    use super::*;
    use std::process::Command;

    fn lit(s: &str) -> String {
        format!("'{}'", s.replace('\'', "''"))
    }

    fn opt_lit(v: &Value) -> String {
        v.as_str().map_or_else(|| "NULL".to_owned(), lit)
    }

    fn param(v: &SqlValue) -> String {
        match v {
            SqlValue::Null => "NULL".into(),
            SqlValue::Text(s) => lit(s),
            SqlValue::Int(i) => i.to_string(),
            SqlValue::Real(r) => format!("{r:?}::float8"),
            SqlValue::Bool(b) => b.to_string(),
        }
    }

    fn statement(n: usize, s: &Storage, f: &odata::Filter, o: &OrderBy, after: Option<&SortKey>) -> String {
        let mut b = SqlBuilder::new(Dialect::Postgres);
        b.push_sql("SELECT p.id FROM profiles p WHERE p.tenant = ");
        b.push_param(SqlValue::Text("t1".into()));
        b.push_sql("::text AND ");
        f.render_sql(s, &mut b);
        if let Some(k) = after {
            b.push_sql(" AND ");
            o.render_after(k, s, &mut b);
        }
        b.push_sql(" ");
        o.render_order_by(s, &mut b);
        let (sql, params) = b.into_parts();
        let args: Vec<String> = params.iter().map(param).collect();
        format!("PREPARE q{n} AS {sql};\nSELECT '---';\nEXECUTE q{n}({});\n", args.join(", "))
    }

    fn planned_statement(
        n: usize,
        s: &Storage,
        f: &odata::Filter,
        o: &OrderBy,
        after: Option<&SortKey>,
        access: Access<'_>,
    ) -> String {
        let b = planned(Dialect::Postgres, s, f, o, after, 1000, access);
        let (sql, params) = b.into_parts();
        // The page statement selects p.doc; psql prints the ids.
        let sql = sql.replacen("SELECT p.doc FROM", "SELECT p.id FROM", 1);
        let args: Vec<String> = params.iter().map(param).collect();
        format!("PREPARE q{n} AS {sql};\nSELECT '---';\nEXECUTE q{n}({});\n", args.join(", "))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 150, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        #[cfg_attr(not(graphsec_test_postgres), ignore = "needs GRAPHSEC_TEST_POSTGRES")]
        fn postgres_agrees_with_evaluator(docs in docs(), filter in filter(), order in orderby(), cut in 0usize..20) {
            let f = match parse_filter(&filter, &SCHEMA) {
                Err(e) if e.message.contains("cannot be nested") => return Ok(()),
                parsed => parsed.unwrap(),
            };
            let o = if order.is_empty() { OrderBy::default_order(&SCHEMA) } else { parse_orderby(&order, &SCHEMA).unwrap() };
            let mut expected: Vec<Value> = docs.iter().filter(|d| f.matches(d)).cloned().collect();
            expected.sort_by(|a, b| o.compare(a, b));

            let mut script = String::from("\\set ON_ERROR_STOP on\nBEGIN;\n");
            script.push_str(support::POSTGRES_DDL);
            for d in &docs {
                for tenant in ["t1", "t2"] {
                    let mut d = d.clone();
                    d["azureTenantId"] = json!(tenant);
                    if tenant == "t2" {
                        d["tags"] = json!(["HVA", "alice", "zzz"]);
                    }
                    script.push_str(&format!(
                        "INSERT INTO profiles VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}::jsonb);\n",
                        lit(tenant), opt_lit(&d["id"]), opt_lit(&d["userPrincipalName"]), opt_lit(&d["displayName"]),
                        opt_lit(&d["riskScore"]), opt_lit(&d["azureSubscriptionId"]), opt_lit(&d["createdDateTime"]),
                        opt_lit(&d["lastModifiedDateTime"]), lit(&d.to_string())
                    ));
                    for (pos, t) in d["tags"].as_array().into_iter().flatten().enumerate() {
                        script.push_str(&format!("INSERT INTO profile_tags VALUES ({}, {}, {pos}, {});\n",
                            lit(tenant), opt_lit(&d["id"]), opt_lit(t)));
                    }
                }
            }
            let cut = cut.min(expected.len().saturating_sub(1));
            let key = expected.get(cut).map(|d| o.sort_key(d));
            let storages = [tables(Dialect::Postgres), &*DOCUMENT_ONLY];
            for (i, s) in storages.iter().enumerate() {
                script.push_str(&statement(2 * i, s, &f, &o, None));
                if let Some(k) = &key {
                    script.push_str(&statement(2 * i + 1, s, &f, &o, Some(k)));
                }
            }
            // Each plan a store may choose, from the start and after the cut.
            let pg_tables = tables(Dialect::Postgres);
            let covers = f.index_covers(pg_tables, &indexed);
            let plans = accesses(&covers);
            for (i, access) in plans.iter().enumerate() {
                script.push_str(&planned_statement(10 + 2 * i, pg_tables, &f, &o, None, *access));
                if let Some(k) = &key {
                    script.push_str(&planned_statement(11 + 2 * i, pg_tables, &f, &o, Some(k), *access));
                }
            }
            script.push_str("ROLLBACK;\n");
            let mut psql = Command::new("psql");
            psql.arg(std::env::var("GRAPHSEC_TEST_POSTGRES").expect("GRAPHSEC_TEST_POSTGRES names the server"));
            let out = psql
                .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", "-"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().unwrap().write_all(script.as_bytes())?;
                    c.wait_with_output()
                })
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            prop_assert!(out.status.success(), "psql failed: {}\n{}", String::from_utf8_lossy(&out.stderr), filter);
            let mut sections = stdout
                .split("---\n")
                .skip(1)
                .map(|s| s.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect::<Vec<String>>());
            for s in storages {
                prop_assert_eq!(sections.next(), Some(ids(&expected)), "filter {} order {} on {:?}", filter, o.canonical(), s);
                if key.is_some() {
                    prop_assert_eq!(sections.next(), Some(ids(&expected[cut + 1..])), "after: filter {} order {} on {:?}", filter, o.canonical(), s);
                }
            }
            for access in &plans {
                prop_assert_eq!(sections.next(), Some(ids(&expected)), "plan {:?}: filter {} order {}", access, filter, o.canonical());
                if key.is_some() {
                    prop_assert_eq!(sections.next(), Some(ids(&expected[cut + 1..])), "after, plan {:?}: filter {} order {}", access, filter, o.canonical());
                }
            }
        }
    }
}
