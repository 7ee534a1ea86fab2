//! The userSecurityProfile entity: request-body validation, create defaults and PATCH merge.
//!
//! A profile is kept as one canonical JSON object (declared members in CSDL order with explicit
//! nulls, then dynamic members), which is exactly what is sent on the wire, so reads pass it
//! through untouched.

use super::document::Document;
use super::members::{self, ACCOUNT_STATUS, USER_ACCOUNT, VENDOR_INFORMATION};
use odata::ComplexType;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

pub const ENTITY_TYPE_NAME: &str = "microsoft.graph.userSecurityProfile";

/// The "Update userSecurityProfile" documentation example sends `"status": "String"` (a generator
/// placeholder). It is kept as sent so the documented request works unchanged; every other
/// non-member is refused.
const DOCUMENTED_STATUS_PLACEHOLDER: &str = "String";

/// Most characters in an `id` or an `azureTenantId`.
pub const MAX_ID_LEN: usize = 512;
const MAX_DYNAMIC_NAME_LEN: usize = 128;

/// Why a body was refused; rendered as a 400 with `inner_code` as the inner error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub inner_code: &'static str,
    pub message: String,
}

impl ValidationError {
    fn invalid(message: impl Into<String>) -> Self {
        ValidationError { inner_code: "invalidRequest", message: message.into() }
    }
}

/// A validated request body: only the members it carried, each normalised. For declared members
/// `Null` means "set to null"; for dynamic members it means "remove".
#[derive(Debug, Clone, Default)]
pub struct ProfileInput {
    members: Map<String, Value>,
}

impl ProfileInput {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.members.get(name)
    }
}

pub fn parse_input(body: &[u8]) -> Result<ProfileInput, ValidationError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ValidationError {
        inner_code: "invalidJson",
        message: format!(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format. ({e})"
        ),
    })?;
    if contains_nul(&value) {
        return Err(ValidationError::invalid("Strings must not contain the NUL character (U+0000)."));
    }
    let Value::Object(object) = value else {
        return Err(ValidationError::invalid(
            "The request body must be a JSON object describing a userSecurityProfile.",
        ));
    };
    let mut members = Map::new();
    // Dynamic names by their lower case: a body may hold as many members as it has bytes.
    let mut dynamic_names: HashMap<String, String> = HashMap::new();
    for (name, value) in object {
        if let Some(annotation) = name.strip_prefix('@') {
            if annotation == "odata.type" {
                check_odata_type(&value, ENTITY_TYPE_NAME)?;
            }
            continue;
        }
        if name.contains('@') {
            continue; // property annotation such as "tags@odata.type"
        }
        let normalized = match members::names().find(|d| d.eq_ignore_ascii_case(&name)) {
            Some(declared) if declared != name => {
                return Err(ValidationError::invalid(format!(
                    "Property '{name}' does not exist on type '{ENTITY_TYPE_NAME}'; property names are case-sensitive (did you mean '{declared}'?)."
                )));
            }
            Some(declared) => normalize_declared(declared, value)?,
            None => {
                check_dynamic_name(&name)?;
                if let Some(other) = dynamic_names.insert(name.to_ascii_lowercase(), name.clone()) {
                    return Err(ValidationError::invalid(format!(
                        "Dynamic properties '{other}' and '{name}' differ only by case."
                    )));
                }
                value
            }
        };
        members.insert(name, normalized);
    }
    Ok(ProfileInput { members })
}

/// Whose `lastModifiedDateTime` a new profile gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastModified {
    /// The time of the create, whatever the body says (POST).
    Now,
    /// The body's, when it has one (`graphsec import`): a profile exported from one store keeps
    /// its history when it is loaded into another.
    AsGiven,
}

