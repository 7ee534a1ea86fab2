"""Schemathesis hooks for fuzz/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

- Path `id`s: besides generated strings, GET/PATCH use ids that exist (seeded, never deleted by
  these hooks), DELETE uses its own pool of seeded ids, and every operation sometimes uses another
  tenant's ids (which must answer 404, never the other tenant's profile).
- Positive cases (every phase, the coverage phase included) are made to satisfy the rules the
  OpenAPI 3.0 document cannot state (`map_case`): dynamic property names, NUL nested in dynamic
  values, unique batch ids and acyclic dependsOn, valid `$filter`/`$orderby`/`$select`
  expressions, no forged `$skiptoken`. Negative cases are left alone: their violation is what the
  server must refuse. A valid If-Match is also tried absent or `*`, so 200s get checked too.
- Extra checks from SPEC.md that the OpenAPI document does not express:
  * graphsec_no_foreign_data: no response ever carries the other tenant's secret marker;
  * graphsec_graph_headers: every response has `request-id` and `client-request-id`; every error
    body is Graph's `{"error": {"code", "message", "innerError": {"request-id", "date", ...}}}`;
    401 carries `WWW-Authenticate: Bearer`; 201 carries `Location`; entity bodies carry
    `@odata.etag` equal to the `ETag` header.

Inputs (environment): GRAPHSEC_ST_IDS, a JSON file {"stable": [...], "deletable": [...],
"foreign": [...], "foreign_marker": "..."}.
"""

from __future__ import annotations

import json
import os
import re

import schemathesis
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

_IDS = {"stable": [], "deletable": [], "foreign": [], "foreign_marker": ""}
if os.environ.get("GRAPHSEC_ST_IDS"):
    with open(os.environ["GRAPHSEC_ST_IDS"], encoding="utf-8") as f:
        _IDS.update(json.load(f))


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    if not isinstance(path_parameters, dict) or "id" not in path_parameters or context.operation is None:
        return st.just(path_parameters)
    method = context.operation.method.upper()
    own = _IDS["deletable"] if method == "DELETE" else _IDS["stable"]
    choices = [st.just(path_parameters)]
    if own:
        choices.append(st.sampled_from(own).map(lambda i: {**path_parameters, "id": i}))
        choices.append(st.sampled_from(own).map(lambda i: {**path_parameters, "id": i}))
    if _IDS["foreign"]:
        choices.append(st.sampled_from(_IDS["foreign"]).map(lambda i: {**path_parameters, "id": i}))
    return st.one_of(*choices)


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_DECLARED = {
    name.lower(): name
    for name in (
        "id", "accounts", "azureSubscriptionId", "azureTenantId", "createdDateTime", "displayName",
        "lastModifiedDateTime", "riskScore", "tags", "userPrincipalName", "vendorInformation",
    )
}


def _without_nul(value):
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


def _clean_profile(body, patch):
    """The members of a profile body that rules OpenAPI 3.0 cannot state would refuse: dynamic
    property names (it has no keyword for member names; the document's `propertyNames` is 3.1's),
    NUL inside a dynamic value's arrays and objects, a declared name in another case, two dynamic
    names equal but for case, and a PATCH body's `id` (it must equal the URL's)."""
    cleaned, seen = {}, set()
    for name, value in body.items():
        if not isinstance(name, str):
            continue
        declared = _DECLARED.get(name.lower())
        if declared is not None:
            if name == declared and not (patch and name == "id"):
                cleaned[name] = value
        elif _NAME.match(name) and name.lower() not in seen:
            seen.add(name.lower())
            cleaned[name] = _without_nul(value)
    return cleaned


_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _repair_batch(body):
    """Rules across a batch's items, and on member names, which OpenAPI 3.0 cannot state: request
    ids differ ignoring case (a repeated one gets its position appended), dependsOn names an
    earlier request (kept acyclic by naming only the one before), header names are tokens
    (`propertyNames` is 3.1's), and a body comes with a Content-Type header in any case (a
    case-insensitive name no `required` can demand). Idempotent: the hook may run more than once."""
    requests = body.get("requests")
    if not isinstance(requests, list):
        return body
    earlier = []
    for n, request in enumerate(requests):
        if not isinstance(request, dict) or not isinstance(request.get("id"), str):
            continue
        while request["id"].lower() in (e.lower() for e in earlier):
            request["id"] = f"{request['id']}-{n}"
        if isinstance(request.get("dependsOn"), list):
            request["dependsOn"] = earlier[-1:] if request["dependsOn"] else []
        earlier.append(request["id"])
        headers = request.get("headers")
        if isinstance(headers, dict):
            headers = {name: value for name, value in headers.items() if _TOKEN.match(name)}
        if request.get("body") is not None and not any(k.lower() == "content-type" for k in headers or {}):
            headers = {**(headers or {}), "Content-Type": "application/json"}
        if "headers" in request or headers:
            request["headers"] = headers
    return body


_IF_MATCH = re.compile(r'^(\*|(W/)?"[^",]*"( *, *(W/)?"[^",]*")*)$')


