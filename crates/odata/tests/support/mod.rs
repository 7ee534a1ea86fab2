//! The entity odata's own tests query: a profile shaped like Microsoft Graph's
//! userSecurityProfile, with two ways to store it. Shared by the unit tests, the differential
//! test and the fuzz target.
#![allow(dead_code)] // each includer uses a part

use std::sync::LazyLock;

use odata::{ComplexType, Dialect, ElementTable, EnumType, Property, Schema, Storage, Type};

pub const STATUS: EnumType = EnumType {
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

const fn text(name: &'static str) -> Property {
    Property { name, ty: Type::String, nullable: true }
}

const fn date(name: &'static str) -> Property {
    Property { name, ty: Type::DateTimeOffset, nullable: true }
}

pub const ACCOUNT: ComplexType = ComplexType {
    name: "microsoft.graph.userAccount",
    members: &[
        text("displayName"),
        date("lastSeenDateTime"),
        text("riskScore"),
        text("service"),
        text("signinName"),
        Property { name: "status", ty: Type::Enum(&STATUS), nullable: true },
    ],
    example_member: "status",
};

pub const VENDOR: ComplexType = ComplexType {
    name: "microsoft.graph.securityVendorInformation",
    members: &[text("provider"), text("providerVersion"), text("subProvider"), text("vendor")],
    example_member: "provider",
};

pub static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    Schema::new(
        "id",
        vec![
            Property { name: "id", ty: Type::String, nullable: false },
            Property { name: "accounts", ty: Type::Collection(&Type::Complex(&ACCOUNT)), nullable: true },
            text("azureSubscriptionId"),
            Property { name: "azureTenantId", ty: Type::String, nullable: false },
            date("createdDateTime"),
            text("displayName"),
            date("lastModifiedDateTime"),
            text("riskScore"),
            Property { name: "tags", ty: Type::Collection(&Type::String), nullable: true },
            text("userPrincipalName"),
            Property { name: "vendorInformation", ty: Type::Complex(&VENDOR), nullable: true },
        ],
    )
});

/// Scalars copied to columns, tags in an element table (and, on SQLite, a JSON array column).
pub fn tables(dialect: Dialect) -> &'static Storage {
    static SQLITE: LazyLock<Storage> = LazyLock::new(|| with_tables(Some("tags_json")));
    static POSTGRES: LazyLock<Storage> = LazyLock::new(|| with_tables(None));
    match dialect {
        Dialect::Sqlite => &SQLITE,
        Dialect::Postgres => &POSTGRES,
    }
}

fn with_tables(json_array: Option<&'static str>) -> Storage {
    Storage {
        table: "profiles",
        alias: "p",
        document: "doc",
        columns: vec![
            ("id", "id"),
            ("azureSubscriptionId", "azure_subscription_id"),
            ("azureTenantId", "tenant"),
            ("createdDateTime", "created_date_time"),
            ("displayName", "display_name"),
            ("lastModifiedDateTime", "last_modified_date_time"),
            ("riskScore", "risk_score"),
            ("userPrincipalName", "user_principal_name"),
        ],
        element_tables: vec![(
            "tags",
            ElementTable { table: "profile_tags", value: "tag", key: &["tenant", "id"], json_array },
        )],
    }
}

/// Everything read from the JSON document.
pub static DOCUMENT_ONLY: LazyLock<Storage> = LazyLock::new(|| Storage {
    table: "profiles",
    alias: "p",
    document: "doc",
    columns: Vec::new(),
    element_tables: Vec::new(),
});

/// SQLite tables for [`tables`]: the profile table keyed (tenant, id), and tags keyed by tag
/// with each distinct tag of a profile once.
pub const SQLITE_DDL: &str = "
CREATE TABLE profiles (
    tenant TEXT NOT NULL, id TEXT NOT NULL, user_principal_name TEXT, display_name TEXT,
    risk_score TEXT, azure_subscription_id TEXT, created_date_time TEXT,
    last_modified_date_time TEXT, tags_json TEXT, doc TEXT NOT NULL, PRIMARY KEY (tenant, id));
CREATE TABLE profile_tags (
    tenant TEXT NOT NULL, tag TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (tenant, tag, id)) WITHOUT ROWID;
";

/// PostgreSQL tables for [`tables`] (temporary): tags keep every element, in order.
pub const POSTGRES_DDL: &str = r#"
CREATE TEMP TABLE profiles (
    tenant TEXT COLLATE "C" NOT NULL, id TEXT COLLATE "C" NOT NULL,
    user_principal_name TEXT COLLATE "C", display_name TEXT COLLATE "C", risk_score TEXT COLLATE "C",
    azure_subscription_id TEXT COLLATE "C", created_date_time TEXT COLLATE "C",
    last_modified_date_time TEXT COLLATE "C", doc JSONB NOT NULL, PRIMARY KEY (tenant, id));
CREATE TEMP TABLE profile_tags (tenant TEXT COLLATE "C" NOT NULL, id TEXT COLLATE "C" NOT NULL,
    pos BIGINT NOT NULL, tag TEXT COLLATE "C" NOT NULL, PRIMARY KEY (tenant, id, pos));
"#;
