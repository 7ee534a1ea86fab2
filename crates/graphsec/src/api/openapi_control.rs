//! The OpenAPI description of the test-control API (tag `testControl`, docs/emulator.md), kept
//! beside the document ([`super::openapi`]) it is merged into.

use super::control::{MAX_GENERATE, MAX_TTL_SECONDS, REQUESTS, RESET, SEED, TOKENS};
use serde_json::{Value, json};

pub const TAG: &str = "testControl";
const ERROR: &str = "#/components/schemas/microsoft.graph.ODataError";

/// The control paths and their operations.
pub fn paths() -> Vec<(&'static str, Value)> {
    vec![
        (
            RESET,
            json!({"post": operation("reset", "Delete every profile, audit entry and journal entry, or those of one tenant, atomically.",
                vec![query("tenant", "Only this tenant's data.", json!({"type": "string"}))],
                None,
                ok("What was deleted.", json!({"type": "object", "properties": {"deletedProfiles": {"type": "integer"}}})))}),
        ),
        (
            SEED,
            json!({"post": operation("seed", "Load profiles from newline-delimited JSON (as `graphsec import`), or generate them (as `graphsec generate`); ids already present are skipped.",
                vec![
                    query("generate", "Make up this many profiles instead of reading the body.", json!({"type": "integer", "minimum": 1, "maximum": MAX_GENERATE})),
                    query("tenant", "Tenant of lines without azureTenantId, and of generated profiles (default: --default-tenant).", json!({"type": "string"})),
                    query("seed", "Seed of the generated profiles.", json!({"type": "integer", "minimum": 0})),
                    query("domain", "Domain of the generated user principal names.", json!({"type": "string"})),
                ],
                Some(json!({"required": false, "content": {"application/x-ndjson": {"schema": {"type": "string"}}}})),
                ok("How many profiles were stored and skipped.", json!({"type": "object", "properties": {
                    "inserted": {"type": "integer"}, "skipped": {"type": "integer"}}})))}),
        ),
        (
            REQUESTS,
            json!({
                "get": operation("listRequests", "The request journal, oldest first; $batch items are entries of their own.",
                    vec![
                        query("tenant", "Only requests of this tenant.", json!({"type": "string"})),
                        query("since", "Only requests that arrived at or after this time.", json!({"type": "string", "format": "date-time"})),
                    ],
                    None,
                    ok("The entries.", json!({"type": "object", "required": ["value"], "properties": {"value": {"type": "array", "items": entry()}}}))),
                "delete": operation("clearRequests", "Empty the request journal.", vec![], None,
                    json!({"204": {"description": "Emptied."}})),
            }),
        ),
        (
            TOKENS,
            json!({"post": operation("mintToken", "Mint a token of the server's local key.", vec![],
                Some(json!({"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["tenant"],
                    "additionalProperties": false, "properties": {
                    "tenant": {"type": "string", "description": "The tid claim."},
                    "scopes": {"description": "Permissions, space-separated or a list (default SecurityEvents.ReadWrite.All).",
                               "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                    "app": {"type": "boolean", "description": "Application token (roles) instead of delegated (scp)."},
                    "ttl": {"description": "Lifetime in seconds, or a duration such as 30m (default 1h).",
                            "oneOf": [{"type": "integer", "minimum": 1, "maximum": MAX_TTL_SECONDS}, {"type": "string"}]},
                    "subject": {"type": "string"},
                    "admin": {"type": "boolean", "description": "May use the test-control API."}}}}}})),
                ok("The token.", json!({"type": "object", "properties": {
                    "token": {"type": "string"}, "tokenType": {"type": "string"}, "expiresIn": {"type": "integer"}}})))}),
        ),
    ]
}

fn operation(id: &str, summary: &str, parameters: Vec<Value>, body: Option<Value>, mut responses: Value) -> Value {
    for (status, description) in [
        ("400", "Invalid parameters or body."),
        ("401", "No valid token."),
        ("403", "Not an admin token."),
        ("405", "Method not allowed."),
    ] {
        responses[status] =
            json!({"description": description, "content": {"application/json": {"schema": {"$ref": ERROR}}}});
    }
    let mut op =
        json!({"operationId": id, "summary": summary, "tags": [TAG], "parameters": parameters, "responses": responses});
    if let Some(body) = body {
        op["requestBody"] = body;
    }
    op
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

fn ok(description: &str, schema: Value) -> Value {
    json!({"200": {"description": description, "content": {"application/json": {"schema": schema}}}})
}

fn entry() -> Value {
    json!({"type": "object", "required": ["time", "method", "path", "status", "tenant", "requestId", "durationMs"], "properties": {
        "time": {"type": "string", "format": "date-time"},
        "method": {"type": "string"},
        "path": {"type": "string", "description": "Path and query as sent."},
        "status": {"type": "integer"},
        "tenant": {"type": "string", "nullable": true},
        "requestId": {"type": "string"},
        "durationMs": {"type": "number"},
        "body": {"type": "string", "description": "A write's body, as received."},
        "truncated": {"type": "boolean"}}})
}
