//! The `Prefer` request header (RFC 7240): `return=minimal|representation`, `odata.maxpagesize`.

use http::HeaderMap;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Preferences {
    pub return_minimal: Option<bool>,
    pub max_page_size: Option<usize>,
}

impl Preferences {
    pub fn from_headers(headers: &HeaderMap) -> Preferences {
        let mut prefs = Preferences::default();
        for value in headers.get_all("prefer").iter().filter_map(|v| v.to_str().ok()) {
            for preference in value.split(',') {
                let (name, val) = match preference.split_once('=') {
                    Some((n, v)) => (n.trim(), v.trim().trim_matches('"')),
                    None => (preference.trim(), ""),
                };
                if name.eq_ignore_ascii_case("return") {
                    if val.eq_ignore_ascii_case("minimal") {
                        prefs.return_minimal = Some(true);
                    } else if val.eq_ignore_ascii_case("representation") {
                        prefs.return_minimal = Some(false);
                    }
                } else if name.eq_ignore_ascii_case("odata.maxpagesize") {
                    prefs.max_page_size = val.parse::<usize>().ok().filter(|n| *n > 0);
                }
            }
        }
        prefs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefs(values: &[&str]) -> Preferences {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("prefer", v.parse().unwrap());
        }
        Preferences::from_headers(&h)
    }

    #[test]
    fn parses_known_preferences() {
        assert_eq!(prefs(&["return=minimal"]).return_minimal, Some(true));
        assert_eq!(prefs(&["return=representation"]).return_minimal, Some(false));
        assert_eq!(
            prefs(&["odata.maxpagesize=5, return=minimal"]),
            Preferences { return_minimal: Some(true), max_page_size: Some(5) }
        );
        assert_eq!(prefs(&["odata.maxpagesize=0"]).max_page_size, None);
        assert_eq!(prefs(&["respond-async", "odata.maxpagesize=x"]), Preferences::default());
    }
}
