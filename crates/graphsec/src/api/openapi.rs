//! `GET /openapi.json`: an OpenAPI 3.0 description built from the tables the server itself
//! routes and validates with (resource methods, supported query options, the member table), so
//! the document follows the code.

use super::query::{self, Target};
use super::route::Route;
use crate::domain::members::{ACCOUNT_STATUS, KEY, MEMBERS, TENANT, USER_ACCOUNT, VENDOR_INFORMATION};
use crate::domain::profile::MAX_ID_LEN;
use odata::{ComplexType, Type};
use serde_json::{Map, Value, json};

const PROFILE: &str = "#/components/schemas/microsoft.graph.userSecurityProfile";
/// A PATCH body: the profile's members without `id`, which the URL names.
const PROFILE_CHANGE: &str = "#/components/schemas/userSecurityProfileChange";
const ERROR: &str = "#/components/schemas/microsoft.graph.ODataError";

pub fn document() -> Value {
    let mut paths = Map::new();
    for (path, route, params) in [
        ("/beta/security/userSecurityProfiles", Route::Collection, vec![]),
        ("/beta/security/userSecurityProfiles/$count", Route::Count, vec![]),
        ("/beta/security/userSecurityProfiles/{id}", Route::Item(String::new()), vec![id_parameter()]),
        ("/beta/$batch", Route::Batch, vec![]),
        ("/beta/$metadata", Route::Metadata, vec![]),
        ("/beta/", Route::ServiceDocument, vec![]),
    ] {
        let mut item = Map::new();
        if !params.is_empty() {
            item.insert("parameters".into(), Value::Array(params));
        }
        for method in route.methods() {
            item.insert(method.as_str().to_ascii_lowercase(), operation(&route, method.as_str()));
        }
        paths.insert(path.into(), Value::Object(item));
    }
    paths.insert(
        "/openapi.json".into(),
        json!({"get": {"operationId": "openapi", "tags": ["metadata"], "security": [],
            "responses": {"200": {"description": "This document.", "content": {"application/json": {"schema": {"type": "object"}}}}}}}),
    );
    for path in ["/healthz", "/readyz"] {
        paths.insert(
            path.into(),
            json!({"get": {"operationId": path.trim_start_matches('/'), "tags": ["operations"], "security": [],
                "responses": {"200": {"description": "Up (healthz) / the database answers (readyz).", "content": {"text/plain": {"schema": {"type": "string"}}}},
                              "503": error_response("The database does not answer.")}}}),
        );
    }
    let (history, item) = super::openapi_history::path();
    paths.insert(history.into(), item);
    for (path, item) in super::openapi_control::paths() {
        paths.insert(path.into(), item);
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "graphsec", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Microsoft Graph beta userSecurityProfile API, self-hosted."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": components(),
    })
}

/// An operation's id, summary, parameters, request body schema and success answer (status,
/// description, content).
struct Operation {
    id: &'static str,
    summary: &'static str,
    parameters: Vec<Value>,
    body: Option<&'static str>,
    ok: (&'static str, &'static str, Value),
}

fn op(
    id: &'static str,
    summary: &'static str,
    parameters: Vec<Value>,
    body: Option<&'static str>,
    ok: (&'static str, &'static str, Value),
) -> Operation {
    Operation { id, summary, parameters, body, ok }
}

fn operation(route: &Route, method: &str) -> Value {
    let Operation { id, summary, parameters, body, ok } = match route {
        Route::Collection | Route::Count | Route::Item(_) => profile_operation(route, method),
        _ => service_operation(route),
    };
    let responses = responses(route, method, ok);
    let mut op = json!({"operationId": id, "summary": summary, "tags": ["userSecurityProfiles"], "parameters": parameters, "responses": responses});
    if let Some(schema) = body {
        op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": schema}}}});
    }
    if matches!(route, Route::Metadata | Route::ServiceDocument) {
        op["security"] = json!([]);
        op["tags"] = json!(["metadata"]);
    }
    op
}

