//! The OpenAPI description of `GET /_graphsec/profiles/{id}/history` (tag `auditTrail`), kept
//! beside the document ([`super::openapi`]) it is merged into. Unlike the test-control API it
//! takes ordinary reading tokens, so the fuzzer runs it with the rest of the API.

use super::history::{DEFAULT_TOP, MAX_TOP};
use serde_json::{Value, json};

pub const TAG: &str = "auditTrail";
const ERROR: &str = "#/components/schemas/microsoft.graph.ODataError";

/// The history path and its one operation.
pub fn path() -> (&'static str, Value) {
    let mut responses = json!({"200": {"description": "A page of the profile's audit entries, newest first; an unknown profile has none.",
        "content": {"application/json": {"schema": {"type": "object", "required": ["value"], "properties": {
            "@odata.nextLink": {"type": "string", "description": "The next page; absent on the last."},
            "value": {"type": "array", "items": entry()}}}}}}});
    for (status, description) in [
        ("400", "A bad $top or $skiptoken, or another query parameter."),
        ("401", "Missing or invalid bearer token."),
        ("403", "The token may not read profiles."),
        ("405", "Method not allowed."),
        ("429", "Throttled; see Retry-After."),
        ("500", "Unexpected error."),
        ("503", "The store does not answer, or the server is busy."),
    ] {
        responses[status] =
            json!({"description": description, "content": {"application/json": {"schema": {"$ref": ERROR}}}});
    }
    let operation = json!({
        "operationId": "userSecurityProfiles.history",
        "summary": "A profile's audit trail in the caller's tenant, newest first",
        "tags": [TAG],
        "parameters": [
            {"name": "id", "in": "path", "required": true, "description": "Profile id (case-sensitive)",
             "schema": {"type": "string", "minLength": 1}},
            {"name": "$top", "in": "query", "required": false,
             "description": format!("Entries per page (default {DEFAULT_TOP})."),
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_TOP}},
            {"name": "$skiptoken", "in": "query", "required": false,
             "description": "The position in @odata.nextLink; valid only as the server wrote it.",
             "schema": {"type": "string", "minLength": 1}},
        ],
        "responses": responses,
    });
    (super::history::HISTORY, json!({"get": operation}))
}

fn entry() -> Value {
    let text = json!({"type": "string"});
    json!({"type": "object",
        "required": ["id", "at", "tenant", "caller", "app", "requestId", "operation", "profileId", "changed"],
        "properties": {
            "id": text, "at": {"type": "string", "format": "date-time"}, "tenant": text,
            "caller": {"type": "string", "description": "oid or sub of the token; anonymous with --auth off."},
            "app": {"type": "string", "description": "appid or azp of the token."},
            "requestId": text,
            "operation": {"type": "string", "enum": ["create", "update", "delete"]},
            "profileId": text,
            "changed": {"type": "array", "items": text, "description": "The members the write set, changed or removed."}}})
}
