//! The `microsoft.graph.userSecurityProfile` schema, as far as queries need it.
//!
//! Property names in queries resolve case-insensitively to the canonical names below. Names that
//! are not declared are dynamic properties of the open entity and are matched **exactly** (the
//! SQL renders them as JSON keys, which are case-sensitive).

/// EDM type of a declared scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarType {
    String,
    DateTimeOffset,
    /// `microsoft.graph.accountStatus`, stored as the member name.
    AccountStatus,
}

/// What a declared top-level property is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropKind {
    /// A scalar copied to a column of `profiles`.
    Scalar { ty: ScalarType, column: &'static str, not_null: bool },
    /// `Collection(Edm.String)`, mirrored in `profile_tags`.
    Tags,
    /// `Collection(microsoft.graph.userAccount)`.
    Accounts,
    /// `microsoft.graph.securityVendorInformation`.
    Vendor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopProp {
    pub name: &'static str,
    pub kind: PropKind,
}

const fn scalar(name: &'static str, ty: ScalarType, column: &'static str, not_null: bool) -> TopProp {
    TopProp { name, kind: PropKind::Scalar { ty, column, not_null } }
}

/// Declared properties of userSecurityProfile, in CSDL order.
pub const PROPERTIES: [TopProp; 11] = [
    scalar("id", ScalarType::String, "id", true),
    TopProp { name: "accounts", kind: PropKind::Accounts },
    scalar("azureSubscriptionId", ScalarType::String, "azure_subscription_id", false),
    scalar("azureTenantId", ScalarType::String, "tenant", true),
    scalar("createdDateTime", ScalarType::DateTimeOffset, "created_date_time", false),
    scalar("displayName", ScalarType::String, "display_name", false),
    scalar("lastModifiedDateTime", ScalarType::DateTimeOffset, "last_modified_date_time", false),
    scalar("riskScore", ScalarType::String, "risk_score", false),
    TopProp { name: "tags", kind: PropKind::Tags },
    scalar("userPrincipalName", ScalarType::String, "user_principal_name", false),
    TopProp { name: "vendorInformation", kind: PropKind::Vendor },
];

/// Members of `microsoft.graph.securityVendorInformation` (all Edm.String).
pub const VENDOR_FIELDS: [&str; 4] = ["provider", "providerVersion", "subProvider", "vendor"];

/// Members of `microsoft.graph.userAccount`.
pub const ACCOUNT_FIELDS: [(&str, ScalarType); 6] = [
    ("displayName", ScalarType::String),
    ("lastSeenDateTime", ScalarType::DateTimeOffset),
    ("riskScore", ScalarType::String),
    ("service", ScalarType::String),
    ("signinName", ScalarType::String),
    ("status", ScalarType::AccountStatus),
];

/// Members of `microsoft.graph.accountStatus`, in value order.
pub const ACCOUNT_STATUS: [&str; 6] = ["unknown", "staged", "active", "suspended", "deleted", "unknownFutureValue"];

/// The qualified name of the enum type, as written in enum literals.
pub const ACCOUNT_STATUS_TYPE: &str = "microsoft.graph.accountStatus";

/// Resolves a top-level declared property, case-insensitively.
pub fn resolve_property(name: &str) -> Option<&'static TopProp> {
    PROPERTIES.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// Resolves a member of vendorInformation, case-insensitively.
pub fn resolve_vendor_field(name: &str) -> Option<&'static str> {
    VENDOR_FIELDS.iter().copied().find(|f| f.eq_ignore_ascii_case(name))
}

/// Resolves a member of userAccount, case-insensitively.
pub fn resolve_account_field(name: &str) -> Option<(&'static str, ScalarType)> {
    ACCOUNT_FIELDS.iter().copied().find(|(f, _)| f.eq_ignore_ascii_case(name))
}

/// Is `member` a member name of accountStatus (case-sensitive, as OData enum members are)?
pub fn is_account_status(member: &str) -> bool {
    ACCOUNT_STATUS.contains(&member)
}

/// Is `name` usable as a (dynamic) property name: an OData simple identifier of at most 128
/// characters (a letter or `_`, then letters, digits or `_`).
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_alphabetic() || c == '_' => {}
        _ => return false,
    }
    name.chars().count() <= 128 && chars.all(|c| c.is_alphanumeric() || c == '_')
}
