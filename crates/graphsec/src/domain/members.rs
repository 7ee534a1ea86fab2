//! The declared members of userSecurityProfile, in one table: name, EDM type, nullability, the
//! column of `profiles` that copies the member (if any) and whether that column is indexed. The
//! complex and enumeration types the members use are declared here too.
//!
//! Everything that needs to know the members reads them here: request validation
//! (`domain::profile`), the query schema and storage map for `$filter`/`$orderby`/`$select`
//! ([`schema`], [`storage`]), `$metadata` ([`csdl`]), `/openapi.json` and the stores' columns.

mod csdl;

use serde_json::{Map, Value};
use std::sync::LazyLock;

use odata::{ComplexType, Dialect, ElementTable, EnumType, Property, Schema, Storage, Type};

pub use csdl::csdl;

/// `microsoft.graph.accountStatus`, with its members' values.
pub const ACCOUNT_STATUS: EnumType = EnumType {
    name: "microsoft.graph.accountStatus",
    members: &[
        ("unknown", 0),
        ("staged", 1),
        ("active", 2),
        ("suspended", 3),
        ("deleted", 4),
        ("unknownFutureValue", 127),
    ],
};

const fn optional(name: &'static str, ty: Type) -> Property {
    Property { name, ty, nullable: true }
}

/// `microsoft.graph.userAccount`, an element of `accounts`.
pub const USER_ACCOUNT: ComplexType = ComplexType {
    name: "microsoft.graph.userAccount",
    members: &[
        optional("displayName", Type::String),
        optional("lastSeenDateTime", Type::DateTimeOffset),
        optional("riskScore", Type::String),
        optional("service", Type::String),
        optional("signinName", Type::String),
        optional("status", Type::Enum(&ACCOUNT_STATUS)),
    ],
    example_member: "status",
};

/// `microsoft.graph.securityVendorInformation`, the type of `vendorInformation`.
pub const VENDOR_INFORMATION: ComplexType = ComplexType {
    name: "microsoft.graph.securityVendorInformation",
    members: &[
        optional("provider", Type::String),
        optional("providerVersion", Type::String),
        optional("subProvider", Type::String),
        optional("vendor", Type::String),
    ],
    example_member: "provider",
};

/// A declared member of userSecurityProfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub name: &'static str,
    pub ty: Type,
    pub nullable: bool,
    /// The column of `profiles` copying the member, on both backends.
    pub column: Option<&'static str>,
    /// Whether filters and orders on the member use an index (per tenant): of its column, or of
    /// the table holding its elements.
    pub indexed: bool,
}

impl Member {
    /// The member as the query schema and CSDL declare it.
    pub fn property(&self) -> Property {
        Property { name: self.name, ty: self.ty, nullable: self.nullable }
    }
}

const fn member(name: &'static str, ty: Type, column: Option<&'static str>, indexed: bool) -> Member {
    Member { name, ty, nullable: true, column, indexed }
}

/// The key member.
pub const KEY: &str = "id";
/// The member naming the tenant a profile belongs to.
pub const TENANT: &str = "azureTenantId";

/// The declared members, in CSDL order (which is also the order of a stored document).
pub const MEMBERS: [Member; 11] = [
    Member { name: KEY, ty: Type::String, nullable: false, column: Some("id"), indexed: true },
    member("accounts", Type::Collection(&Type::Complex(&USER_ACCOUNT)), None, false),
    member("azureSubscriptionId", Type::String, Some("azure_subscription_id"), false),
    Member { name: "azureTenantId", ty: Type::String, nullable: false, column: Some("tenant"), indexed: true },
    member("createdDateTime", Type::DateTimeOffset, Some("created_date_time"), true),
    member("displayName", Type::String, Some("display_name"), true),
    member("lastModifiedDateTime", Type::DateTimeOffset, Some("last_modified_date_time"), true),
    member("riskScore", Type::String, Some("risk_score"), true),
    member("tags", Type::Collection(&Type::String), None, true),
    member("userPrincipalName", Type::String, Some("user_principal_name"), true),
    member("vendorInformation", Type::Complex(&VENDOR_INFORMATION), None, false),
];

/// The table and alias every profile query reads.
const TABLE: &str = "profiles";
const ALIAS: &str = "p";
/// The column holding the canonical JSON document.
const DOCUMENT: &str = "doc";
/// `tags`, one row per string element, keyed like `profiles`.
const TAGS: &str = "tags";
const TAG_TABLE: &str = "profile_tags";
/// SQLite's copy of the string elements of `tags` as a JSON array on `profiles`.
const SQLITE_TAGS_JSON: &str = "tags_json";

/// The names of the declared members, in CSDL order.
pub fn names() -> impl Iterator<Item = &'static str> {
    MEMBERS.iter().map(|m| m.name)
}

/// Is `name` a declared member (exact spelling)?
pub fn is_declared(name: &str) -> bool {
    MEMBERS.iter().any(|m| m.name == name)
}

/// The member whose copy is the column `column`.
pub fn in_column(column: &str) -> Option<&'static Member> {
    MEMBERS.iter().find(|m| m.column == Some(column))
}