/// Builds a new profile from a create body. `default_tenant` applies when the body has no
/// azureTenantId; `now` is the wire-form current time.
pub fn build_new(
    input: ProfileInput,
    default_tenant: &str,
    now: &str,
    last_modified: LastModified,
) -> Result<Map<String, Value>, ValidationError> {
    let mut members = input.members;
    let mut doc = Map::new();
    for name in members::names() {
        // Moved out, not cloned: what is left afterwards are the dynamic properties, in order.
        let value = match (name, members.shift_remove(name)) {
            ("id", None | Some(Value::Null)) => Value::String(uuid::Uuid::new_v4().to_string()),
            ("azureTenantId", None) => Value::String(default_tenant.to_string()),
            ("createdDateTime", None | Some(Value::Null)) => Value::String(now.to_string()),
            ("lastModifiedDateTime", Some(given @ Value::String(_))) if last_modified == LastModified::AsGiven => given,
            ("lastModifiedDateTime", _) => Value::String(now.to_string()),
            ("vendorInformation", Some(Value::Object(v))) => Value::Object(merge_vendor_information(None, &v)),
            // A collection is never null: absent, it is empty.
            ("tags" | "accounts", None) => Value::Array(Vec::new()),
            (_, Some(v)) => v,
            (_, None) => Value::Null,
        };
        doc.insert(name.to_string(), value);
    }
    for (name, value) in members {
        if !value.is_null() {
            doc.insert(name, value);
        }
    }
    Ok(doc)
}

/// Applies a PATCH body to a stored profile and returns the new canonical document. An error
/// when the body is refused; the stored document's own errors (it is not JSON) come as
/// [`PatchError::Stored`].
pub fn apply_patch<'a>(
    stored: &Document<'a>,
    input: &ProfileInput,
    url_id: &str,
    now: &str,
) -> Result<Document<'a>, PatchError> {
    if let Some(id) = input.get("id")
        && id.as_str() != Some(url_id)
    {
        return Err(PatchError::Invalid(ValidationError::invalid(format!(
            "The id in the body must match the id in the URL ('{url_id}') or be left out."
        ))));
    }
    let mut doc = stored.clone();
    for (name, value) in &input.members {
        if !members::is_declared(name) {
            continue;
        }
        match (name.as_str(), value) {
            // Server-managed: a client may send back what it read; it is ignored.
            ("id" | "createdDateTime" | "lastModifiedDateTime", _) => {}
            ("vendorInformation", Value::Object(patch)) => {
                let old = stored.value(name)?;
                doc.set(name, Value::Object(merge_vendor_information(old.as_ref().and_then(Value::as_object), patch)));
            }
            _ => doc.set(name, value.clone()),
        }
    }
    let last_modified = stored.value("lastModifiedDateTime")?;
    let next = super::datetime::strictly_after(last_modified.as_ref().and_then(Value::as_str), now.to_string());
    doc.set("lastModifiedDateTime", Value::String(next));
    if input.members.keys().any(|name| !members::is_declared(name)) {
        apply_dynamic(stored, input, &mut doc)?;
    }
    Ok(doc)
}

/// Why a PATCH was not applied.
#[derive(Debug)]
pub enum PatchError {
    Invalid(ValidationError),
    /// The stored document is not what graphsec writes.
    Stored(serde_json::Error),
}

impl From<serde_json::Error> for PatchError {
    fn from(e: serde_json::Error) -> Self {
        PatchError::Stored(e)
    }
}

impl From<ValidationError> for PatchError {
    fn from(e: ValidationError) -> Self {
        PatchError::Invalid(e)
    }
}

/// Sets and removes the dynamic members a PATCH body carries.
fn apply_dynamic(stored: &Document<'_>, input: &ProfileInput, doc: &mut Document<'_>) -> Result<(), ValidationError> {
    // The body's own names never differ only by case (parse_input), so only the stored ones can
    // clash; each lookup and each removal costs the same however many members there are.
    let stored_names: HashMap<String, &str> = stored
        .names()
        .filter(|name| !members::is_declared(name))
        .map(|name| (name.to_ascii_lowercase(), name))
        .collect();
    let mut removed = HashSet::new();
    let mut set = Vec::new();
    for (name, value) in &input.members {
        if members::is_declared(name) {
            continue;
        }
        if let Some(existing) = stored_names.get(&name.to_ascii_lowercase()).filter(|existing| **existing != name) {
            return Err(ValidationError::invalid(format!(
                "Dynamic property '{name}' differs only by case from the stored property '{existing}'."
            )));
        }
        if value.is_null() {
            removed.insert(name.as_str());
        } else {
            set.push((name.as_str(), value.clone()));
        }
    }
    doc.set_all(set);
    if !removed.is_empty() {
        doc.remove(&removed);
    }
    Ok(())
}

