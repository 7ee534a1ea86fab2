//! Maps a request path to a resource. Segments match case-insensitively (Graph does); ids are
//! percent-decoded and case-sensitive.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    ServiceDocument,
    Metadata,
    Batch,
    Security,
    Collection,
    Count,
    Item(String),
}

impl Route {
    /// The methods each resource answers; any other is 405. `/openapi.json` documents these.
    pub fn methods(&self) -> &'static [http::Method] {
        use http::Method;
        match self {
            Route::ServiceDocument | Route::Metadata | Route::Security | Route::Count => &[Method::GET],
            Route::Batch => &[Method::POST],
            Route::Collection => &[Method::GET, Method::POST],
            Route::Item(_) => &[Method::GET, Method::PATCH, Method::DELETE],
        }
    }

    /// The one spelling of the resource's path that the route table knows.
    pub fn canonical_path(&self) -> String {
        match self {
            Route::ServiceDocument => SERVICE_ROOT.into(),
            Route::Metadata => METADATA.into(),
            Route::Batch => BATCH.into(),
            Route::Security => SECURITY.into(),
            Route::Collection => COLLECTION_PATH.into(),
            Route::Count => COUNT.into(),
            Route::Item(id) => format!("{COLLECTION_PATH}/{}", utf8_percent_encode(id, ID_ESCAPES)),
        }
    }

    /// Whether `path` is already [`Route::canonical_path`], found without writing that out:
    /// most clients send the canonical spelling, and its request needs no rewriting.
    pub fn is_canonical(&self, path: &str) -> bool {
        let Route::Item(id) = self else {
            return self.canonical_path() == path;
        };
        let Some(mut rest) = path.strip_prefix(COLLECTION_PATH).and_then(|p| p.strip_prefix('/')) else {
            return false;
        };
        for piece in utf8_percent_encode(id, ID_ESCAPES) {
            match rest.strip_prefix(piece) {
                Some(after) => rest = after,
                None => return false,
            }
        }
        rest.is_empty()
    }
}

pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const OPENAPI: &str = "/openapi.json";
/// Paths outside the OData service, answered only as they are spelled.
pub const PLAIN_PATHS: [&str; 3] = [HEALTHZ, READYZ, OPENAPI];

pub const SERVICE_ROOT: &str = "/beta";
pub const METADATA: &str = "/beta/$metadata";
pub const BATCH: &str = "/beta/$batch";
pub const SECURITY: &str = "/beta/security";
pub const COLLECTION_PATH: &str = "/beta/security/userSecurityProfiles";
pub const COUNT: &str = "/beta/security/userSecurityProfiles/$count";
/// The route table's pattern for one profile; `id` is percent-encoded in the path.
pub const ITEM: &str = "/beta/security/userSecurityProfiles/{id}";

/// Everything but unreserved characters, so that any id is one path segment.
const ID_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A path that names no resource: 400 "Resource not found for the segment '...'".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSegment(pub String);

const COLLECTION: &str = "userSecurityProfiles";

