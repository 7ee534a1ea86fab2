//! `$select`: a comma list of top-level property names, or `*`.

use crate::QueryError;
use crate::lexer::{Tok, lex};
use crate::schema::Schema;

/// A parsed `$select`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Select {
    all: bool,
    names: Vec<String>,
}

/// Parses `$select` against `schema`. Declared names resolve case-insensitively to their canonical spelling;
/// other names are dynamic properties, kept exactly as written. Duplicates are dropped.
pub fn parse_select(input: &str, schema: &Schema) -> Result<Select, QueryError> {
    let toks = lex(input)?;
    if toks.len() == 1 {
        return Err(QueryError::at("$select is empty", 0));
    }
    let mut all = false;
    let mut names: Vec<String> = Vec::new();
    let mut i = 0;
    loop {
        let t = &toks[i];
        match &t.tok {
            Tok::Star => all = true,
            Tok::Ident(name) if !name.starts_with('$') => {
                let canonical = schema.property(name).map_or_else(|| name.clone(), |p| p.name.to_owned());
                if !names.contains(&canonical) {
                    names.push(canonical);
                }
            }
            other => {
                return Err(QueryError::at(
                    format!("expected a property name or '*', found {}", other.describe()),
                    t.pos,
                ));
            }
        }
        let sep = &toks[(i + 1).min(toks.len() - 1)];
        match sep.tok {
            Tok::Comma => i += 2,
            Tok::Eof => break,
            Tok::Slash => {
                return Err(QueryError::at(
                    "$select of nested properties is not supported; select the top-level property",
                    sep.pos,
                ));
            }
            _ => {
                return Err(QueryError::at(
                    format!("expected ',' or the end of $select, found {}", sep.tok.describe()),
                    sep.pos,
                ));
            }
        }
        if i >= toks.len() {
            return Err(QueryError::new("unexpected end of $select"));
        }
    }
    Ok(Select { all, names })
}

impl Select {
    /// `*` was requested: every property.
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// Requested names (canonical for declared properties) in request order, without `*`.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Should the member `name` of a stored document be returned? Declared members match their
    /// canonical name; dynamic members match exactly.
    pub fn contains(&self, name: &str) -> bool {
        self.all || self.names.iter().any(|n| n == name)
    }

    /// Stable text: `*` or the names joined by `,`.
    pub fn canonical(&self) -> String {
        if self.all {
            let mut v = vec!["*".to_owned()];
            v.extend(self.names.iter().cloned());
            v.join(",")
        } else {
            self.names.join(",")
        }
    }

    /// The document with only the selected members (every member when `*`).
    pub fn project(&self, doc: &serde_json::Value) -> serde_json::Value {
        match doc {
            serde_json::Value::Object(m) if !self.all => serde_json::Value::Object(
                m.iter().filter(|(k, _)| self.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect(),
            ),
            other => other.clone(),
        }
    }
}