/// The operations on profiles: the collection, its count and one profile.
fn profile_operation(route: &Route, method: &str) -> Operation {
    match (route, method) {
        (Route::Collection, "GET") => op(
            "userSecurityProfiles.list",
            "List profiles",
            query_parameters(Target::Collection),
            None,
            (
                "200",
                "A page of profiles.",
                json_content(json!({"$ref": "#/components/schemas/userSecurityProfileCollectionResponse"})),
            ),
        ),
        (Route::Collection, _) => op(
            "userSecurityProfiles.create",
            "Create a profile",
            vec![prefer_header()],
            Some(PROFILE),
            ("201", "The created profile.", json_content(json!({"$ref": PROFILE}))),
        ),
        (Route::Count, _) => op(
            "userSecurityProfiles.count",
            "Count profiles",
            query_parameters(Target::Count),
            None,
            (
                "200",
                "The number of matching profiles.",
                json!({"text/plain": {"schema": {"type": "string", "pattern": "^[0-9]+$"}}}),
            ),
        ),
        (Route::Item(_), "GET") => op(
            "userSecurityProfiles.get",
            "Get a profile",
            query_parameters(Target::Entity),
            None,
            ("200", "The profile.", json_content(json!({"$ref": PROFILE}))),
        ),
        (Route::Item(_), "PATCH") => op(
            "userSecurityProfiles.update",
            "Update a profile (partial)",
            vec![if_match_header(), prefer_header()],
            Some(PROFILE_CHANGE),
            ("200", "The updated profile (204 with Prefer: return=minimal).", json_content(json!({"$ref": PROFILE}))),
        ),
        (_, _) => op(
            "userSecurityProfiles.delete",
            "Delete a profile",
            vec![if_match_header()],
            None,
            ("204", "Deleted.", Value::Null),
        ),
    }
}

/// The operations around the profiles: `$batch`, `$metadata` and the service document.
fn service_operation(route: &Route) -> Operation {
    match route {
        Route::Batch => op(
            "batch",
            "JSON batch of up to 20 requests",
            vec![],
            Some("#/components/schemas/batchRequest"),
            ("200", "One response per request.", json_content(json!({"$ref": "#/components/schemas/batchResponse"}))),
        ),
        Route::Metadata => op(
            "metadata",
            "CSDL metadata",
            vec![],
            None,
            ("200", "CSDL XML.", json!({"application/xml": {"schema": {"type": "string"}}})),
        ),
        _ => op(
            "serviceDocument",
            "OData service document",
            vec![],
            None,
            ("200", "The service document.", json_content(json!({"type": "object"}))),
        ),
    }
}

/// The success answer `ok` (status, description, content), the bodiless answers and every
/// error the operation can answer.
fn responses(route: &Route, method: &str, ok: (&'static str, &'static str, Value)) -> Map<String, Value> {
    let entity = matches!(route, Route::Item(_)) || (*route == Route::Collection && method == "POST");
    let mut responses = Map::new();
    let mut ok_response = json!({"description": ok.1, "headers": success_headers(entity, ok.0 == "201")});
    if !ok.2.is_null() {
        ok_response["content"] = ok.2;
    }
    responses.insert(ok.0.into(), ok_response);
    if matches!(route, Route::Item(_)) && method != "GET" {
        responses.insert(
            "204".into(),
            json!({"description": "Done; no body (Prefer: return=minimal, or DELETE).", "headers": success_headers(false, false)}),
        );
    }
    if *route == Route::Collection && method == "POST" {
        responses.insert(
            "204".into(),
            json!({"description": "Created; no body (Prefer: return=minimal).", "headers": success_headers(false, true)}),
        );
    }
    for (status, why) in errors(route, method) {
        let mut response = error_response(why);
        let mut headers = ids_headers();
        match status {
            "401" => headers.insert("WWW-Authenticate".into(), header_doc("Bearer challenge.")),
            "429" | "503" => headers.insert("Retry-After".into(), header_doc("Seconds to wait (integer).")),
            "405" => headers.insert("Allow".into(), header_doc("The methods this resource answers.")),
            _ => None,
        };
        response["headers"] = Value::Object(headers);
        responses.insert(status.into(), response);
    }
    responses
}