/// The value of the declared member `name` in `doc`. A canonical document has it at its place in
/// CSDL order, which is checked by comparing the name there rather than by hashing `name`.
pub fn value_of<'a>(doc: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    let Some(position) = MEMBERS.iter().position(|m| m.name == name) else {
        return doc.get(name);
    };
    match doc.iter().nth(position) {
        Some((at, value)) if at == name => Some(value),
        _ => doc.get(name),
    }
}

/// The query schema of userSecurityProfile.
pub fn schema() -> &'static Schema {
    static SCHEMA: LazyLock<Schema> =
        LazyLock::new(|| Schema::new(KEY, MEMBERS.iter().map(Member::property).collect()));
    &SCHEMA
}

/// Where the backend of `dialect` stores profiles, for the SQL odata renders.
pub fn storage(dialect: Dialect) -> &'static Storage {
    static SQLITE: LazyLock<Storage> = LazyLock::new(|| storage_with(Some(SQLITE_TAGS_JSON)));
    static POSTGRES: LazyLock<Storage> = LazyLock::new(|| storage_with(None));
    match dialect {
        Dialect::Sqlite => &SQLITE,
        Dialect::Postgres => &POSTGRES,
    }
}

fn storage_with(tags_json: Option<&'static str>) -> Storage {
    let key_columns: &'static [&'static str] = &["tenant", "id"];
    Storage {
        table: TABLE,
        alias: ALIAS,
        document: DOCUMENT,
        columns: MEMBERS.iter().filter_map(|m| Some((m.name, m.column?))).collect(),
        element_tables: vec![(
            TAGS,
            ElementTable { table: TAG_TABLE, value: "tag", key: key_columns, json_array: tags_json },
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_of_finds_a_member_at_its_place_or_anywhere_else() {
        let mut doc = Map::new();
        for (i, name) in names().enumerate() {
            doc.insert(name.to_string(), Value::from(i));
        }
        for (i, name) in names().enumerate() {
            assert_eq!(value_of(&doc, name), Some(&Value::from(i)), "{name}");
        }
        let reversed: Map<String, Value> = doc.iter().rev().map(|(k, v)| (k.clone(), v.clone())).collect();
        for name in names() {
            assert_eq!(value_of(&reversed, name), doc.get(name), "{name}, out of order");
        }
        let mut with_dynamic = Map::new();
        with_dynamic.insert("custom".into(), Value::from("c"));
        assert_eq!(value_of(&with_dynamic, "custom"), Some(&Value::from("c")), "not declared");
        assert_eq!(value_of(&with_dynamic, "displayName"), None);
    }

    fn migrations(dir: &str) -> String {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dir);
        let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect()
    }

    /// Whether `column` of `table` is the profile key or follows the tenant in an index.
    fn has_index(sql: &str, table: &str, column: &str) -> bool {
        let after_tenant = format!("(tenant, {column}");
        ["tenant", "id"].contains(&column)
            || sql.lines().any(|l| l.contains(&format!("INDEX {table}_")) && l.contains(&after_tenant))
            || sql.lines().any(|l| l.contains(&format!(" ON {table} {after_tenant}")))
            || sql.contains(&format!("PRIMARY KEY {after_tenant}"))
    }

    #[test]
    fn indexed_members_are_indexed_on_both_backends_and_the_others_are_not() {
        for backend in ["sqlite", "postgres"] {
            let sql = migrations(backend);
            for m in MEMBERS {
                let indexed = match (m.column, m.name) {
                    (Some(column), _) => has_index(&sql, TABLE, column),
                    (None, TAGS) => has_index(&sql, TAG_TABLE, "tag"),
                    (None, _) => false,
                };
                assert_eq!(indexed, m.indexed, "{backend}: {}", m.name);
            }
        }
    }

    #[test]
    fn the_stores_copy_each_member_into_its_column() {
        let mut doc = serde_json::Map::new();
        for m in MEMBERS {
            doc.insert(m.name.into(), serde_json::json!(format!("value of {}", m.name)));
        }
        doc.insert("tags".into(), serde_json::json!(["a", 1, "b"]));
        let c = crate::store::IndexedColumns::of(&doc).unwrap();
        let copies = [
            ("tenant", Some(c.tenant)),
            ("id", Some(c.id)),
            ("user_principal_name", c.user_principal_name),
            ("display_name", c.display_name),
            ("risk_score", c.risk_score),
            ("azure_subscription_id", c.azure_subscription_id),
            ("created_date_time", c.created_date_time),
            ("last_modified_date_time", c.last_modified_date_time),
        ];
        assert_eq!(copies.len(), MEMBERS.iter().filter(|m| m.column.is_some()).count());
        for (column, value) in copies {
            assert_eq!(value.unwrap(), format!("value of {}", in_column(column).unwrap().name), "{column}");
        }
        assert_eq!(c.tags, ["a", "b"]);
    }

    #[test]
    fn every_column_belongs_to_one_member() {
        for m in MEMBERS.iter().filter(|m| m.column.is_some()) {
            assert_eq!(in_column(m.column.unwrap()), Some(m));
        }
        assert_eq!(schema().key(), KEY);
        assert!(
            storage(Dialect::Postgres).columns.iter().all(|(name, column)| in_column(column).unwrap().name == *name)
        );
    }
}
