"""Schemathesis hooks for fuzz/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

- Path `id`s: besides generated strings, GET/PATCH use ids that exist (seeded, never deleted by
  these hooks), DELETE uses its own pool of seeded ids, and every operation sometimes uses another
  tenant's ids (which must answer 404, never the other tenant's profile).
- Profile bodies are also tried "cleaned" (valid dynamic property names, no NUL, no dates, no
  azureTenantId/id) and If-Match also absent or `*`, so 200/201 answers get checked, not only 400s.
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


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DATES = ("createdDateTime", "lastModifiedDateTime", "lastSeenDateTime")


def _clean(value):
    """A variant of a generated body that the server's stricter rules accept more often: valid
    dynamic property names, no NUL characters, no dates (the pattern admits month 99), no
    azureTenantId (another tenant's is a 403) and no id (a PATCH body's must equal the URL's)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {
            k: _clean(v)
            for k, v in value.items()
            if isinstance(k, str) and _NAME.match(k) and k not in _DATES and k not in ("azureTenantId", "id")
        }
    return value


@schemathesis.hook
def flatmap_body(context, body):
    """Half of the profile bodies are also tried cleaned, so 200/201 answers get checked too."""
    if context.operation is None or not isinstance(body, dict) or "userSecurityProfiles" not in context.operation.path:
        return st.just(body)
    return st.sampled_from([body, _clean(body)])


@schemathesis.hook
def map_body(context, body):
    """A batch's request ids must differ (ignoring case), and dependsOn must name other requests
    without a cycle: rules across items, which no JSON schema can state. Ids get their position
    appended, and dependsOn keeps only earlier requests."""
    if context.operation is None or context.operation.path != "/beta/$batch" or not isinstance(body, dict):
        return body
    requests = body.get("requests")
    if not isinstance(requests, list):
        return body
    earlier = []
    for n, request in enumerate(requests):
        # An empty id is the document's own refusal: left for the server to refuse.
        if not isinstance(request, dict) or not isinstance(request.get("id"), str) or not request["id"]:
            continue
        request["id"] = f"{request['id']}-{n}"
        if isinstance(request.get("dependsOn"), list):
            request["dependsOn"] = earlier[-1:] if request["dependsOn"] else []
        earlier.append(request["id"])
    return body


@schemathesis.hook
def flatmap_headers(context, headers):
    """A generated If-Match is almost never a valid entity tag; also try none and `*`."""
    if not isinstance(headers, dict) or "If-Match" not in headers:
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


@schemathesis.hook
def flatmap_query(context, query):
    if not isinstance(query, dict):
        return st.just(query)
    # A $skiptoken is valid only as the server signed it into a nextLink.
    query = {name: value for name, value in query.items() if name != "$skiptoken"}
    strategies = {
        name: st.sampled_from(_EXPRESSIONS[name])
        for name, value in query.items()
        if name in _EXPRESSIONS and isinstance(value, str) and value != ""
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
