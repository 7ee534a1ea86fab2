//! System query options from the query string (docs/query-options.md §1): `$`-prefixed, `%24`-encoded or
//! (on beta) bare names, each parsed by the odata crate.

use super::error::GraphError;
use percent_encoding::percent_decode_str;

pub const MAX_TOP: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Collection,
    Entity,
    Count,
}

#[derive(Default)]
pub struct QueryOptions {
    /// Each present option with its decoded text, to rebuild `@odata.nextLink`.
    pub raw: Vec<(&'static str, String)>,
    pub filter: Option<odata::Filter>,
    pub orderby: Option<odata::OrderBy>,
    pub select: Option<odata::Select>,
    pub top: Option<usize>,
    pub skip: Option<u64>,
    pub count: bool,
    pub skiptoken: Option<String>,
}

const KNOWN: [&str; 11] =
    ["filter", "orderby", "select", "top", "skip", "count", "skiptoken", "expand", "search", "format", "apply"];

pub fn parse(query: Option<&str>, target: Target) -> Result<QueryOptions, GraphError> {
    let mut options = QueryOptions::default();
    for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(raw_name)?;
        let value = decode(raw_value)?;
        let (had_dollar, bare) = match name.strip_prefix('$') {
            Some(bare) => (true, bare),
            None => (false, name.as_str()),
        };
        let Some(known) = KNOWN.iter().find(|k| k.eq_ignore_ascii_case(bare)).copied() else {
            if had_dollar {
                return Err(GraphError::invalid_query(format!("The query parameter '{name}' is not supported.")));
            }
            continue; // a custom (non-OData) parameter: ignored, as Graph does
        };
        if options.raw.iter().any(|(n, _)| *n == known) {
            return Err(GraphError::invalid_query(format!("The query option '${known}' is specified more than once.")));
        }
        apply(&mut options, known, &value, target)?;
        options.raw.push((known, value));
    }
    Ok(options)
}

/// The options that work on each target (also what `/openapi.json` documents). `$expand` and
/// `$search` are recognised everywhere and refused as notSupported.
pub fn supported(target: Target) -> &'static [&'static str] {
    match target {
        Target::Collection => &["filter", "orderby", "select", "top", "skip", "count", "skiptoken", "format"],
        Target::Entity => &["select", "format"],
        Target::Count => &["filter"],
    }
}

fn apply(options: &mut QueryOptions, name: &'static str, value: &str, target: Target) -> Result<(), GraphError> {
    if !supported(target).contains(&name) && !matches!(name, "expand" | "search") {
        return Err(GraphError::invalid_query(format!("The query option '${name}' is not supported on this request.")));
    }
    let invalid = |e: odata::QueryError| GraphError::invalid_query(format!("Invalid ${name}: {e}"));
    let schema = crate::domain::members::schema();
    match name {
        "filter" => options.filter = Some(odata::parse_filter(value, schema).map_err(invalid)?),
        "orderby" => options.orderby = Some(odata::parse_orderby(value, schema).map_err(invalid)?),
        "select" => options.select = Some(odata::parse_select(value, schema).map_err(invalid)?),
        "top" => {
            let top = value.parse::<usize>().ok().filter(|t| (1..=MAX_TOP).contains(t)).ok_or_else(|| {
                GraphError::invalid_query(format!("Invalid $top '{value}': it must be an integer from 1 to {MAX_TOP}."))
                    .with_inner("invalidQueryOption")
            })?;
            options.top = Some(top);
        }
        "skip" => {
            let skip = value.parse::<u64>().ok().filter(|s| *s <= i64::MAX as u64).ok_or_else(|| {
                GraphError::invalid_query(format!("Invalid $skip '{value}': it must be a non-negative integer."))
            })?;
            options.skip = Some(skip);
        }
        "count" => {
            options.count = match value.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(GraphError::invalid_query(format!("Invalid $count '{value}': use true or false.")));
                }
            }
        }
        "skiptoken" => options.skiptoken = Some(value.to_string()),
        "format" => {
            if !value.eq_ignore_ascii_case("json") && !value.to_ascii_lowercase().starts_with("application/json") {
                return Err(GraphError::invalid_query(format!("Invalid $format '{value}': only json is supported.")));
            }
        }
        "expand" => {
            return Err(GraphError::not_supported(
                "$expand is not supported: userSecurityProfile has no navigation properties.",
            ));
        }
        "search" => {
            return Err(GraphError::not_supported("$search is not supported on userSecurityProfiles; use $filter."));
        }
        _ => {
            return Err(GraphError::not_supported(format!("${name} is not supported.")));
        }
    }
    Ok(())
}

/// Query components: `%XX` escapes and `+` for space.
fn decode(text: &str) -> Result<String, GraphError> {
    let spaced = text.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| GraphError::invalid_query("The query string is not valid UTF-8 after percent-decoding."))
}

/// Percent-encodes a query option value for `@odata.nextLink`.
pub fn encode(value: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'\'')
        .remove(b'(')
        .remove(b')')
        .remove(b',')
        .remove(b'/')
        .remove(b':')
        .remove(b'$');
    percent_encoding::utf8_percent_encode(value, SET).to_string()
}