/// The error statuses each operation can really answer (docs/errors.md §2).
fn errors(route: &Route, method: &str) -> Vec<(&'static str, &'static str)> {
    let mut list = vec![
        ("400", "Bad request: malformed body, bad query option, unknown segment."),
        ("405", "Method not allowed."),
        ("414", "The URL is too long."),
        ("431", "The request headers are too large."),
        ("500", "Unexpected error."),
        ("503", "Timed out, shutting down or too many connections."),
    ];
    if matches!(route, Route::Metadata | Route::ServiceDocument) {
        return list;
    }
    list.extend([
        ("401", "Missing or invalid bearer token."),
        ("403", "The token lacks the permission, or names another tenant."),
        ("429", "Throttled; see Retry-After."),
    ]);
    if matches!(route, Route::Item(_)) {
        list.push(("404", "No such profile in the caller's tenant."));
    }
    if matches!(method, "POST" | "PATCH") {
        list.extend([
            ("413", "The body is too large."),
            ("415", "The body is not JSON or has an unsupported encoding."),
        ]);
    }
    if *route == Route::Collection && method == "POST" {
        list.push(("409", "A profile with this id exists."));
    }
    if matches!(route, Route::Item(_)) && method != "GET" {
        list.push(("412", "If-Match does not match the current ETag."));
    }
    list
}

fn header_doc(description: &str) -> Value {
    json!({"description": description, "schema": {"type": "string"}})
}

/// Every response carries these (docs/errors.md §4).
fn ids_headers() -> Map<String, Value> {
    let mut headers = Map::new();
    headers.insert("request-id".into(), header_doc("A fresh GUID for this request."));
    headers.insert("client-request-id".into(), header_doc("The client's client-request-id, else the request-id."));
    headers
}

fn success_headers(entity: bool, created: bool) -> Value {
    let mut headers = ids_headers();
    if entity {
        headers.insert("ETag".into(), header_doc("The entity version, W/\"n\"."));
    }
    if created {
        headers.insert("Location".into(), header_doc("URL of the created profile."));
    }
    Value::Object(headers)
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": ERROR}}}})
}

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

fn id_parameter() -> Value {
    json!({"name": "id", "in": "path", "required": true, "description": "Profile id (case-sensitive)",
           "schema": {"type": "string", "minLength": 1}})
}

/// What validation accepts for `id` and `azureTenantId` (`domain::profile`): non-empty, at most
/// `MAX_ID_LEN` characters, and (for an id) no control characters.
fn identifier(schema: &mut Value, without_controls: bool) {
    if let Value::Object(schema) = schema {
        schema.insert("minLength".into(), 1.into());
        schema.insert("maxLength".into(), MAX_ID_LEN.into());
        if without_controls {
            schema.insert("pattern".into(), "^[^\\u0000-\\u001F\\u007F-\\u009F]+$".into());
        }
    }
}

fn prefer_header() -> Value {
    json!({"name": "Prefer", "in": "header", "required": false, "schema": {"type": "string"},
           "description": "return=minimal | return=representation | odata.maxpagesize=N; others are ignored"})
}

fn if_match_header() -> Value {
    json!({"name": "If-Match", "in": "header", "required": false,
           "schema": {"type": "string", "pattern": "^(\\*|(W/)?\"[^\",]*\"( *, *(W/)?\"[^\",]*\")*)$"},
           "description": "* or the ETags (W/\"3\") of the versions the change may apply to; another version answers 412"})
}

fn query_parameters(target: Target) -> Vec<Value> {
    query::supported(target)
        .iter()
        .map(|name| {
            let schema = match *name {
                "top" => json!({"type": "integer", "minimum": 1, "maximum": query::MAX_TOP}),
                "skip" => json!({"type": "integer", "minimum": 0, "maximum": i64::MAX}),
                "count" => json!({"type": "boolean"}),
                "format" => json!({"type": "string", "enum": ["json"]}),
                // An option given without a value is refused (docs/query-options.md §1).
                _ => json!({"type": "string", "minLength": 1}),
            };
            json!({"name": format!("${name}"), "in": "query", "required": false, "schema": schema})
        })
        .collect()
}

/// Strings never hold NUL (docs/wire-format.md §2).
const WITHOUT_NUL: &str = "^[^\\u0000]*$";

fn nullable_string() -> Value {
    json!({"type": "string", "nullable": true, "pattern": WITHOUT_NUL})
}