/// OData PATCH applied to a complex value: members present in `patch` replace, the rest stay.
fn merge_vendor_information(old: Option<&Map<String, Value>>, patch: &Map<String, Value>) -> Map<String, Value> {
    VENDOR_INFORMATION
        .members
        .iter()
        .map(|m| {
            let value = patch.get(m.name).or_else(|| old.and_then(|o| o.get(m.name))).cloned().unwrap_or(Value::Null);
            (m.name.to_string(), value)
        })
        .collect()
}

fn normalize_declared(name: &str, value: Value) -> Result<Value, ValidationError> {
    match name {
        "id" => match &value {
            Value::String(s) if is_valid_id(s) => Ok(value),
            Value::Null => Ok(value),
            _ => Err(ValidationError::invalid(format!(
                "'id' must be a non-empty string of at most {MAX_ID_LEN} characters without control characters."
            ))),
        },
        "azureTenantId" => match &value {
            Value::String(s) if !s.is_empty() && s.chars().count() <= MAX_ID_LEN => Ok(value),
            Value::Null => Err(ValidationError::invalid("'azureTenantId' cannot be null.")),
            _ => Err(ValidationError::invalid("'azureTenantId' must be a non-empty string.")),
        },
        "createdDateTime" | "lastModifiedDateTime" => normalize_datetime(name, value),
        "tags" => normalize_string_collection(name, value),
        "accounts" => match value {
            Value::Null => Err(null_collection(name, "Collection(microsoft.graph.userAccount)")),
            Value::Array(items) if items.iter().any(Value::is_null) => Err(null_element("microsoft.graph.userAccount")),
            Value::Array(items) => {
                items.into_iter().map(normalize_user_account).collect::<Result<_, _>>().map(Value::Array)
            }
            _ => Err(wrong_type(name, "a collection of microsoft.graph.userAccount")),
        },
        "vendorInformation" => match value {
            Value::Null => Ok(Value::Null),
            Value::Object(members) => {
                normalize_complex(members, &VENDOR_INFORMATION, |_, v| expect_string_or_null(v)).map(Value::Object)
            }
            _ => Err(wrong_type(name, "a microsoft.graph.securityVendorInformation object")),
        },
        _ => expect_string_or_null(value).map_err(|_| wrong_type(name, "a string")),
    }
}

fn normalize_user_account(value: Value) -> Result<Value, ValidationError> {
    let Value::Object(members) = value else {
        return Err(wrong_type("accounts", "a collection of microsoft.graph.userAccount objects"));
    };
    let mut account = normalize_complex(members, &USER_ACCOUNT, |name, v| match name {
        "lastSeenDateTime" => normalize_datetime(name, v),
        "status" => match &v {
            Value::Null => Ok(v),
            Value::String(s) if ACCOUNT_STATUS.has_member(s) || s == DOCUMENTED_STATUS_PLACEHOLDER => Ok(v),
            _ => Err(ValidationError {
                inner_code: "invalidEnumValue",
                message: format!(
                    "The value {v} is not a member of microsoft.graph.accountStatus ({}).",
                    ACCOUNT_STATUS.members.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
                ),
            }),
        },
        _ => expect_string_or_null(v).map_err(|_| wrong_type(name, "a string")),
    })?;
    // Every declared member, in declared order whatever order the client used; null when absent.
    Ok(Value::Object(
        USER_ACCOUNT
            .members
            .iter()
            .map(|m| (m.name.to_string(), account.remove(m.name).unwrap_or(Value::Null)))
            .collect(),
    ))
}

