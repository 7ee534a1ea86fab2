//! The entity type queries run against, as the caller declares it: its key, its declared
//! properties with their EDM types, and the complex and enumeration types those use.
//!
//! The entity type is open: names that are not declared are dynamic properties. Declared names
//! in queries resolve case-insensitively to their canonical spelling; dynamic names are matched
//! **exactly** (the SQL renders them as JSON keys, which are case-sensitive).
//!
//! Every name here ends up in SQL text, so it must be a simple identifier (letters, digits, `_`).
//!
//! What queries can reach: declared scalars (`Edm.String`, `Edm.DateTimeOffset`, an enumeration,
//! all stored as JSON strings), members of a complex property (`p/member`, scalar members only),
//! `Collection(Edm.String)` and collections of a complex type (lambdas and `$count`). Paths to
//! other shapes are refused as unsupported.

/// An enumeration type. Values are written as `<name>'<member>'` or, where the type is known
/// from the other side of a comparison, as a plain string.
#[derive(Debug, PartialEq, Eq)]
pub struct EnumType {
    /// Qualified name, e.g. `microsoft.graph.accountStatus`.
    pub name: &'static str,
    /// Member names with their values, in value order.
    pub members: &'static [(&'static str, i64)],
}

impl EnumType {
    /// Is `member` a member name (case-sensitive, as OData enum members are)?
    pub fn has_member(&self, member: &str) -> bool {
        self.members.iter().any(|(name, _)| *name == member)
    }
}

/// A (closed) complex type.
#[derive(Debug, PartialEq, Eq)]
pub struct ComplexType {
    /// Qualified name, e.g. `microsoft.graph.userAccount`.
    pub name: &'static str,
    /// Members, in declaration order.
    pub members: &'static [Property],
    /// The member an error message suggests when a path stops at a value of this type.
    pub example_member: &'static str,
}

impl ComplexType {
    /// The name without its namespace, e.g. `userAccount`.
    pub fn short_name(&self) -> &'static str {
        self.name.rsplit('.').next().unwrap_or(self.name)
    }

    /// Resolves a member, case-insensitively.
    pub fn member(&self, name: &str) -> Option<&'static Property> {
        self.members.iter().find(|m| m.name.eq_ignore_ascii_case(name))
    }
}

/// The EDM type of a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    DateTimeOffset,
    Enum(&'static EnumType),
    Complex(&'static ComplexType),
    Collection(&'static Type),
}

impl Type {
    /// The qualified type name as CSDL writes it, e.g. `Collection(microsoft.graph.userAccount)`.
    pub fn qualified_name(&self) -> String {
        match self {
            Type::String => "Edm.String".to_owned(),
            Type::DateTimeOffset => "Edm.DateTimeOffset".to_owned(),
            Type::Enum(e) => e.name.to_owned(),
            Type::Complex(c) => c.name.to_owned(),
            Type::Collection(item) => format!("Collection({})", item.qualified_name()),
        }
    }
}

/// A declared property of the entity type or of a complex type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Property {
    pub name: &'static str,
    pub ty: Type,
    pub nullable: bool,
}

/// The entity type: its key property and its declared properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    key: &'static str,
    properties: Vec<Property>,
}

impl Schema {
    /// `key` names the declared, non-nullable scalar property that identifies an entity; it is
    /// the final tie-breaker of every `$orderby`.
    pub fn new(key: &'static str, properties: Vec<Property>) -> Schema {
        Schema { key, properties }
    }

    pub fn key(&self) -> &'static str {
        self.key
    }

    /// Resolves a declared property, case-insensitively.
    pub fn property(&self, name: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// The enumeration type named `name` (case-insensitively) among the types the declared
    /// properties use.
    pub(crate) fn enum_type(&self, name: &str) -> Option<&'static EnumType> {
        fn find(ty: &Type, name: &str) -> Option<&'static EnumType> {
            match ty {
                Type::Enum(e) if e.name.eq_ignore_ascii_case(name) => Some(*e),
                Type::Complex(c) => c.members.iter().find_map(|m| find(&m.ty, name)),
                Type::Collection(item) => find(item, name),
                _ => None,
            }
        }
        self.properties.iter().find_map(|p| find(&p.ty, name))
    }
}

/// Where the caller stores entities, for the SQL this crate renders. The rendered SQL reads the
/// entity table through `alias` only; the caller's statement names `table` in its FROM clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storage {
    pub table: &'static str,
    pub alias: &'static str,
    /// The column holding each entity as a JSON document (`TEXT` on SQLite, `jsonb` on
    /// PostgreSQL). Members without a column of their own are read from it.
    pub document: &'static str,
    /// The column copying each declared scalar that has one, by property name.
    pub columns: Vec<(&'static str, &'static str)>,
    /// The table holding the elements of each `Collection(Edm.String)` property, by property
    /// name. A string collection without one is read from the document.
    pub element_tables: Vec<(&'static str, ElementTable)>,
}

impl Storage {
    pub(crate) fn column(&self, property: &str) -> Option<&'static str> {
        self.columns.iter().find(|(p, _)| *p == property).map(|(_, c)| *c)
    }

    pub(crate) fn element_table(&self, property: &str) -> Option<&ElementTable> {
        self.element_tables.iter().find(|(p, _)| *p == property).map(|(_, t)| t)
    }
}

/// A table with one row per element of a string collection, keyed by the entity's key columns
/// (named alike in both tables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementTable {
    pub table: &'static str,
    /// The element's value.
    pub value: &'static str,
    /// The columns identifying the entity, present in both tables.
    pub key: &'static [&'static str],
    /// SQLite only: a column of the entity table holding the string elements as a JSON array
    /// (NULL when there are none). With it, the element table only answers "has an element
    /// equal to one of these strings" (so it needs each distinct element once) and everything
    /// else reads the array. Without it, and always on PostgreSQL, the element table holds
    /// every element and answers everything.
    pub json_array: Option<&'static str>,
}