@schemathesis.hook
def map_case(context, case):
    """Positive cases only, in every phase: what the document cannot state is made to hold, so a
    refusal of a positive case is a real contradiction. Negative cases are left as generated: their
    violation is what the server must refuse, and repairing them could remove it.

    The coverage phase applies no other hook, and it puts into its positive cases a value it
    drew as a violation for an optional header it cannot generate a valid value for (its header
    values are letters and digits, while If-Match needs `*` or a quote): such an If-Match is
    dropped."""
    meta = case.meta
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE or case.operation is None:
        return case
    path = case.operation.path
    if isinstance(case.body, dict):
        if path == "/beta/$batch":
            case.body = _repair_batch(case.body)
        elif "userSecurityProfiles" in path:
            case.body = _clean_profile(case.body, case.operation.method.upper() == "PATCH")
    # Headers may be a case-insensitive mapping rather than a dict.
    if_match = case.headers.get("If-Match") if case.headers is not None else None
    if if_match is not None and not (isinstance(if_match, str) and _IF_MATCH.match(if_match)):
        del case.headers["If-Match"]
    if isinstance(case.query, dict):
        case.query = _valid_query(case.query, lambda choices, value: choices[len(str(value)) % len(choices)])
    return case


@schemathesis.hook
def flatmap_headers(context, headers):
    """A generated If-Match is almost never a valid entity tag; also try none and `*`."""
    # An If-Match the pattern refuses is a negative case's violation: left for the server.
    if not isinstance(headers, dict) or not isinstance(headers.get("If-Match"), str) or not _IF_MATCH.match(headers["If-Match"]):
        return st.just(headers)
    without = {k: v for k, v in headers.items() if k != "If-Match"}
    return st.sampled_from([headers, without, {**without, "If-Match": "*"}])


# `$filter`, `$orderby` and `$select` are expressions (docs/query-options.md) whose grammar no JSON
# schema can state: the document only says they are non-empty strings. A value the schema allows
# is therefore replaced by one of these, so that answers to valid queries get checked; values the
# schema refuses (empty ones) are left for the server to refuse. tests/it/odata.rs and
# crates/odata test the grammar itself.
_EXPRESSIONS = {
    "$filter": [
        "displayName eq 'MARKA'",
        "startswith(id, 'stable')",
        "tags/any(t: t eq 'HVA')",
        "riskScore ne null and not (userPrincipalName eq 'x')",
        "createdDateTime ge 2020-01-01T00:00:00Z",
        "vendorInformation/provider in ('MARKA', 'x')",
    ],
    "$orderby": ["displayName", "id desc", "vendorInformation/provider asc, createdDateTime desc"],
    "$select": ["id", "id,displayName", "*", "tags,accounts,vendorInformation"],
}


def _schema_valid(value):
    return isinstance(value, str) and value != ""


def _valid_query(query, choose):
    """`query` with each schema-valid expression option that is not one of `_EXPRESSIONS` replaced
    by `choose(choices, value)`, and without a schema-valid `$skiptoken` (valid only as the server
    signed it into a nextLink). Values the schema refuses are left for the server to refuse."""
    valid = {}
    for name, value in query.items():
        if name == "$skiptoken" and _schema_valid(value):
            continue
        if name in _EXPRESSIONS and _schema_valid(value) and value not in _EXPRESSIONS[name]:
            value = choose(_EXPRESSIONS[name], value)
        valid[name] = value
    return valid


@schemathesis.hook
def flatmap_query(context, query):
    if not isinstance(query, dict):
        return st.just(query)
    query = _valid_query(query, lambda choices, value: choices[0])
    strategies = {
        name: st.sampled_from(_EXPRESSIONS[name])
        for name, value in query.items()
        if name in _EXPRESSIONS and _schema_valid(value)
    }
    if not strategies:
        return st.just(query)
    return st.fixed_dictionaries(strategies).map(lambda valid: {**query, **valid})


@schemathesis.check
def graphsec_no_foreign_data(ctx, response, case):
    """The other tenant's data never reaches this tenant (SPEC section 6)."""
    marker = _IDS.get("foreign_marker")
    if marker and marker.encode() in (response.content or b""):
        raise AssertionError(f"Cross-tenant leak: the response carries the other tenant's marker {marker!r}")


def _header(response, name):
    for key, value in response.headers.items():
        if key.lower() == name:
            return value[0] if isinstance(value, list) else value
    return None


@schemathesis.check
def graphsec_graph_headers(ctx, response, case):
    """Graph's response headers and error body (SPEC sections 4 and 5)."""
    path = case.operation.path
    if path in ("/healthz", "/readyz"):
        return None
    for name in ("request-id", "client-request-id"):
        if not _header(response, name):
            raise AssertionError(f"Missing response header {name!r}")
    status = response.status_code
    if status >= 400:
        try:
            body = json.loads(response.content)
        except ValueError:
            raise AssertionError("The error body is not JSON") from None
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict) or not isinstance(error.get("code"), str) or not isinstance(error.get("message"), str):
            raise AssertionError("The error body is not Graph's {'error': {'code', 'message', ...}}")
        inner = error.get("innerError")
        if not isinstance(inner, dict) or "request-id" not in inner or "date" not in inner:
            raise AssertionError("The error body lacks innerError.request-id / innerError.date")
        if inner.get("request-id") != _header(response, "request-id"):
            raise AssertionError("innerError.request-id differs from the request-id header")
    if status == 401:
        auth = _header(response, "www-authenticate") or ""
        if not auth.lower().startswith("bearer"):
            raise AssertionError("401 without 'WWW-Authenticate: Bearer'")
    if status == 201 and not _header(response, "location"):
        raise AssertionError("201 without a Location header")
    if (status == 200 and path.endswith("{id}")) or status == 201:
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        if isinstance(body, dict) and "@odata.etag" in body:
            etag = _header(response, "etag")
            if etag != body["@odata.etag"]:
                raise AssertionError(f"ETag header {etag!r} differs from @odata.etag {body['@odata.etag']!r}")
    return None