/// Validates the members of a (closed) complex value; returns only those present, normalised.
fn normalize_complex(
    members: Map<String, Value>,
    ty: &ComplexType,
    normalize_member: impl Fn(&str, Value) -> Result<Value, ValidationError>,
) -> Result<Map<String, Value>, ValidationError> {
    let type_name = ty.name;
    let mut out = Map::new();
    for (name, value) in members {
        if name == "@odata.type" {
            check_odata_type(&value, type_name)?;
            continue;
        }
        if name.starts_with('@') || name.contains('@') {
            continue;
        }
        let Some(member) = ty.members.iter().find(|m| m.name == name) else {
            return Err(ValidationError::invalid(format!("Property '{name}' does not exist on type '{type_name}'.")));
        };
        out.insert(member.name.to_string(), normalize_member(member.name, value)?);
    }
    Ok(out)
}

fn normalize_datetime(name: &str, value: Value) -> Result<Value, ValidationError> {
    match value {
        Value::Null => Ok(Value::Null),
        Value::String(s) => super::datetime::normalize(&s).map(Value::String).map_err(|message| ValidationError {
            inner_code: "invalidDateTimeOffset",
            message: format!("'{name}': {message}"),
        }),
        _ => Err(wrong_type(name, "a DateTimeOffset string")),
    }
}

fn normalize_string_collection(name: &str, value: Value) -> Result<Value, ValidationError> {
    match &value {
        Value::Null => Err(null_collection(name, "Collection(Edm.String)")),
        Value::Array(items) if items.iter().any(Value::is_null) => Err(null_element("Edm.String")),
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(value),
        _ => Err(wrong_type(name, "a collection of strings")),
    }
}

/// A collection is never null (an empty one is `[]`); in ODataLib's words.
fn null_collection(name: &str, ty: &str) -> ValidationError {
    ValidationError {
        inner_code: "invalidPropertyValue",
        message: format!(
            "A null value was found for the property named '{name}', which has the expected type '{ty}[Nullable=False]'. The expected type '{ty}[Nullable=False]' does not allow null values."
        ),
    }
}

/// The elements of a declared collection are never null; in ODataLib's words.
fn null_element(ty: &str) -> ValidationError {
    ValidationError {
        inner_code: "invalidPropertyValue",
        message: format!(
            "A null value was found with the expected type '{ty}[Nullable=False]'. The expected type '{ty}[Nullable=False]' does not allow null values."
        ),
    }
}

fn expect_string_or_null(value: Value) -> Result<Value, ValidationError> {
    match value {
        Value::Null | Value::String(_) => Ok(value),
        other => Err(ValidationError::invalid(format!("Expected a string, found {other}."))),
    }
}

fn check_odata_type(value: &Value, expected: &str) -> Result<(), ValidationError> {
    let given = value.as_str().unwrap_or_default();
    let given = given.strip_prefix('#').unwrap_or(given);
    let short = expected.strip_prefix("microsoft.").unwrap_or(expected);
    if given == expected || given == short {
        Ok(())
    } else {
        Err(ValidationError {
            inner_code: "invalidODataType",
            message: format!("'@odata.type' is {value} but this member is of type '#{expected}'."),
        })
    }
}

/// Dynamic property names are OData simple identifiers, so they can be named in `$filter`,
/// `$select` and `$orderby`.
fn check_dynamic_name(name: &str) -> Result<(), ValidationError> {
    let mut chars = name.chars();
    let valid = name.len() <= MAX_DYNAMIC_NAME_LEN
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(ValidationError::invalid(format!(
            "'{name}' is not a valid dynamic property name (letters, digits and '_', starting with a letter or '_', at most {MAX_DYNAMIC_NAME_LEN})."
        )))
    }
}

/// NUL cannot be compared consistently by every SQL engine (SQLite's string functions stop at it).
fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(members) => members.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.chars().count() <= MAX_ID_LEN && !id.chars().any(char::is_control)
}

fn wrong_type(name: &str, expected: &str) -> ValidationError {
    ValidationError { inner_code: "invalidPropertyValue", message: format!("'{name}' must be {expected}.") }
}

#[cfg(test)]
#[path = "profile_tests.rs"]
mod tests;
