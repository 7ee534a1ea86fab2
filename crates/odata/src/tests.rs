//! Golden tests: parser (canonical text and errors with positions), SQL text and parameters for
//! both dialects, evaluator semantics.
#![allow(clippy::unwrap_used)]

use crate::*;
use serde_json::json;
use support::{SCHEMA, tables};

fn canon(s: &str) -> String {
    match parse_filter(s, &SCHEMA) {
        Ok(f) => f.canonical(),
        Err(e) => panic!("{s:?} failed: {e}"),
    }
}

fn err(s: &str) -> String {
    match parse_filter(s, &SCHEMA) {
        Ok(f) => panic!("{s:?} parsed as {}", f.canonical()),
        Err(e) => e.to_string(),
    }
}

fn sql(s: &str, d: Dialect) -> (String, Vec<SqlValue>) {
    let mut b = SqlBuilder::new(d);
    parse_filter(s, &SCHEMA).unwrap().render_sql(tables(b.dialect()), &mut b);
    b.into_parts()
}

fn text(s: &str) -> SqlValue {
    SqlValue::Text(s.to_owned())
}

#[test]
fn canonical_forms() {
    let cases = [
        ("userPrincipalName eq 'a@b'", "userPrincipalName eq 'a@b'"),
        ("USERPRINCIPALNAME EQ 'a@b'", "userPrincipalName eq 'a@b'"),
        ("  displayName   ne  'it''s' ", "displayName ne 'it''s'"),
        ("a eq 1 and b eq 2 or c eq 3", "(a eq 1 and b eq 2) or c eq 3"),
        ("a eq 1 or b eq 2 and c eq 3", "a eq 1 or (b eq 2 and c eq 3)"),
        ("(a eq 1 or b eq 2) and c eq 3", "(a eq 1 or b eq 2) and c eq 3"),
        ("((((a eq 1))))", "a eq 1"),
        ("a eq 1 and (b eq 2 and c eq 3)", "a eq 1 and b eq 2 and c eq 3"),
        ("not (displayName eq 'x')", "not (displayName eq 'x')"),
        ("not startswith(displayName, 'x')", "not startswith(displayName, 'x')"),
        ("not not flag", "not not (flag eq true)"),
        ("startswith(displayName,'x') eq false", "not startswith(displayName, 'x')"),
        ("createdDateTime gt 2024-01-31T10:00:00+02:00", "createdDateTime gt 2024-01-31T08:00:00.0000000Z"),
        ("createdDateTime le 2024-01-31T10:00Z", "createdDateTime le 2024-01-31T10:00:00.0000000Z"),
        ("riskScore in ('1', '2', null)", "riskScore in ('1', '2', null)"),
        ("vendorinformation/PROVIDER eq 'MS'", "vendorInformation/provider eq 'MS'"),
        ("tags/any(t: t eq 'HVA')", "tags/any(t: t eq 'HVA')"),
        ("Tags/ANY(x:x eq 'HVA' or x eq 'b')", "tags/any(x: x eq 'HVA' or x eq 'b')"),
        ("tags/any()", "tags/any()"),
        ("tags/all(t: t ne 'a')", "tags/all(t: t ne 'a')"),
        ("tags/$count gt 0", "tags/$count gt 0"),
        ("accounts/$count ge 2", "accounts/$count ge 2"),
        ("accounts/any(a: a/status eq 'active')", "accounts/any(a: a/status eq microsoft.graph.accountStatus'active')"),
        (
            "accounts/any(a: a/STATUS eq microsoft.graph.accountStatus'deleted')",
            "accounts/any(a: a/status eq microsoft.graph.accountStatus'deleted')",
        ),
        (
            "accounts/all(a: a/lastSeenDateTime lt 2020-01-01T00:00:00Z and a/service ne null)",
            "accounts/all(a: a/lastSeenDateTime lt 2020-01-01T00:00:00.0000000Z and a/service ne null)",
        ),
        ("tolower(displayName) eq tolower('ÄBc')", "tolower(displayName) eq 'Äbc'"),
        ("toupper(userPrincipalName) eq 'X'", "toupper(userPrincipalName) eq 'X'"),
        ("contains(tolower(displayName), 'bob')", "contains(tolower(displayName), 'bob')"),
        ("endswith(userPrincipalName, '@contoso.com')", "endswith(userPrincipalName, '@contoso.com')"),
        ("displayName eq null", "displayName eq null"),
        ("null ne displayName", "null ne displayName"),
        ("score gt 1.5", "score gt 1.5"),
        ("score eq -3", "score eq -3"),
        ("score le 1e3", "score le 1000.0"),
        ("flag", "flag eq true"),
        ("flag eq false", "flag eq false"),
        ("Extra in ('a', 1, true, null)", "Extra eq 'a' or Extra eq 1 or Extra eq true or Extra eq null"),
        ("true", "true"),
        ("not false", "not false"),
        ("displayName eq userPrincipalName", "displayName eq userPrincipalName"),
        ("eq eq 'x'", "eq eq 'x'"),
        ("ünïcode_Prop eq 'ü'", "ünïcode_Prop eq 'ü'"),
    ];
    for (input, want) in cases {
        assert_eq!(canon(input), want, "input {input:?}");
        assert_eq!(canon(want), want, "canonical of {input:?} is not stable");
    }
}