pub fn parse(raw_path: &str) -> Result<Route, UnknownSegment> {
    let trimmed = raw_path.strip_prefix('/').unwrap_or(raw_path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    // Borrowed unless a segment holds a percent-escape. A path names up to five segments, so
    // the vector is allocated once.
    let mut segments: Vec<Cow<'_, str>> = Vec::with_capacity(8);
    for s in trimmed.split('/') {
        // Without a `%` the segment decodes to itself, and it is already text.
        let segment = match s.contains('%') {
            false => Cow::Borrowed(s),
            true => percent_decode_str(s).decode_utf8().map_err(|_| UnknownSegment(s.to_string()))?,
        };
        segments.push(segment);
    }
    let seg = |i: usize| segments.get(i).map(|s| s.as_ref());
    let is = |i: usize, name: &str| seg(i).is_some_and(|s| s.eq_ignore_ascii_case(name));

    if is(0, "v1.0") {
        // The resource is beta-only; v1.0 does not know its first segment.
        return Err(UnknownSegment(seg(1).unwrap_or("v1.0").to_string()));
    }
    if !is(0, "beta") {
        return Err(UnknownSegment(seg(0).unwrap_or_default().to_string()));
    }
    let route = match seg(1) {
        None | Some("") if segments.len() <= 1 => return Ok(Route::ServiceDocument),
        _ if is(1, "$metadata") => Route::Metadata,
        _ if is(1, "$batch") => Route::Batch,
        _ if is(1, "security") => return parse_security(&segments),
        other => return Err(UnknownSegment(other.unwrap_or_default().to_string())),
    };
    match seg(2) {
        None => Ok(route),
        Some(extra) => Err(UnknownSegment(extra.to_string())),
    }
}

fn parse_security(segments: &[Cow<'_, str>]) -> Result<Route, UnknownSegment> {
    let Some(collection) = segments.get(2) else {
        return Ok(Route::Security);
    };
    let (route, used) = if collection.eq_ignore_ascii_case(COLLECTION) {
        match segments.get(3) {
            None => (Route::Collection, 3),
            Some(s) if s.eq_ignore_ascii_case("$count") => (Route::Count, 4),
            Some(id) if !id.is_empty() => (Route::Item(id.to_string()), 4),
            Some(other) => return Err(UnknownSegment(other.to_string())),
        }
    } else if let Some(id) = parenthesised_key(collection) {
        // OData key syntax: userSecurityProfiles('id') or userSecurityProfiles(id='id').
        (Route::Item(id), 3)
    } else {
        return Err(UnknownSegment(collection.to_string()));
    };
    match segments.get(used) {
        None => Ok(route),
        Some(extra) => Err(UnknownSegment(extra.to_string())),
    }
}

fn parenthesised_key(segment: &str) -> Option<String> {
    let prefix = segment.get(..COLLECTION.len())?;
    if !prefix.eq_ignore_ascii_case(COLLECTION) {
        return None;
    }
    let inner = segment[COLLECTION.len()..].strip_prefix('(')?.strip_suffix(')')?;
    let inner = match inner.split_once('=') {
        Some((name, value)) if name.trim() == "id" => value.trim(),
        Some(_) => return None,
        None => inner.trim(),
    };
    let quoted = inner.strip_prefix('\'')?.strip_suffix('\'')?;
    // Inside an OData string literal a single quote is written twice.
    let mut out = String::with_capacity(quoted.len());
    let mut chars = quoted.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' && chars.next() != Some('\'') {
            return None;
        }
        out.push(c);
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(path: &str) -> Route {
        parse(path).unwrap_or_else(|e| panic!("{path}: {e:?}"))
    }

    fn segment(path: &str) -> String {
        parse(path).unwrap_err().0
    }

    #[test]
    fn routes_case_insensitively() {
        assert_eq!(ok("/beta/security/userSecurityProfiles"), Route::Collection);
        assert_eq!(ok("/beta/Security/UserSecurityProfiles/"), Route::Collection);
        assert_eq!(ok("/BETA/SECURITY/USERSECURITYPROFILES/$COUNT"), Route::Count);
        assert_eq!(ok("/beta/security/userSecurityProfiles/%24count"), Route::Count);
        assert_eq!(ok("/beta/security"), Route::Security);
        assert_eq!(ok("/beta"), Route::ServiceDocument);
        assert_eq!(ok("/beta/"), Route::ServiceDocument);
        assert_eq!(ok("/beta/$metadata"), Route::Metadata);
        assert_eq!(ok("/beta/$batch"), Route::Batch);
    }

    #[test]
    fn canonical_paths_parse_back_to_their_route() {
        for route in [
            Route::ServiceDocument,
            Route::Metadata,
            Route::Batch,
            Route::Security,
            Route::Collection,
            Route::Count,
            Route::Item("a/b c'%$?#é".into()),
        ] {
            let path = route.canonical_path();
            assert_eq!(ok(&path), route, "{path}");
            assert!(route.is_canonical(&path), "{path}");
        }
    }

    #[test]
    fn other_spellings_are_not_canonical() {
        for path in [
            "/beta/Security/userSecurityProfiles/AbC",
            "/beta/security/userSecurityProfiles/a%2fb",
            "/beta/security/userSecurityProfiles/a%2Fb/",
            "/beta/security/userSecurityProfiles('AbC')",
            "/beta/security/userSecurityProfiles/%41bC",
            "/beta/security/userSecurityProfiles/",
            "/beta/",
            "/beta/%24metadata",
        ] {
            let route = ok(path);
            assert!(!route.is_canonical(path), "{path}");
            assert_ne!(route.canonical_path(), path);
        }
        assert!(Route::Item("AbC".into()).is_canonical("/beta/security/userSecurityProfiles/AbC"));
        assert!(!Route::Item("AbC".into()).is_canonical("/beta/security/userSecurityProfiles/AbCd"));
        assert!(!Route::Item("AbC".into()).is_canonical("/beta/security/userSecurityProfiles/Ab"));
    }

    #[test]
    fn ids_are_decoded_and_keep_their_case() {
        assert_eq!(ok("/beta/Security/userSecurityProfiles/AbC"), Route::Item("AbC".into()));
        assert_eq!(ok("/beta/security/userSecurityProfiles/a%2Fb%20c"), Route::Item("a/b c".into()));
        assert_eq!(ok("/beta/security/userSecurityProfiles('x''y')"), Route::Item("x'y".into()));
        assert_eq!(ok("/beta/security/userSecurityProfiles(id='k')"), Route::Item("k".into()));
    }

    #[test]
    fn unknown_segments_are_named() {
        assert_eq!(segment("/v1.0/security/userSecurityProfiles"), "security");
        assert_eq!(segment("/beta/secret"), "secret");
        assert_eq!(segment("/beta/security/alerts"), "alerts");
        assert_eq!(segment("/beta/security/userSecurityProfiles/x/y"), "y");
        assert_eq!(segment("/beta/security/userSecurityProfiles/$count/x"), "x");
        assert_eq!(segment("/beta/$metadata/x"), "x");
        assert_eq!(segment("/"), "");
        assert_eq!(segment("/beta/security/userSecurityProfiles/%FF"), "%FF");
        assert_eq!(segment("/beta/security/userSecurityProfiles('x)"), "userSecurityProfiles('x)");
    }
}