/// What `odata::canonical_datetime` accepts: a calendar date of the years 0001 to 9999 (29
/// February in leap years only), hours to 23, minutes and seconds to 59, at most 7 fractional
/// digits, `Z` or an offset. The one rule left out is that the instant, moved to UTC, must stay
/// within those years (`0001-01-01T00:00:00+01:00` is refused).
const DATE_TIME: &str = concat!(
    "^(",
    "([0-9]{3}[1-9]|[0-9]{2}[1-9]0|[0-9][1-9]00|[1-9]000)-",
    "((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))",
    "|([0-9]{2}(0[48]|[2468][048]|[13579][26])|([2468][048]|[13579][26]|0[48])00)-02-29",
    ")T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]{1,7})?)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
);

fn date_time() -> Value {
    json!({"type": "string", "format": "date-time", "nullable": true, "pattern": DATE_TIME})
}

/// The schema of a member of type `ty`.
fn property_schema(ty: &Type, nullable: bool) -> Value {
    let reference = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let schema = match ty {
        Type::String => nullable_string(),
        Type::DateTimeOffset => date_time(),
        Type::Enum(e) => json!({"nullable": true, "allOf": [reference(e.name)]}),
        Type::Complex(c) => json!({"nullable": true, "allOf": [reference(c.name)]}),
        // A collection is never null: an empty one is [].
        Type::Collection(Type::Complex(c)) => json!({"type": "array", "items": reference(c.name)}),
        Type::Collection(item) => json!({"type": "array", "items": property_schema(item, false)}),
    };
    match schema {
        Value::Object(members) if !nullable => {
            Value::Object(members.into_iter().filter(|(k, _)| k != "nullable").collect())
        }
        schema => schema,
    }
}

/// A complex type's schema: its members only (validation refuses any other).
fn complex_schema(ty: &ComplexType) -> Value {
    let properties: Map<String, Value> =
        ty.members.iter().map(|m| (m.name.to_string(), property_schema(&m.ty, m.nullable))).collect();
    json!({"type": "object", "additionalProperties": false, "properties": properties})
}

/// Member names a profile body may use: declared and dynamic names (a letter or `_`, then
/// letters, digits and `_`, at most 128), and annotations (`@odata.type`, `tags@odata.type`).
const DYNAMIC_NAME: &str = "^([A-Za-z_][A-Za-z0-9_]{0,127}|.*@.*)$";

/// A dynamic property's value. Untyped, so generated clients keep it any value; the pattern binds
/// a string. Nested strings and member names are left to the description: 3.0 has no keyword for
/// names, and a recursive schema would become a class of its own in NSwag and openapi-generator.
fn dynamic_value() -> Value {
    json!({"pattern": WITHOUT_NUL, "description": "Any JSON value; no string in it, member names included, contains NUL (U+0000)."})
}

fn without(mut members: Map<String, Value>, name: &str) -> Map<String, Value> {
    members.remove(name);
    members
}

/// What `batch::relative_url` accepts, bar the absolute URLs of the server's own host, which no
/// pattern can name: no control character, not `//` first, and no URI scheme followed by `://`
/// first (a relative URL may hold `://` later, in its query).
const BATCH_URL: &str = concat!(
    "^(",
    "[^A-Za-z/\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*",
    "|/[^/\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*",
    "|[A-Za-z][A-Za-z0-9+.\\-]*(",
    "[^A-Za-z0-9+.:\\-\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*",
    "|:([^/\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*)?",
    "|:/([^/\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*)?",
    ")?)$"
);

/// Base64 as `batch::parse_item` decodes a string body: padded, and with the unused bits of the
/// last character zero.
const BASE64: &str = "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$";

