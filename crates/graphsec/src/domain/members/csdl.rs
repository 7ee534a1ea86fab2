//! The `$metadata` document (CSDL): `metadata.xml` with the declared members filled in from the
//! member table. Each line `<!-- members of T -->` there becomes the members of type `T`, at
//! that line's indentation; `microsoft.graph.entity` declares the key, userSecurityProfile
//! (derived from it) the other members.

use std::sync::LazyLock;

use odata::{ComplexType, Property};

use super::{ACCOUNT_STATUS, KEY, MEMBERS, USER_ACCOUNT, VENDOR_INFORMATION};

const TEMPLATE: &str = include_str!("metadata.xml");
const NAMESPACE: &str = "microsoft.graph.";
/// The alias the document declares for the namespace.
const ALIAS: &str = "graph.";

/// The CSDL text served at `$metadata`.
pub fn csdl() -> &'static str {
    static DOCUMENT: LazyLock<String> = LazyLock::new(|| fill(TEMPLATE));
    &DOCUMENT
}

fn fill(template: &str) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    for line in template.split_inclusive('\n') {
        let code = line.trim_start();
        let placeholder = code.strip_prefix("<!-- members of ").and_then(|rest| rest.strip_suffix(" -->\n"));
        match placeholder.and_then(members_of) {
            Some(members) => {
                let indent = &line[..line.len() - code.len()];
                for member in members {
                    out.push_str(indent);
                    out.push_str(&member);
                    out.push('\n');
                }
            }
            None => out.push_str(line),
        }
    }
    out
}

/// The member elements of the type named `ty`, or `None` for a type the table does not declare.
fn members_of(ty: &str) -> Option<Vec<String>> {
    let entity =
        |key: bool| MEMBERS.iter().filter(|m| (m.name == KEY) == key).map(|m| property(&m.property())).collect();
    let complex = |c: &ComplexType| c.members.iter().map(property).collect();
    match ty.strip_prefix(NAMESPACE)? {
        "accountStatus" => Some(
            ACCOUNT_STATUS
                .members
                .iter()
                .map(|(name, value)| format!("<Member Name=\"{name}\" Value=\"{value}\" />"))
                .collect(),
        ),
        "entity" => Some(entity(true)),
        "userSecurityProfile" => Some(entity(false)),
        "userAccount" => Some(complex(&USER_ACCOUNT)),
        "securityVendorInformation" => Some(complex(&VENDOR_INFORMATION)),
        _ => None,
    }
}

fn property(p: &Property) -> String {
    let ty = p.ty.qualified_name().replace(NAMESPACE, ALIAS);
    let nullable = if p.nullable { "" } else { " Nullable=\"false\"" };
    format!("<Property Name=\"{}\" Type=\"{ty}\"{nullable} />", p.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `testdata/metadata.xml` is the document as it was written by hand before it was
    /// generated: the generated one must not differ by a byte.
    #[test]
    fn the_document_is_the_hand_written_one() {
        assert_eq!(csdl(), include_str!("testdata/metadata.xml"));
    }

    #[test]
    fn every_placeholder_names_a_declared_type() {
        assert!(!csdl().contains("<!--"), "a placeholder names no type of the member table");
    }
}
