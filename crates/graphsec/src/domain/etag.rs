//! Entity versions as HTTP entity tags (`W/"<version>"`) and `If-Match` evaluation.

pub fn format(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// A parsed `If-Match` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    Any,
    /// Versions named by the tags; a tag that is not one of ours can never match.
    Versions(Vec<Option<i64>>),
}

impl IfMatch {
    /// Parses `*` or a comma-separated list of (weak or strong) entity tags.
    pub fn parse(header: &str) -> Result<IfMatch, String> {
        let header = header.trim();
        if header == "*" {
            return Ok(IfMatch::Any);
        }
        let mut versions = Vec::new();
        for tag in header.split(',').map(str::trim) {
            let opaque = tag.strip_prefix("W/").unwrap_or(tag);
            let inner = opaque
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .filter(|t| !t.contains('"'))
                .ok_or_else(|| format!("'{tag}' is not a valid entity tag; expected e.g. W/\"3\" or *."))?;
            versions.push(inner.parse::<i64>().ok());
        }
        Ok(IfMatch::Versions(versions))
    }

    /// Weak comparison, as RFC 9110 allows for If-Match on these resources.
    pub fn matches(&self, version: i64) -> bool {
        match self {
            IfMatch::Any => true,
            IfMatch::Versions(v) => v.contains(&Some(version)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        assert_eq!(format(3), "W/\"3\"");
        assert!(IfMatch::parse("*").unwrap().matches(9));
        assert!(IfMatch::parse("W/\"3\"").unwrap().matches(3));
        assert!(IfMatch::parse("\"3\"").unwrap().matches(3));
        assert!(IfMatch::parse("W/\"1\", W/\"3\"").unwrap().matches(3));
        assert!(!IfMatch::parse("W/\"2\"").unwrap().matches(3));
        assert!(!IfMatch::parse("\"abc\"").unwrap().matches(3));
    }

    #[test]
    fn rejects_malformed_tags() {
        for bad in ["3", "W/3", "\"3", "", "W/\"3\"\"", "\"1\",, \"2\""] {
            assert!(IfMatch::parse(bad).is_err(), "{bad}");
        }
    }
}