fn components() -> Value {
    let mut profile: Map<String, Value> =
        MEMBERS.iter().map(|m| (m.name.to_string(), property_schema(&m.ty, m.nullable))).collect();
    if let Some(id) = profile.get_mut(KEY) {
        identifier(id, true);
    }
    if let Some(tenant) = profile.get_mut(TENANT) {
        identifier(tenant, false);
    }
    let statuses: Vec<&str> = ACCOUNT_STATUS.members.iter().map(|(name, _)| *name).collect();
    json!({
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        "schemas": {
            "microsoft.graph.userSecurityProfile": {"type": "object", "properties": profile.clone(),
                "additionalProperties": dynamic_value(), "propertyNames": {"pattern": DYNAMIC_NAME},
                "description": "Open type: undeclared members are stored as dynamic properties."},
            "userSecurityProfileChange": {"type": "object", "properties": without(profile, KEY),
                "additionalProperties": dynamic_value(), "propertyNames": {"pattern": DYNAMIC_NAME},
                "description": "The members to change; undeclared members are dynamic properties (null removes one)."},
            USER_ACCOUNT.name: complex_schema(&USER_ACCOUNT),
            ACCOUNT_STATUS.name: {"type": "string", "enum": statuses},
            VENDOR_INFORMATION.name: complex_schema(&VENDOR_INFORMATION),
            "userSecurityProfileCollectionResponse": {"type": "object", "required": ["value"], "properties": {
                "@odata.context": {"type": "string"}, "@odata.count": {"type": "integer"}, "@odata.nextLink": {"type": "string"},
                "value": {"type": "array", "items": {"$ref": PROFILE}}}},
            "microsoft.graph.ODataError": {"type": "object", "required": ["error"], "properties": {"error": {
                "type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"},
                    "innerError": {"type": "object", "additionalProperties": true}}}}},
            "batchRequest": {"type": "object", "required": ["requests"], "properties": {"requests": {
                "type": "array", "minItems": 1, "maxItems": super::batch::MAX_REQUESTS, "items": {
                    "type": "object", "required": ["id", "method", "url"], "properties": {
                        "id": {"type": "string", "minLength": 1},
                        "method": {"type": "string", "pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"},
                        "url": {"type": "string", "pattern": BATCH_URL},
                        "headers": {"type": "object", "nullable": true, "propertyNames": {"pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"},
                            "additionalProperties": {"anyOf": [{"type": "string", "pattern": "^[\\t\\u0020-\\u007E]*$"}, {"type": "number"}]}},
                        "body": {"pattern": BASE64, "description": "A JSON value, or a string holding the body in base64 (with padding); needs a Content-Type header."}, "dependsOn": {"type": "array", "nullable": true, "items": {"type": "string", "minLength": 1}}}}}}},
            "batchResponse": {"type": "object", "required": ["responses"], "properties": {"responses": {
                "type": "array", "items": {"type": "object", "required": ["id", "status"], "properties": {
                    "id": {"type": "string"}, "status": {"type": "integer"},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}}, "body": {}}}}}}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole document, pinned in `testdata/openapi.json`; delete the file and run the test
    /// to pin the current document again.
    #[test]
    fn the_document_is_pinned() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api/testdata/openapi.json");
        let actual = serde_json::to_string_pretty(&document()).unwrap() + "\n";
        let Ok(pinned) = std::fs::read_to_string(&path) else {
            std::fs::write(&path, &actual).unwrap();
            panic!("pinned the current document in {}; run again", path.display());
        };
        assert!(pinned == actual, "the document differs from {}:\n{actual}", path.display());
    }

    #[test]
    fn documents_every_declared_property_and_every_routed_method() {
        let doc = document();
        let properties =
            doc["components"]["schemas"]["microsoft.graph.userSecurityProfile"]["properties"].as_object().unwrap();
        assert_eq!(
            properties.keys().map(String::as_str).collect::<Vec<_>>(),
            crate::domain::members::names().collect::<Vec<_>>()
        );
        let item = doc["paths"]["/beta/security/userSecurityProfiles/{id}"].as_object().unwrap();
        for method in ["get", "patch", "delete"] {
            assert!(item.contains_key(method), "{method}");
        }
        assert!(!item.contains_key("put"));
        let list_params: Vec<&str> = doc["paths"]["/beta/security/userSecurityProfiles"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(list_params.contains(&"$filter") && list_params.contains(&"$top"));
        for (path, method) in
            [("reset", "post"), ("seed", "post"), ("requests", "get"), ("requests", "delete"), ("tokens", "post")]
        {
            assert_eq!(doc["paths"][format!("/_graphsec/{path}")][method]["tags"], serde_json::json!(["testControl"]));
        }
    }
}
