#![no_main]
//! Arbitrary text into the three parsers; whatever parses is rendered for both dialects and
//! evaluated, and a filter's canonical text must parse back to the same canonical text.

#[path = "../../tests/support/mod.rs"]
mod support;

use libfuzzer_sys::fuzz_target;
use odata::{Dialect, SqlBuilder, parse_filter, parse_orderby, parse_select};
use serde_json::json;
use support::{DOCUMENT_ONLY, SCHEMA, tables};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let doc = json!({
        "id": "a", "accounts": [{"displayName": "x", "lastSeenDateTime": "2020-01-01T00:00:00.0000000Z",
        "riskScore": null, "service": "s", "signinName": "n", "status": "active"}, null],
        "azureSubscriptionId": null, "azureTenantId": "t", "createdDateTime": "2020-01-01T00:00:00.0000000Z",
        "displayName": "Ab", "lastModifiedDateTime": null, "riskScore": "1", "tags": ["a", "b", "a"],
        "userPrincipalName": "u@x", "vendorInformation": {"provider": "p", "providerVersion": null,
        "subProvider": null, "vendor": "v"}, "score": 5, "flag": true, "Extra": "e"
    });
    if let Ok(f) = parse_filter(s, &SCHEMA) {
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            for storage in [tables(d), &DOCUMENT_ONLY] {
                let mut b = SqlBuilder::new(d);
                f.render_sql(storage, &mut b);
                assert!(!b.sql().is_empty());
            }
        }
        let m = f.matches(&doc);
        let c = f.canonical();
        match parse_filter(&c, &SCHEMA) {
            Ok(f2) => {
                assert_eq!(f2.canonical(), c, "canonical is not stable for {s:?}");
                assert_eq!(f2.matches(&doc), m, "canonical changes meaning for {s:?}");
            }
            // The canonical text adds parentheses, so it may cross a limit the input did not.
            Err(e) => assert!(
                e.message.contains("nested too deeply") || e.message.contains("longer than"),
                "canonical {c:?} of {s:?} does not parse: {e}"
            ),
        }
    }
    if let Ok(o) = parse_orderby(s, &SCHEMA) {
        let key = o.sort_key(&doc);
        assert!(o.validate_key(&key).is_ok());
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            for storage in [tables(d), &DOCUMENT_ONLY] {
                let mut b = SqlBuilder::new(d);
                o.render_order_by(storage, &mut b);
                o.render_after(&key, storage, &mut b);
            }
        }
        assert_eq!(o.compare(&doc, &doc), std::cmp::Ordering::Equal);
        let again = parse_orderby(&o.canonical(), &SCHEMA).map(|x| x.canonical());
        assert_eq!(again.as_deref(), Ok(o.canonical().as_str()));
    }
    if let Ok(sel) = parse_select(s, &SCHEMA) {
        let _ = sel.project(&doc);
        let _ = sel.canonical();
    }
});