#[test]
fn parse_errors_with_positions() {
    let cases = [
        ("", "$filter is empty at position 0"),
        ("displayName eq", "expected an expression, found end of input at position 14"),
        ("displayName eq 'x", "unterminated string literal at position 15"),
        ("displayName eq 'x' and", "expected an expression, found end of input at position 22"),
        (
            "displayName 'x'",
            "expected 'and', 'or', a comparison operator or the end of $filter, found a string literal at position 12",
        ),
        ("(displayName eq 'x'", "expected ')', found end of input at position 19"),
        (
            "displayName eq 'x')",
            "expected 'and', 'or', a comparison operator or the end of $filter, found ')' at position 18",
        ),
        (
            "createdDateTime gt '2020-01-01'",
            "cannot compare Edm.DateTimeOffset with Edm.String; write DateTimeOffset literals unquoted, e.g. 2024-01-31T00:00:00Z at position 16",
        ),
        (
            "displayName gt 2020-01-01T00:00:00Z",
            "cannot compare Edm.DateTimeOffset with Edm.String; write DateTimeOffset literals unquoted, e.g. 2024-01-31T00:00:00Z at position 12",
        ),
        (
            "createdDateTime gt 2020-02-30T00:00:00Z",
            "'2020-02-30T00:00:00Z' is not a valid DateTimeOffset at position 19",
        ),
        ("createdDateTime gt 2020-01-01", "'2020-01-01' is not a valid DateTimeOffset at position 19"),
        (
            "accounts/any(a: a/status eq 'bogus')",
            "'bogus' is not a member of microsoft.graph.accountStatus at position 25",
        ),
        (
            "accounts/any(a: a/status eq microsoft.graph.accountStatus'Active')",
            "'Active' is not a member of microsoft.graph.accountStatus at position 28",
        ),
        (
            "accounts/any(a: a/status eq microsoft.graph.color'red')",
            "unknown enum type 'microsoft.graph.color' at position 28",
        ),
        (
            "accounts/any(a: a/status gt 'active')",
            "'gt' cannot compare values of type microsoft.graph.accountStatus; use eq, ne or in at position 25",
        ),
        ("accounts/any(a: a/foo eq 'x')", "'foo' is not a property of microsoft.graph.userAccount at position 18"),
        (
            "accounts/any(a: a eq 'x')",
            "'a' is a userAccount; use one of its properties, such as a/status at position 18",
        ),
        (
            "vendorInformation/foo eq 'x'",
            "'foo' is not a property of microsoft.graph.securityVendorInformation at position 18",
        ),
        (
            "vendorInformation eq null",
            "'vendorInformation' is a securityVendorInformation; use one of its properties, such as vendorInformation/provider at position 18",
        ),
        (
            "custom/foo eq 'x'",
            "'custom' is a dynamic property; paths into dynamic properties are not supported at position 6",
        ),
        ("displayName/foo eq 'x'", "'displayName' is not a complex or collection property at position 11"),
        ("tags eq 'x'", "'tags' is a collection; use tags/any(...), tags/all(...) or tags/$count at position 5"),
        ("tags/all()", "all() needs a lambda expression at position 9"),
        ("tags/any(t: t/x eq 'a')", "'t' is a tag (Edm.String) and has no members at position 13"),
        ("tags/any(t: t eq 1)", "cannot compare Edm.String with a number at position 14"),
        (
            "not displayName eq 'x'",
            "'not' needs a boolean operand, found a value of type Edm.String; write not (... eq ...) at position 0",
        ),
        ("displayName", "expected a boolean expression, found a value of type Edm.String at position 0"),
        ("length(displayName) eq 1", "unknown or unsupported function 'length' at position 0"),
        ("startswith(displayName)", "expected ',' and a second argument to startswith, found ')' at position 22"),
        (
            "startswith(createdDateTime, 'x')",
            "startswith takes Edm.String arguments, found Edm.DateTimeOffset at position 11",
        ),
        (
            "score eq 2020-01-01T00:00:00Z",
            "a dynamic property can be compared with a string, number, boolean or null, not with Edm.DateTimeOffset at position 6",
        ),
        ("a eq b", "cannot compare two dynamic properties at position 2"),
        ("flag gt true", "'gt' cannot compare values of type Edm.Boolean; use eq, ne or in at position 5"),
        ("displayName in ()", "the list after 'in' holds literals only, found ')' at position 16"),
        ("displayName in ('a' 'b')", "expected ',' or ')' in the 'in' list, found a string literal at position 20"),
        ("displayName eq 'x' # 1", "unexpected character '#' at position 19"),
        ("riskScore eq 99999999999999999999", "number '99999999999999999999' is out of range at position 13"),
        ("riskScore eq 1x", "unexpected 'x' after a literal at position 14"),
        ("x.y eq 1", "unsupported qualified name 'x.y' at position 0"),
        ("$it eq 'x'", "'$it' is not supported here at position 0"),
        (
            "displayName eq 'x' and startswith(displayName, 'a') eq 'b'",
            "a boolean expression can only be compared with eq/ne true or false, not with 'eq' at position 52",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(err(input), want, "input {input:?}");
    }
}

#[test]
fn limits_are_errors_not_crashes() {
    let deep = format!("{}a eq 1{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
    assert!(err(&deep).contains("nested too deeply"));
    let ok = format!("{}a eq 1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert_eq!(canon(&ok), "a eq 1");
    assert!(
        err(&"not ".repeat(100_000)).contains("longer than")
            || err(&"not ".repeat(10_000)).contains("nested too deeply")
    );
    assert!(err(&"not ".repeat(10_000)).contains("nested too deeply"));
    assert!(err(&"(".repeat(60_000)).contains("nested too deeply"));
    let many = vec!["a eq 1"; MAX_TERMS + 1].join(" or ");
    assert!(err(&many).contains("too complex"));
    let huge = "x".repeat(MAX_OPTION_LEN + 1);
    assert!(err(&huge).contains("longer than"));
    let long_lit = format!("displayName eq '{}'", "é".repeat(20_000));
    assert!(parse_filter(&long_lit, &SCHEMA).is_ok());
    // Nested lambdas multiply the work per row by each collection's length: refused.
    assert!(err("tags/any(t: tags/any(u: u eq t))").contains("cannot be nested"));
    assert!(err("accounts/any(a: tags/all(t: t eq a/service))").contains("cannot be nested"));
    // The deepest accepted filters parse, render and evaluate on a 2 MiB (test thread) stack.
    let nested = format!("tags/any(t: {}t eq 'x'{})", "not (".repeat(MAX_DEPTH / 2 - 2), ")".repeat(MAX_DEPTH / 2 - 2));
    let f = parse_filter(&nested, &SCHEMA).unwrap();
    for d in [Dialect::Sqlite, Dialect::Postgres] {
        f.render_sql(tables(d), &mut SqlBuilder::new(d));
    }
    assert!(!f.matches(&json!({"tags": ["a", "b"]})));
    assert_eq!(canon(&f.canonical()), f.canonical());
    let too_deep_lambdas = format!("{}x eq 1{}", "tags/any(t: ".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
    assert!(err(&too_deep_lambdas).contains("cannot be nested"));
}

#[test]
fn sqlite_rendering() {
    let s = |f| sql(f, Dialect::Sqlite);
    assert_eq!(s("userPrincipalName eq 'a@b'"), ("((p.user_principal_name = ?1))".into(), vec![text("a@b")]));
    assert_eq!(
        s("not (userPrincipalName eq 'a@b')"),
        ("((p.user_principal_name IS NOT ?1))".into(), vec![text("a@b")])
    );
    assert_eq!(s("userPrincipalName ne 'a@b'"), ("((p.user_principal_name IS NOT ?1))".into(), vec![text("a@b")]));
    assert_eq!(s("id ne 'x'"), ("((p.id <> ?1))".into(), vec![text("x")]));
    assert_eq!(s("displayName eq null").0, "((p.display_name IS NULL))");
    assert_eq!(s("not (displayName eq null)").0, "((p.display_name IS NOT NULL))");
    assert_eq!(s("displayName gt null").0, "(1 = 0)");
    assert_eq!(s("displayName eq riskScore").0, "((p.display_name IS p.risk_score))");
    assert_eq!(
        s("not (createdDateTime gt 2020-01-01T00:00:00+01:00)"),
        (
            "((p.created_date_time <= ?1 OR p.created_date_time IS NULL))".into(),
            vec![text("2019-12-31T23:00:00.0000000Z")]
        )
    );
    assert_eq!(
        s("not (a eq 1 or b eq 'x')").0,
        "((((CASE WHEN json_type(p.doc, ?1) IN ('integer', 'real') THEN json_extract(p.doc, ?2) END) IS NOT ?3) AND ((CASE WHEN json_type(p.doc, ?4) = 'text' THEN json_extract(p.doc, ?5) END) IS NOT ?6)))"
    );
    assert_eq!(s("a eq 1").1, vec![text("$.\"a\""), text("$.\"a\""), SqlValue::Int(1)]);
    assert_eq!(s("flag").0, "(((CASE json_type(p.doc, ?1) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END) = ?2))");
    assert_eq!(s("flag").1, vec![text("$.\"flag\""), SqlValue::Bool(true)]);
    assert_eq!(s("x eq null").0, "((json_extract(p.doc, ?1) IS NULL))");
    assert_eq!(s("riskScore in ('1', '2')").0, "((p.risk_score IN (?1, ?2)))");
    assert_eq!(s("riskScore in ('1', null)").0, "((p.risk_score IN (?1) OR p.risk_score IS NULL))");
    assert_eq!(s("not (riskScore in ('1', '2'))").0, "((p.risk_score NOT IN (?1, ?2) OR p.risk_score IS NULL))");
    assert_eq!(s("not (riskScore in ('1', null))").0, "((p.risk_score NOT IN (?1) AND p.risk_score IS NOT NULL))");
    assert_eq!(
        s("tags/any(t: t eq 'HVA')").0,
        "(EXISTS (SELECT 1 FROM profile_tags t0 WHERE t0.tenant = p.tenant AND t0.id = p.id AND (t0.tag = ?1)))"
    );
    // Only "has one of these tags" reads SQLite's profile_tags; every other lambda reads the array.
    let tag_elements = "SELECT value AS tag FROM json_each(p.tags_json)";
    assert_eq!(
        s("tags/all(t: t ne 'HVA')").0,
        "(NOT EXISTS (SELECT 1 FROM profile_tags t0 WHERE t0.tenant = p.tenant AND t0.id = p.id AND (t0.tag = ?1)))"
    );
    assert_eq!(
        s("tags/any(t: t in ('a', 'b') or 'c' eq t)").0,
        "(EXISTS (SELECT 1 FROM profile_tags t0 WHERE t0.tenant = p.tenant AND t0.id = p.id AND ((t0.tag IN (?1, ?2)) OR (?3 = t0.tag))))"
    );
    assert_eq!(
        s("tags/all(t: t eq 'HVA')").0,
        format!("(NOT EXISTS (SELECT 1 FROM ({tag_elements}) AS t0 WHERE (t0.tag <> ?1)))")
    );
    assert_eq!(
        s("tags/any(t: t eq 'a' or startswith(t, 'b'))").0,
        format!(
            "(EXISTS (SELECT 1 FROM ({tag_elements}) AS t0 WHERE ((t0.tag = ?1) OR (substr(t0.tag, 1, length(?2)) = ?3))))"
        )
    );
    assert_eq!(
        s("tags/any(t: t in ('a', null))").0,
        format!("(EXISTS (SELECT 1 FROM ({tag_elements}) AS t0 WHERE (t0.tag IN (?1) OR t0.tag IS NULL)))")
    );
    assert_eq!(s("not tags/any()").0, format!("(NOT EXISTS (SELECT 1 FROM ({tag_elements}) AS t0))"));
    assert_eq!(
        s("tags/$count gt 0"),
        ("((COALESCE(json_array_length(p.tags_json), 0) > ?1))".into(), vec![SqlValue::Int(0)])
    );
    assert_eq!(
        s("accounts/any(a: a/status eq 'active')").0,
        "(EXISTS (SELECT 1 FROM json_each(CASE json_type(p.doc, '$.accounts') WHEN 'array' THEN p.doc END, '$.accounts') AS a0 WHERE (json_extract(a0.value, '$.status') = ?1)))"
    );
    assert_eq!(s("startswith(displayName, 'ab')").0, "((substr(p.display_name, 1, length(?1)) = ?2))");
    assert_eq!(
        s("not endswith(displayName, 'ab')").0,
        "(NOT COALESCE((length(p.display_name) >= length(?1) AND substr(p.display_name, length(p.display_name) - length(?2) + 1) = ?3), FALSE))"
    );
    assert_eq!(s("contains(tolower(displayName), 'ab')").0, "((instr(lower(p.display_name), ?1) > 0))");
    assert_eq!(
        s("vendorInformation/provider eq 'x'").0,
        "((json_extract(p.doc, '$.vendorInformation.provider') = ?1))"
    );
    assert_eq!(s("azureTenantId eq 'x'").0, "((p.tenant = ?1))");
    assert_eq!(s("true").0, "(1 = 1)");
}

#[test]
fn postgres_rendering() {
    let s = |f| sql(f, Dialect::Postgres);
    assert_eq!(
        s("userPrincipalName eq 'a@b'"),
        ("((p.user_principal_name = $1::text COLLATE \"C\"))".into(), vec![text("a@b")])
    );
    assert_eq!(s("displayName ne 'x'").0, "((p.display_name IS DISTINCT FROM $1::text COLLATE \"C\"))");
    assert_eq!(s("displayName eq riskScore").0, "((p.display_name IS NOT DISTINCT FROM p.risk_score))");
    assert_eq!(
        s("a gt 1.5"),
        (
            "(((CASE WHEN jsonb_typeof(p.doc -> $1::text) = 'number' THEN (p.doc ->> $2::text)::numeric END) > $3::float8))".into(),
            vec![text("a"), text("a"), SqlValue::Real(1.5)]
        )
    );
    assert_eq!(
        s("Extra eq 'x'").0,
        "(((CASE WHEN jsonb_typeof(p.doc -> $1::text) = 'string' THEN (p.doc ->> $2::text) COLLATE \"C\" END) = $3::text COLLATE \"C\"))"
    );
    assert_eq!(s("x ne null").0, "(((p.doc ->> $1::text) IS NOT NULL))");
    assert_eq!(
        s("accounts/all(a: a/lastSeenDateTime gt 2020-01-01T00:00:00Z)").0,
        "(NOT EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(p.doc -> 'accounts') = 'array' THEN p.doc -> 'accounts' END) AS a0(value) WHERE ((a0.value ->> 'lastSeenDateTime') COLLATE \"C\" <= $1::text COLLATE \"C\" OR (a0.value ->> 'lastSeenDateTime') COLLATE \"C\" IS NULL)))"
    );
    assert_eq!(
        s("startswith(displayName, 'a')").0,
        "((left(p.display_name, length($1::text COLLATE \"C\")) = $2::text COLLATE \"C\"))"
    );
    assert_eq!(
        s("endswith(displayName, null)").0,
        "((right(p.display_name, length(CAST(NULL AS text))) = CAST(NULL AS text)))"
    );
    assert_eq!(s("contains(displayName, 'a')").0, "((strpos(p.display_name, $1::text COLLATE \"C\") > 0))");
    assert_eq!(s("tags/$count eq 2").1, vec![SqlValue::Int(2)]);
    // "Has one of these tags" is tested on the row's document, never by a probe per row.
    let (tags, array) = ("(p.doc -> 'tags')", "AND jsonb_typeof(p.doc -> 'tags') = 'array'");
    assert_eq!(
        s("tags/any(t: t eq 'a' or t in ('b', 'c'))"),
        (
            format!("(COALESCE({tags} ?| ARRAY[$1::text, $2::text, $3::text] {array}, FALSE))"),
            vec![text("a"), text("b"), text("c")]
        )
    );
    assert_eq!(s("not tags/any(t: t eq 'a')").0, format!("(NOT COALESCE({tags} ?| ARRAY[$1::text] {array}, FALSE))"));
    assert_eq!(
        s("tags/any(t: t eq 'a') or tags/any(t: 'b' eq t) or displayName eq 'x'").0,
        format!(
            "((COALESCE({tags} ?| ARRAY[$1::text, $2::text] {array}, FALSE) OR (p.display_name = $3::text COLLATE \"C\")))"
        )
    );
    assert!(s("tags/any(t: t eq 'a' or startswith(t, 'b'))").0.starts_with("(EXISTS (SELECT 1 FROM profile_tags t0"));
    assert!(s("tags/all(t: t ne 'a')").0.starts_with("(NOT EXISTS (SELECT 1 FROM profile_tags t0"));
    assert_eq!(s("flag eq false").1, vec![text("flag"), text("flag"), SqlValue::Bool(false)]);
}

#[test]
fn evaluator_semantics() {
    let doc = json!({
        "id": "1", "accounts": [{"displayName": "A", "lastSeenDateTime": "2021-01-01T00:00:00.0000000Z",
        "riskScore": null, "service": "svc", "signinName": null, "status": "active"}, null],
        "azureSubscriptionId": null, "azureTenantId": "t", "createdDateTime": "2020-06-01T00:00:00.0000000Z",
        "displayName": "Bob Ärger", "lastModifiedDateTime": null, "riskScore": "7", "tags": ["HVA", "x", "HVA"],
        "userPrincipalName": "bob@x", "vendorInformation": {"provider": "P", "providerVersion": null,
        "subProvider": null, "vendor": "V"}, "score": 5, "ratio": 0.5, "flag": true, "Extra": "e", "obj": {"a": 1}
    });
    let m = |f: &str| parse_filter(f, &SCHEMA).unwrap().matches(&doc);
    assert!(m("displayName eq 'Bob Ärger'"));
    assert!(!m("displayName eq 'bob ärger'"));
    assert!(m("tolower(displayName) eq 'bob Ärger'"), "ASCII-only case mapping");
    assert!(m("toupper(displayName) eq 'BOB ÄRGER'"));
    assert!(m("azureSubscriptionId eq null") && !m("azureSubscriptionId ne null"));
    assert!(!m("azureSubscriptionId eq 'x'") && m("azureSubscriptionId ne 'x'"));
    assert!(!m("azureSubscriptionId gt 'x'") && !m("azureSubscriptionId le 'x'"));
    assert!(m("not (azureSubscriptionId gt 'x')"));
    assert!(!m("startswith(azureSubscriptionId, '')") && m("not startswith(azureSubscriptionId, '')"));
    assert!(m("tolower(azureSubscriptionId) eq null"));
    assert!(m("startswith(displayName, '') and endswith(displayName, '') and contains(displayName, '')"));
    assert!(m("createdDateTime gt 2020-06-01T01:00:00+02:00") && !m("createdDateTime gt 2020-06-01T00:00:00Z"));
    assert!(m("createdDateTime ge 2020-06-01T00:00:00Z"));
    assert!(m("tags/any(t: t eq 'HVA')") && !m("tags/all(t: t eq 'HVA')") && m("tags/$count eq 3"));
    assert!(m("accounts/$count eq 2") && m("accounts/any(a: a/status eq 'active')"));
    assert!(m("accounts/any(a: a/status eq null)"), "a null element has null members");
    assert!(!m("accounts/all(a: a/status eq 'active')"));
    assert!(m("accounts/any(a: a/service eq 'svc') and tags/any(t: t eq 'x')"));
    assert!(m("score eq 5") && m("score gt 4.5") && !m("score eq '5'") && m("score ne '5'"));
    assert!(m("ratio lt 1") && m("ratio eq 0.5"));
    assert!(m("flag") && !m("not flag") && m("flag ne false"));
    assert!(!m("Extra gt 1") && !m("not (Extra eq 'e')") && m("Extra in ('x', 'e')"));
    assert!(m("obj ne null") && !m("obj eq 'x'") && m("missing eq null") && m("EXTRA eq null"));
    assert!(m("vendorInformation/provider eq 'P' and vendorInformation/subProvider eq null"));
    assert!(
        m("riskScore in ('7', null)") && !m("azureSubscriptionId in ('7')") && m("azureSubscriptionId in ('7', null)")
    );
    assert!(m("null eq null") && !m("null ne null") && !m("null lt null"));
    let empty = json!({"id": "2", "tags": null, "accounts": null});
    let e = |f: &str| parse_filter(f, &SCHEMA).unwrap().matches(&empty);
    assert!(e("tags/$count eq 0") && e("tags/all(t: t eq 'x')") && !e("tags/any()") && !e("tags/any(t: true)"));
    assert!(e("accounts/$count eq 0") && e("accounts/all(a: false)") && !e("accounts/any(a: true)"));
}

#[test]
fn orderby_parsing_and_sql() {
    let o = parse_orderby("DisplayName desc, vendorInformation/Provider, Extra asc", &SCHEMA).unwrap();
    assert_eq!(o.canonical(), "displayName desc,vendorInformation/provider asc,Extra asc,id asc");
    assert_eq!(parse_orderby("id desc", &SCHEMA).unwrap().canonical(), "id desc");
    assert_eq!(parse_orderby("createdDateTime,id", &SCHEMA).unwrap().canonical(), "createdDateTime asc,id asc");
    assert_eq!(OrderBy::default_order(&SCHEMA).canonical(), "id asc");
    let mut b = SqlBuilder::new(Dialect::Sqlite);
    o.render_order_by(tables(b.dialect()), &mut b);
    assert_eq!(
        b.sql(),
        "ORDER BY p.display_name DESC NULLS LAST, json_extract(p.doc, '$.vendorInformation.provider') ASC NULLS FIRST, (CASE WHEN json_type(p.doc, ?1) = 'text' THEN json_extract(p.doc, ?2) END) ASC NULLS FIRST, p.id ASC"
    );
    let mut b = SqlBuilder::new(Dialect::Sqlite);
    let o2 = parse_orderby("displayName desc, riskScore", &SCHEMA).unwrap();
    o2.render_after(&SortKey(vec![Some("b".into()), None, Some("7".into())]), tables(b.dialect()), &mut b);
    assert_eq!(
        b.sql(),
        "(((p.display_name < ?1 OR p.display_name IS NULL) OR (p.display_name = ?2 AND ((p.risk_score IS NOT NULL) OR (p.risk_score IS NULL AND (p.id > ?3))))))"
    );
    let mut b = SqlBuilder::new(Dialect::Postgres);
    o2.render_after(&SortKey(vec![None, Some("1".into()), Some("7".into())]), tables(b.dialect()), &mut b);
    assert_eq!(
        b.sql(),
        "(((1 = 0) OR (p.display_name IS NULL AND ((p.risk_score > $1::text COLLATE \"C\") OR (p.risk_score = $2::text COLLATE \"C\" AND (p.id > $3::text COLLATE \"C\"))))))"
    );
    assert!(o2.validate_key(&SortKey(vec![None, None, Some("x".into())])).is_ok());
    assert!(o2.validate_key(&SortKey(vec![None, Some("x".into())])).is_err());
    assert!(o2.validate_key(&SortKey(vec![None, None, None])).is_err());
    // Found by the fuzzer: 15 keys plus the appended id must parse back from the canonical text.
    let fifteen: Vec<String> = (0..15).map(|i| format!("k{i} desc")).collect();
    let o15 = parse_orderby(&fifteen.join(","), &SCHEMA).unwrap();
    assert_eq!(parse_orderby(&o15.canonical(), &SCHEMA).unwrap(), o15);
    let sixteen: Vec<String> = (0..16).map(|i| format!("k{i}")).collect();
    assert!(parse_orderby(&sixteen.join(","), &SCHEMA).is_err());
    let k: SortKey = serde_json::from_str(r#"["a",null,"b"]"#).unwrap();
    assert_eq!(serde_json::to_string(&k).unwrap(), r#"["a",null,"b"]"#);
    for (bad, want) in [
        ("", "$orderby is empty at position 0"),
        ("tags", "cannot order by the collection 'tags' at position 0"),
        ("displayName sideways", "expected 'asc', 'desc', ',' or the end of $orderby, found 'sideways' at position 12"),
        ("displayName,", "expected a property name, found end of input at position 12"),
        ("displayName, DISPLAYNAME desc", "a property appears twice in $orderby at position 13"),
        (
            "vendorInformation",
            "order by a member of vendorInformation, such as vendorInformation/provider at position 0",
        ),
        ("Extra/x", "this property has no members to order by at position 5"),
        ("'x'", "expected a property name, found a string literal at position 0"),
    ] {
        assert_eq!(parse_orderby(bad, &SCHEMA).unwrap_err().to_string(), want, "{bad:?}");
    }
}

#[test]
fn select_parsing() {
    let s = parse_select("DisplayName, tags,Extra,displayName", &SCHEMA).unwrap();
    assert_eq!(s.names(), ["displayName", "tags", "Extra"]);
    assert!(s.contains("displayName") && s.contains("Extra") && !s.contains("extra") && !s.is_all());
    assert_eq!(s.canonical(), "displayName,tags,Extra");
    let doc = json!({"id": "1", "displayName": "d", "tags": [], "Extra": 1, "other": 2});
    assert_eq!(s.project(&doc), json!({"displayName": "d", "tags": [], "Extra": 1}));
    let all = parse_select("*", &SCHEMA).unwrap();
    assert!(all.is_all() && all.contains("anything"));
    for (bad, want) in [
        ("", "$select is empty at position 0"),
        (
            "vendorInformation/provider",
            "$select of nested properties is not supported; select the top-level property at position 17",
        ),
        ("a,,b", "expected a property name or '*', found ',' at position 2"),
        ("a b", "expected ',' or the end of $select, found 'b' at position 2"),
        ("a,", "expected a property name or '*', found end of input at position 2"),
        ("$count", "expected a property name or '*', found '$count' at position 0"),
        ("'a'", "expected a property name or '*', found a string literal at position 0"),
    ] {
        assert_eq!(parse_select(bad, &SCHEMA).unwrap_err().to_string(), want, "{bad:?}");
    }
}

#[test]
fn hostile_text_only_reaches_parameters() {
    let payloads = [
        "'; DROP TABLE profiles; --",
        "x' OR '1'='1",
        "/* comment */ ",
        "\u{0}\u{7f}\u{202e}ℝ💥",
        "\" OR \"\"=\"",
        "$1 ?1 ?2",
    ];
    for payload in payloads {
        let lit = payload.replace('\'', "''");
        let filters = [
            format!("displayName eq '{lit}'"),
            format!("not (startswith(tolower(displayName), '{lit}'))"),
            format!("tags/any(t: t eq '{lit}')"),
            format!("accounts/all(a: a/service ne '{lit}')"),
            format!("dyn in ('{lit}', 1)"),
            format!("vendorInformation/vendor in ('{lit}')"),
        ];
        for f in &filters {
            let parsed = parse_filter(f, &SCHEMA).unwrap();
            for d in [Dialect::Sqlite, Dialect::Postgres] {
                let mut b = SqlBuilder::new(d);
                parsed.render_sql(tables(b.dialect()), &mut b);
                let (sql, params) = b.into_parts();
                assert!(!sql.contains("DROP") && !sql.contains("comment") && !sql.contains('💥'), "{sql}");
                assert!(params.contains(&SqlValue::Text(payload.to_owned())), "{f}: {params:?}");
            }
        }
    }
    // Names are identifiers, so quotes and SQL punctuation cannot reach a JSON path.
    assert!(parse_filter("x\"; DROP eq 1", &SCHEMA).is_err());
    assert!(parse_filter("[x] eq 1", &SCHEMA).is_err());
    assert!(parse_orderby("x; DROP TABLE profiles", &SCHEMA).is_err());
    assert!(parse_select("a;b", &SCHEMA).is_err());
    let mut b = SqlBuilder::new(Dialect::Sqlite);
    parse_orderby("DROP", &SCHEMA).unwrap().render_order_by(tables(b.dialect()), &mut b);
    assert!(!b.sql().contains("DROP"));
    let mut b = SqlBuilder::new(Dialect::Sqlite);
    let key = SortKey(vec![Some("'; DROP TABLE x".into())]);
    OrderBy::default_order(&SCHEMA).render_after(&key, tables(b.dialect()), &mut b);
    assert_eq!(b.sql(), "((p.id > ?1))");
}
