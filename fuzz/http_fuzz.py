#!/usr/bin/env python3
"""Raw HTTP surface fuzzer for graphsec (stdlib only: raw sockets, no HTTP client library).

Sends hostile but well-framed HTTP/1.1 requests (odd methods, paths, headers, tokens, bodies,
gzip bombs, batch payloads and OData query strings) to a running server on 127.0.0.1, with valid
tokens of several tenants mixed with invalid and forged ones, and fails on:

  - any 5xx (also inside a $batch answer), a connection reset or closed without an answer, a
    request that gets no complete answer within --timeout (a hang), a response that is not HTTP;
  - a cross-tenant leak: the secret markers seeded into one tenant's profiles appearing in any
    answer to a caller without that tenant's credentials, or a 2xx entity of another tenant;
  - an auth bypass (an invalid token getting tenant data or a 2xx write), a permission bypass
    (a read-only token writing), a cross-tenant access (2xx on another tenant's profile id);
  - after the run: the server unhealthy, a sentinel profile changed, a tenant's listing holding
    another tenant's profile, or (with --server-pid) the server dead or above --max-rss-mib.

Every request is a pure function of (--seed, its index), so a failure is reproduced with
`--seed S --only I` (regenerated with the current tokens) or `--replay FILE` (the saved bytes,
tokens substituted). `fuzz/http_fuzz.sh` starts a fresh server, mints the tokens and runs this.

    python3 fuzz/http_fuzz.py --base-url http://127.0.0.1:8080 --tokens tokens.json \\
        [--signing-key-file DATA_DIR/signing-key] [--requests 20000] [--duration 180] [--seed 1]

tokens.json maps names to bearer tokens; A_rw and B_rw are required (tenant A and B with
SecurityEvents.ReadWrite.All); A_ro, A_app, A_none, B_ro, C_rw are used when present. Tenants
and permissions are read from each token's claims.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import hmac
import json
import os
import random
import re
import socket
import string
import sys
import threading
import time
import urllib.parse
import zlib
from collections import Counter
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed import COLLECTION, request as simple_request, seed_profiles  # noqa: E402

RW = "SecurityEvents.ReadWrite.All"
RO = "SecurityEvents.Read.All"
STATUSES = ["unknown", "staged", "active", "suspended", "deleted", "unknownFutureValue"]
MAX_RESPONSE_BYTES = 192 << 20


# ------------------------------------------------------------------------------------------------
# JWT helpers


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_claims(token: str) -> dict:
    return json.loads(b64u_decode(token.split(".")[1]))


def jwt_encode(header: dict, claims: dict, key: bytes | None, digest=hashlib.sha256, raw_claims: str | None = None) -> str:
    h = b64u(json.dumps(header, separators=(",", ":")).encode())
    c = b64u((raw_claims if raw_claims is not None else json.dumps(claims, separators=(",", ":"))).encode())
    signing_input = f"{h}.{c}".encode()
    sig = b64u(hmac.new(key, signing_input, digest).digest()) if key is not None else ""
    return f"{h}.{c}.{sig}"


# ------------------------------------------------------------------------------------------------
# Credentials: what each Authorization choice is, for the oracles


@dataclass(frozen=True)
class Auth:
    name: str
    values: tuple[str, ...]  # Authorization header values (none: no header)
    kind: str  # valid | invalid | maybe (no auth oracle; `tenants` still bounds what may be seen)
    tenants: frozenset  # tenants whose data this caller may legitimately see
    perm: str = "?"  # rw | ro | none | ? (unknown)


def perm_of(claims: dict) -> str:
    perms = set((claims.get("scp") or "").split(" ")) | set(claims.get("roles") or [])
    return "rw" if RW in perms else "ro" if RO in perms else "none"


def build_auths(tokens: dict[str, str], tenants: dict[str, str], key: bytes | None) -> tuple[list[Auth], dict]:
    """All Authorization choices: the minted tokens, variants of them, forgeries."""
    auths: list[Auth] = []
    for name, token in sorted(tokens.items()):
        claims = jwt_claims(token)
        auths.append(Auth(name, (f"Bearer {token}",), "valid", frozenset([claims["tid"]]), perm_of(claims)))
    A, B = tenants["A"], tenants["B"]
    a_tok, b_tok = tokens["A_rw"], tokens["B_rw"]
    ah, ap, asig = a_tok.split(".")
    bh, bp, bsig = b_tok.split(".")
    a_claims = jwt_claims(a_tok)
    none_a = frozenset([A])
    empty = frozenset()

    def inv(name, *values):
        auths.append(Auth(name, tuple(values), "invalid", empty))

    def maybe(name, tenants_, *values):
        auths.append(Auth(name, tuple(values), "maybe", frozenset(tenants_)))

    inv("no-header")
    inv("empty", "")
    inv("bearer-only", "Bearer")
    inv("bearer-space", "Bearer ")
    inv("basic", "Basic " + base64.b64encode(b"admin:admin").decode())
    inv("garbage-jwt", "Bearer a.b.c")
    inv("dots", "Bearer ...")
    inv("eyJ", "Bearer eyJ")
    inv("null", "Bearer null")
    inv("unicode", "Bearer \u00e9\u00e8.\u00e0.\u00fc")
    inv("huge-10k", "Bearer " + "A" * 10_000)
    inv("huge-60k", "Bearer " + "eyJ" * 20_000)
    inv("sig-flip", f"Bearer {ah}.{ap}.{asig[:10]}{'A' if asig[10] != 'A' else 'B'}{asig[11:]}")
    inv("sig-strip", f"Bearer {ah}.{ap}.")
    inv("sig-missing", f"Bearer {ah}.{ap}")
    inv("extra-segment", f"Bearer {a_tok}.e30")
    inv("tid-swap-A-sig", f"Bearer {ah}.{bp}.{asig}")
    inv("tid-swap-B-sig", f"Bearer {bh}.{ap}.{bsig}")
    inv("truncated-half", f"Bearer {a_tok[: len(a_tok) // 2]}")
    inv("truncated-sig", f"Bearer {a_tok[:-8]}")
    inv("space-inside", f"Bearer {a_tok[:20]} {a_tok[20:]}")
    inv("payload-not-json", f"Bearer {ah}.{b64u(b'hello')}.{asig}")
    inv("header-not-json", f"Bearer {b64u(b'{')}.{ap}.{asig}")
    forged = dict(a_claims, tid=B)
    for alg in ("none", "None", "NONE", "nOnE"):
        inv(f"alg-{alg}", "Bearer " + jwt_encode({"alg": alg, "typ": "JWT"}, forged, None))
    inv("alg-none-with-sig", "Bearer " + jwt_encode({"alg": "none"}, forged, None) + asig)
    inv("alg-rs256-hmac-sig", f"Bearer {b64u(json.dumps({'alg': 'RS256', 'typ': 'JWT'}).encode())}.{ap}.{asig}")
    inv("alg-es256", f"Bearer {b64u(json.dumps({'alg': 'ES256'}).encode())}.{ap}.{asig}")
    inv("wrong-key", "Bearer " + jwt_encode({"alg": "HS256", "typ": "JWT"}, forged, b"0" * 64))
    inv("empty-key", "Bearer " + jwt_encode({"alg": "HS256", "typ": "JWT"}, forged, b""))
    # Authorization header shapes around a valid token (the server may accept some: "maybe").
    maybe("scheme-lower", none_a, f"bearer {a_tok}")
    maybe("scheme-upper", none_a, f"BEARER {a_tok}")
    maybe("double-space", none_a, f"Bearer  {a_tok}")
    maybe("trailing-space", none_a, f"Bearer {a_tok} ")
    maybe("tab", none_a, f"Bearer\t{a_tok}")
    maybe("two-schemes", none_a, f"Bearer {a_tok}, Basic eA==")
    maybe("equals", none_a, f"Bearer={a_tok}")
    maybe("token-scheme", none_a, f"Token {a_tok}")
    maybe("dup-A-B", {A, B}, f"Bearer {a_tok}", f"Bearer {b_tok}")
    maybe("dup-garbage-A", none_a, "Bearer x.y.z", f"Bearer {a_tok}")
    maybe("dup-A-garbage", none_a, f"Bearer {a_tok}", "Bearer x.y.z")
    maybe("two-tokens", {A, B}, f"Bearer {a_tok} {b_tok}")
    extra = {}
    if key is not None:
        now = int(time.time())
        base = {"iss": "graphsec-local", "aud": "https://graph.microsoft.com", "sub": "fuzz", "oid": "fuzz",
                "iat": now, "nbf": now - 5, "exp": now + 7200, "scp": RW}
        hs = {"alg": "HS256", "typ": "JWT"}

        def signed(claims, header=hs, digest=hashlib.sha256, raw=None):
            return "Bearer " + jwt_encode(header, claims, key, digest, raw)

        inv("signed-expired", signed(dict(base, tid=A, exp=now - 3600, nbf=now - 7200)))
        inv("signed-nbf-future", signed(dict(base, tid=A, nbf=now + 3600)))
        inv("signed-wrong-aud", signed(dict(base, tid=A, aud="api://someone-else")))
        inv("signed-wrong-iss", signed(dict(base, tid=A, iss="https://login.microsoftonline.com/x/v2.0")))
        inv("signed-no-exp", signed({k: v for k, v in dict(base, tid=A).items() if k != "exp"}))
        inv("signed-no-aud", signed({k: v for k, v in dict(base, tid=A).items() if k != "aud"}))
        inv("signed-hs384", signed(dict(base, tid=A), {"alg": "HS384", "typ": "JWT"}, hashlib.sha384))
        inv("signed-hs512", signed(dict(base, tid=A), {"alg": "HS512", "typ": "JWT"}, hashlib.sha512))
        inv("signed-no-tid", signed(dict(base)))
        inv("signed-empty-tid", signed(dict(base, tid="")))
        inv("signed-null-tid", signed(dict(base, tid=None)))
        maybe("signed-tid-number", set(), signed(dict(base, tid=12345)))
        maybe("signed-tid-array", set(), signed(dict(base, tid=[A, B])))
        maybe("signed-tid-object", set(), signed(dict(base, tid={"A": A})))
        maybe("signed-scp-array", none_a, signed(dict(base, tid=A, scp=[RW])))
        maybe("signed-roles-string", none_a, signed(dict(base, tid=A, roles=RW, scp=None)))
        maybe("signed-scp-case", none_a, signed(dict(base, tid=A, scp=RW.lower())))
        maybe("signed-aud-array", none_a, signed(dict(base, tid=A, aud=["x", "https://graph.microsoft.com"])))
        maybe("signed-kid-path", none_a, signed(dict(base, tid=A), {"alg": "HS256", "kid": "../../../etc/passwd"}))
        maybe("signed-jku", none_a, signed(dict(base, tid=A), {"alg": "HS256", "jku": "http://127.0.0.1:9/jwks"}))
        maybe("signed-crit", none_a, signed(dict(base, tid=A), {"alg": "HS256", "crit": ["exp"]}))
        maybe("signed-dup-tid", {A, B}, signed(None, raw=json.dumps(dict(base, tid=A))[:-1] + f', "tid": "{B}"}}'))
        # Valid tokens of tenants that own nothing: whatever they see must carry no seeded marker.
        # Tenants named like SQL / LIKE patterns catch a tenant filter that is not a bound equality.
        for label, tid in [
            ("sql", "' OR '1'='1"),
            ("sql2", f"{A}' OR 1=1 --"),
            ("like-percent", "%"),
            ("like-underscore", A[:-1] + "_"),
            ("glob-star", "*"),
            ("long", "T" * 4000),
            ("unicode", "t\u00e9nant-\U0001f600"),
            ("nul", "a\u0000b"),
            ("A-prefix", A[:8]),
        ]:
            auths.append(Auth(f"signed-tenant-{label}", (signed(dict(base, tid=tid)),), "valid", frozenset([tid]), "rw"))
            extra[label] = tid
        auths.append(Auth("signed-A-rw", (signed(dict(base, tid=A)),), "valid", none_a, "rw"))
        auths.append(Auth("signed-A-ro", (signed(dict(base, tid=A, scp=RO)),), "valid", none_a, "ro"))
        auths.append(Auth("signed-A-noscope", (signed(dict(base, tid=A, scp="User.Read")),), "valid", none_a, "none"))
    return auths, extra


# ------------------------------------------------------------------------------------------------
# The request model


@dataclass
class Item:
    """What one request (or one $batch item) means, for the oracles."""

    method: str
    route: str | None  # collection | count | item | batch | None (no route oracle)
    pid: str | None = None  # the profile id an item route names
    auth: Auth | None = None


@dataclass
class Req:
    index: int
    kind: str
    method: str
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    framing: str = "length"  # length | chunked | none | both
    version: bytes = b"HTTP/1.1"
    lf_only: bool = False  # bare LF line endings
    malformed: bool = False  # deliberately broken framing: a clean close is acceptable
    meaning: Item | None = None
    batch_items: list[Item] = field(default_factory=list)
    then: "Req | None" = None  # a second request pipelined on the same connection

    def serialize(self, keep_alive: bool = False) -> bytes:
        lines = [self.method.encode("utf-8", "surrogateescape") + b" " + self.target + b" " + self.version]
        names = {n.lower() for n, _ in self.headers}
        for name, value in self.headers:
            lines.append(name + b": " + value)
        body = self.body
        if self.framing in ("length", "both") and b"content-length" not in names and (body or self.method in ("POST", "PATCH", "PUT")):
            lines.append(b"Content-Length: " + str(len(body)).encode())
        if self.framing in ("chunked", "both"):
            lines.append(b"Transfer-Encoding: chunked")
            body = chunk(body, self.index)
        if b"connection" not in names:
            lines.append(b"Connection: keep-alive" if keep_alive else b"Connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n" + body


def chunk(body: bytes, salt: int) -> bytes:
    rng = random.Random(salt)
    out, i = [], 0
    while i < len(body):
        n = rng.choice([1, 7, 100, 4096, 65536, len(body)])
        part = body[i : i + n]
        ext = b";ext=1" if rng.random() < 0.1 else b""
        out.append(f"{len(part):x}".encode() + ext + b"\r\n" + part + b"\r\n")
        i += n
    out.append(b"0\r\nx-trailer: 1\r\n\r\n" if rng.random() < 0.1 else b"0\r\n\r\n")
    return b"".join(out)


# ------------------------------------------------------------------------------------------------
# Generators


ALNUM = string.ascii_letters + string.digits
WEIRD_CHARS = "'\"\\/%$&?#=+,;:()[]{}<>|^`~ \t*@!\u00e9\u00df\u4e2d\U0001f600\u202e\ufeff\u0000\u0001\u007f\u0085\u2028"
SQLI = [
    "' OR '1'='1", "' OR 1=1 --", "'; DROP TABLE profiles; --", "\" OR \"\"=\"", "1; SELECT * FROM sqlite_master",
    "') OR ('a'='a", "' UNION SELECT tenant_id, doc FROM profiles --", "%' --", "\\'; --", "*/ OR /*",
    "' || (SELECT hex(randomblob(1000000))) || '", "x' COLLATE NOCASE --", "'||'", "$1", "?", ":tenant",
]
DATES = [
    "2020-01-01T00:00:00Z", "2020-01-01T00:00:00.1234567Z", "2016-12-31T20:58:05.5931807-08:00",
    "2020-01-01T00:00:00.123456789012Z", "9999-12-31T23:59:59.9999999Z", "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00", "2020-02-30T00:00:00Z", "2020-13-01T00:00:00Z", "2020-01-01T24:00:00Z",
    "2020-01-01T23:59:60Z", "2020-01-01T00:00:00+99:99", "2020-01-01", "-2020-01-01T00:00:00Z",
    "+12020-01-01T00:00:00Z", "20200101T000000Z", "2020-01-01T00:00:00", "2020-01-01t00:00:00z",
    "2020-01-01T00:00Z", "2020-01-01 00:00:00Z", "1969-12-31T23:59:59.9999999Z", "2038-01-19T03:14:08Z",
]
NUMBERS = ["0", "-0", "1", "-1", "1.5", "1e309", "-1e309", "1e-400", "99999999999999999999999999", "NaN", "INF",
           "0x10", "1_000", "007", "9223372036854775807", "9223372036854775808", "-9223372036854775809", "1.0e+2"]
STR_PROPS = ["id", "displayName", "userPrincipalName", "riskScore", "azureTenantId", "azureSubscriptionId",
             "fuzzNote", "vendorInformation/provider", "vendorInformation/vendor", "vendorInformation/subProvider",
             "vendorInformation/providerVersion", "DisplayName", "ID", "unknownProp", "vendorInformation/nope",
             "accounts/displayName", "tags", "vendorInformation", "@odata.etag", "microsoft.graph.userSecurityProfile/id"]
DATE_PROPS = ["createdDateTime", "lastModifiedDateTime", "CREATEDDATETIME"]
ALL_PROPS = STR_PROPS + DATE_PROPS + ["accounts", "accounts/status", "tags/$count", "accounts/$count"]
DECLARED = ["id", "accounts", "azureSubscriptionId", "azureTenantId", "createdDateTime", "displayName",
            "lastModifiedDateTime", "riskScore", "tags", "userPrincipalName", "vendorInformation"]
FUNCS1 = ["tolower", "toupper", "length", "trim", "year", "month", "day", "hour", "date", "time", "round",
          "floor", "ceiling", "totaloffsetminutes", "fractionalseconds", "now", "maxdatetime", "isof", "cast"]
FUNCS2 = ["startswith", "endswith", "contains", "indexof", "concat", "substring", "matchesPattern", "hassubset"]
OPS = ["eq", "ne", "gt", "ge", "lt", "le", "has", "add", "sub", "mul", "div", "mod", "EQ", "Eq", "like", "=", "=="]


class Gen:
    """Draws one request from a random.Random; knows the ids, tenants and credentials."""

    def __init__(self, ctx: "Context", rng: random.Random, index: int):
        self.c = ctx
        self.r = rng
        self.index = index

    # --- small values ----------------------------------------------------------------------------

    def chance(self, p: float) -> bool:
        return self.r.random() < p

    def pick(self, seq):
        return seq[self.r.randrange(len(seq))]

    def weighted(self, table):
        total = sum(w for w, _ in table)
        x = self.r.random() * total
        for w, v in table:
            x -= w
            if x < 0:
                return v
        return table[-1][1]

    def length(self) -> int:
        return self.weighted([(60, self.r.randint(0, 12)), (25, self.r.randint(13, 200)),
                              (10, self.r.randint(201, 5000)), (1.5, self.r.randint(5001, 120_000)),
                              (0.1, self.r.randint(900_000, 1_100_000))])

    def text(self, n: int | None = None) -> str:
        n = self.length() if n is None else n
        style = self.r.randrange(6)
        if n > 5000:  # big strings: cheap to build
            unit = self.pick(["a", "\u00e9", "\U0001f600", "'", "\\", "\u0000", "ab'c", "%"])
            return (unit * (n // len(unit) + 1))[:n]
        if style == 0:
            return "".join(self.r.choice(ALNUM) for _ in range(n))
        if style == 1:
            return "".join(self.r.choice(WEIRD_CHARS + ALNUM) for _ in range(n))
        if style == 2:
            return self.pick(SQLI)
        if style == 3:
            return "".join(chr(self.r.choice([self.r.randint(0x20, 0x7E), self.r.randint(0xA0, 0xD7FF),
                                              self.r.randint(0xE000, 0x10FFFF)])) for _ in range(n))
        if style == 4:
            return self.pick(["HVA", "Finance", "x", "", " ", "null", "true", "0", "AAD", "active", "W/\"1\""])
        return self.pick(DATES + NUMBERS)

    def guid(self) -> str:
        return "%08x-%04x-4%03x-8%03x-%012x" % (self.r.getrandbits(32), self.r.getrandbits(16), self.r.getrandbits(12),
                                                self.r.getrandbits(12), self.r.getrandbits(48))

    # --- credentials and ids ---------------------------------------------------------------------

    def auth(self) -> Auth:
        c = self.c
        return self.weighted([
            (28, c.auth_by_name["A_rw"]), (16, c.auth_by_name["B_rw"]),
            (6, c.auth_by_name.get("A_ro", c.auth_by_name["A_rw"])),
            (4, c.auth_by_name.get("A_app", c.auth_by_name["A_rw"])),
            (3, c.auth_by_name.get("A_none", c.auth_by_name["A_rw"])),
            (3, c.auth_by_name.get("B_ro", c.auth_by_name["B_rw"])),
            (4, c.auth_by_name.get("C_rw", c.auth_by_name["A_rw"])),
            (36, self.pick(c.other_auths)),
        ])

    def own_tenant(self, auth: Auth | None) -> str | None:
        if auth is not None and len(auth.tenants) == 1:
            return next(iter(auth.tenants))
        return None

    def profile_id(self, method: str, auth: Auth | None) -> str:
        """An id for a path: sentinel ids are written only by other tenants' callers."""
        c = self.c
        mine = set(auth.tenants) if auth is not None else set()
        write = method.upper() not in ("GET", "HEAD")
        others = [t for t in c.sentinels if t not in mine]
        tenant = self.own_tenant(auth)
        choice = self.weighted([(25, "play"), (15, "fz"), (15, "foreign-sentinel"), (10, "own-sentinel"),
                                (8, "foreign-play"), (27, "random")])
        if choice == "play" and tenant in c.play:
            return self.pick(c.play[tenant])
        if choice == "fz":
            return f"fz-{self.r.randrange(400)}"
        if choice == "foreign-sentinel" and others:
            return self.pick(c.sentinels[self.pick(others)])
        if choice == "own-sentinel" and not write and [t for t in c.sentinels if t in mine]:
            return self.pick(c.sentinels[self.pick([t for t in c.sentinels if t in mine])])
        if choice == "foreign-play":
            t = self.pick(list(c.play))
            if t != tenant or not write or auth is None or auth.kind == "valid":
                return self.pick(c.play[t])
        return self.random_id()

    def random_id(self) -> str:
        return self.weighted([
            (10, self.guid()), (10, self.text(self.r.randint(1, 40))),
            (3, "x" * self.pick([255, 1024, 8000, 16_000, 40_000])),
            (2, self.pick(["$count", "$COUNT", "$metadata", "$batch", "$ref", "$value", "..", ".", "%", "null"])),
            (3, self.pick(["a/b", "a'b", "a''b", "a b", "a?b", "a#b", "a%2Fb", "a\u0000b", "\ud800", "\u00e9"])),
            (2, self.pick(SQLI)),
        ])

    def encode_id(self, pid: str) -> tuple[bytes, bool]:
        """Returns the path segment and whether the server should see exactly `pid`."""
        how = self.weighted([(70, "full"), (10, "safe"), (6, "raw"), (5, "double"), (5, "paren"), (4, "paren-id")])
        raw = pid.encode("utf-8", "surrogatepass")
        if how == "full":
            return urllib.parse.quote_from_bytes(raw, safe="").encode(), "/" not in pid and pid not in ("", ".", "..")
        if how == "safe":
            return urllib.parse.quote_from_bytes(raw, safe="'()$@!*,;:=").encode(), "/" not in pid and pid not in ("", ".", "..") and "%" not in pid
        if how == "raw":
            return raw, False
        if how == "double":
            return urllib.parse.quote(urllib.parse.quote_from_bytes(raw, safe=""), safe="").encode(), False
        quoted = urllib.parse.quote_from_bytes(pid.replace("'", "''").encode("utf-8", "surrogatepass"), safe="")
        prefix = b"(id=" if how == "paren-id" else b"("
        return prefix + b"'" + quoted.encode() + b"')", False  # glued to the collection segment below

    # --- paths -----------------------------------------------------------------------------------

    def case(self, segment: str) -> str:
        if not self.chance(0.2):
            return segment
        return "".join(ch.upper() if self.chance(0.5) else ch.lower() for ch in segment)

    def target(self, method: str, auth: Auth | None, want: str | None = None) -> tuple[bytes, Item]:
        route = want or self.weighted([(30, "collection"), (8, "count"), (40, "item"), (4, "batch"), (2, "metadata"),
                                       (2, "service"), (2, "security"), (1, "health"), (1, "openapi"), (3, "v1"),
                                       (7, "garbage")])
        beta, sec, coll = self.case("beta"), self.case("security"), self.case("userSecurityProfiles")
        meaning = Item(method.upper(), None, auth=auth)
        if route == "collection":
            path = f"/{beta}/{sec}/{coll}" + ("/" if self.chance(0.05) else "")
            meaning.route = "collection"
        elif route == "count":
            path = f"/{beta}/{sec}/{coll}/" + self.pick(["$count", "%24count", "$COUNT", "$Count"])
            meaning.route = "count"
        elif route == "item":
            pid = self.profile_id(method, auth)
            seg, exact = self.encode_id(pid)
            if seg.startswith(b"("):
                path_b = f"/{beta}/{sec}/{coll}".encode() + seg
                exact = pid != "" and "\ud800" not in pid
            else:
                path_b = f"/{beta}/{sec}/{coll}/".encode() + seg
            if self.chance(0.05):
                path_b += self.pick([b"/", b"/x", b"/$value", b"/$ref", b"/..", b"//"])
                exact = exact and path_b.endswith(b"/") and not path_b.endswith(b"//")
            if exact and pid.startswith("$") and pid.lower() in ("$count",):
                exact = False
            if exact:
                meaning.route, meaning.pid = "item", pid
            return path_b + self.query("item"), meaning
        elif route == "batch":
            path = f"/{beta}/" + self.pick(["$batch", "%24batch", "$BATCH"])
            meaning.route = "batch"
        elif route == "metadata":
            path = f"/{beta}/" + self.pick(["$metadata", "%24metadata", "$metadata#x"])
        elif route == "service":
            path = self.pick(["/beta", "/beta/", "/BETA/"])
        elif route == "security":
            path = f"/{beta}/{sec}"
        elif route == "health":
            path = self.pick(["/healthz", "/readyz", "/HEALTHZ", "/healthz/", "/readyz?x=1"])
        elif route == "openapi":
            path = self.pick(["/openapi.json", "/OpenAPI.json", "/openapi.json/.."])
        elif route == "v1":
            path = self.pick(["/v1.0/security/userSecurityProfiles", "/v1.0/$batch", "/V1.0/", "/v1.0/$metadata",
                              "/v2/security/userSecurityProfiles"])
        else:
            return self.garbage_target(), meaning
        return path.encode() + self.query(route), meaning

    def garbage_target(self) -> bytes:
        return self.weighted([
            (5, b"/"), (3, b"*"), (3, b"/beta/security/userSecurityProfiles/../../etc/passwd"),
            (3, b"/beta/%2e%2e/%2e%2e/etc/passwd"), (3, b"/beta/./security/./userSecurityProfiles"),
            (3, b"//beta//security//userSecurityProfiles"), (3, b"/beta/security/userSecurityProfiles%2F"),
            (3, b"/beta/security/userSecurityProfiles%00"), (3, b"/beta/%FF%FE"), (3, b"/beta/%"),
            (3, b"/beta/%zz"), (2, b"/beta/security/userSecurityProfiles('x)"), (2, b"/beta/security/userSecurityProfiles()"),
            (2, b"/beta/security/userSecurityProfiles('')"), (2, b"/beta/security/userSecurityProfiles(id='a',x='b')"),
            (2, b"/beta/security/alerts"), (2, b"/beta/security/userSecurityProfiles/$count/$count"),
            (2, b"/beta/$batch/x"), (2, b"/beta/$metadata/x"), (2, b"/beta/security/userSecurityProfiles/a/b/c"),
            (3, b"http://127.0.0.1/beta/security/userSecurityProfiles"), (2, b"http://evil.example/beta/"),
            (2, b"127.0.0.1:80"), (2, b"/" + b"a/" * 3000), (2, b"/beta/" + b"x" * 20_000),
            (2, b"/beta/" + b"%41" * 6000), (2, "/beta/\u00e9\U0001f600".encode()), (2, b"/beta/\xff\xfe"),
            (1, b"/beta/security/userSecurityProfiles?" + b"&" * 5000), (1, b"/beta?$filter=x"),
            (2, b"/beta/security/userSecurityProfiles\\x"), (1, b"/beta/security/userSecurityProfiles;x=1"),
            (2, b"/beta/security/userSecurityProfiles#frag"), (1, b"/beta/security/userSecurityProfiles?%"),
        ])

    # --- query strings ---------------------------------------------------------------------------

    def query(self, route: str) -> bytes:
        if not self.chance({"collection": 0.75, "count": 0.6, "item": 0.2}.get(route, 0.1)):
            return b""
        opts = []
        names = ["filter", "orderby", "select", "top", "skip", "count", "skiptoken", "format", "expand", "search",
                 "apply", "levels", "compute", "foo", "index", "deltatoken", "schemaversion", "id"]
        for _ in range(self.weighted([(50, 1), (30, 2), (15, 4), (4, 8), (1, 60)])):
            name = self.weighted([(20, "filter"), (10, "orderby"), (10, "select"), (8, "top"), (6, "skip"),
                                  (6, "count"), (6, "skiptoken"), (4, "format"), (10, self.pick(names))])
            opts.append((name, self.option_value(name)))
        parts = []
        for name, value in opts:
            spelled = self.weighted([(70, "$" + name), (8, "%24" + name), (8, name), (6, "$" + name.upper()),
                                     (4, "$" + name + " "), (4, "@" + name)])
            enc = self.weighted([(75, "pct"), (10, "plus"), (10, "minimal"), (5, "raw")])
            if enc == "pct":
                v = urllib.parse.quote(value, safe="$'(),/:@", errors="surrogatepass").encode("ascii")
            elif enc == "plus":
                v = urllib.parse.quote_plus(value, safe="$'(),/:@", errors="surrogatepass").encode("ascii")
            elif enc == "minimal":
                v = urllib.parse.quote(value, safe="$'(),/:@ =&+;", errors="surrogatepass").replace(" ", "%20").encode("ascii")
            else:
                v = value.encode("utf-8", "surrogatepass")
            parts.append(urllib.parse.quote(spelled, safe="$@%").encode() + (b"" if self.chance(0.03) else b"=") + v)
        sep = b";" if self.chance(0.02) else b"&"
        q = sep.join(parts)
        if self.chance(0.03):
            q = q + self.pick([b"&", b"&&", b"=", b"&=x", b"&%", b"&%FF=%FE", b"&x=%00"])
        return b"?" + q

    def option_value(self, name: str) -> str:
        if name == "filter":
            v = self.filter_expr()
        elif name == "orderby":
            n = self.weighted([(60, 1), (30, self.r.randint(2, 5)), (8, self.r.randint(6, 40)), (2, 500)])
            v = self.pick([",", ", ", ",,"]).join(
                self.pick(ALL_PROPS) + self.pick(["", " asc", " desc", " DESC", " up", "  asc", " asc desc"]) for _ in range(n))
        elif name == "select":
            n = self.weighted([(60, self.r.randint(1, 3)), (30, self.r.randint(4, 12)), (10, self.r.randint(13, 300))])
            pool = DECLARED + ["fuzzNote", "*", "@odata.etag", "vendorInformation/provider", "", " id ", "ID",
                               "unknownProp", "microsoft.graph.userSecurityProfile/*", "accounts/status", "tags/$count"]
            v = ",".join(self.pick(pool) for _ in range(n))
        elif name == "top":
            v = self.pick(["1", "2", "10", "100", "1000", "1001", "0", "-1", "abc", "1e3", "99999999999999999999999",
                           " 5", "5 ", "+5", "0x10", "", "5.0", str(self.r.randint(1, 1000))])
        elif name == "skip":
            v = self.pick(["0", "1", "5", "-1", "9223372036854775807", "9223372036854775808",
                           "18446744073709551615", "abc", "1.5", "", str(self.r.randint(0, 200))])
        elif name == "count":
            v = self.pick(["true", "false", "TRUE", "1", "yes", "", "true "])
        elif name == "skiptoken":
            v = self.skiptoken()
        elif name == "format":
            v = self.pick(["json", "JSON", "xml", "application/json;odata.metadata=full", "atom", "", "application/jsonx"])
        else:
            v = self.text(self.r.randint(0, 30))
        if self.chance(0.08):
            v = self.mutate(v)
        return v

    def skiptoken(self) -> str:
        real = self.c.skiptokens
        if real and self.chance(0.6):
            tenant, tok = self.pick(real)
            how = self.r.randrange(6)
            if how == 0:
                return tok
            if how == 1:
                return tok[: self.r.randrange(len(tok))]
            if how == 2:
                i = self.r.randrange(len(tok))
                return tok[:i] + self.pick("AZaz09-_") + tok[i + 1 :]
            if how == 3:
                return tok + self.pick(["=", "==", "A", ".x", "%00"])
            if how == 4:
                return tok.upper()
            return tok[::-1]
        return self.pick([
            "", "x", "null", b64u(b'{"k":["a"],"id":"x"}'), b64u(json.dumps({"k": [None, 1e308, "x" * 100]}).encode()),
            base64.b64encode(os.urandom(0) + bytes(self.r.getrandbits(8) for _ in range(40))).decode(),
            "A" * self.pick([100, 5000]), "' OR 1=1 --", self.guid(),
        ])

    def mutate(self, v: str) -> str:
        if not v:
            return self.pick(["(", "'", ")", "\u0000", " "])
        i = self.r.randrange(len(v))
        how = self.r.randrange(5)
        if how == 0:
            return v[:i] + v[i + 1 :]
        if how == 1:
            return v[:i] + self.pick("()'/,: $@\u0000\"\\") + v[i:]
        if how == 2:
            return v[:i]
        if how == 3:
            return v[:i] + v[i:] * 2
        return v.swapcase()

    # --- $filter ---------------------------------------------------------------------------------

    def literal(self) -> str:
        kind = self.weighted([(35, "str"), (10, "num"), (10, "date"), (8, "null"), (5, "bool"), (5, "guid"),
                              (5, "enum"), (4, "tid"), (3, "other")])
        if kind == "str":
            s = self.text(self.weighted([(85, self.r.randint(0, 15)), (12, self.r.randint(16, 500)), (3, 5000)]))
            if self.chance(0.05):
                return "'" + s  # unterminated / unescaped
            return "'" + s.replace("'", "''") + "'"
        if kind == "num":
            return self.pick(NUMBERS)
        if kind == "date":
            return self.pick(DATES)
        if kind == "null":
            return self.pick(["null", "NULL", "Null"])
        if kind == "bool":
            return self.pick(["true", "false", "TRUE"])
        if kind == "guid":
            return self.guid()
        if kind == "enum":
            return self.pick(["microsoft.graph.accountStatus'active'", "microsoft.graph.accountStatus'bogus'",
                              "accountStatus'active'", "microsoft.graph.accountStatus'Active'",
                              "microsoft.graph.accountStatus'active,suspended'", "'unknownFutureValue'"])
        if kind == "tid":
            return "'" + self.pick(list(self.c.tenants.values())) + "'"
        return self.pick(["duration'P1D'", "binary'AAA='", "geography'POINT(0 0)'", "@p1", "$it", "$root/x",
                          "X'00'", "'\\''", "''''", "[1,2]", "{}", "-", "INF"])

    def operand(self, depth: int) -> str:
        k = self.weighted([(50, "prop"), (20, "lit"), (15, "func1"), (10, "func2"), (5, "arith")])
        if k == "prop" or depth > 3:
            return self.pick(ALL_PROPS)
        if k == "lit":
            return self.literal()
        if k == "func1":
            return f"{self.pick(FUNCS1)}({self.operand(depth + 1)})"
        if k == "func2":
            return f"{self.pick(FUNCS2)}({self.operand(depth + 1)},{self.operand(depth + 1)})"
        return f"{self.operand(depth + 1)} {self.pick(['add', 'sub', 'mul', 'div', 'mod'])} {self.operand(depth + 1)}"

    def predicate(self, depth: int) -> str:
        k = self.weighted([(40, "cmp"), (15, "func"), (15, "lambda"), (6, "in"), (5, "count"), (4, "bare"),
                           (15, "combo")])
        if depth > 5:
            k = "cmp"
        if k == "cmp":
            left, right = self.operand(depth), self.literal() if self.chance(0.7) else self.operand(depth)
            return f"{left} {self.pick(OPS) if self.chance(0.15) else self.pick(OPS[:6])} {right}"
        if k == "func":
            return f"{self.pick(FUNCS2[:3] + ['contains'])}({self.pick(STR_PROPS)},{self.literal()})" + (
                f" eq {self.pick(['true', 'false', '1'])}" if self.chance(0.2) else "")
        if k == "lambda":
            var = self.pick(["t", "a", "x", "T", "it", "$it", "1", "a b"])
            coll = self.pick(["tags", "accounts", "accounts", "id", "vendorInformation", "tags/x", "unknownColl"])
            op = self.pick(["any", "all", "ANY", "some"])
            inner_var = self.pick([var, "u"])
            body = self.pick([
                f"{var} eq {self.literal()}", f"{var}/status eq {self.literal()}", f"startswith({var},{self.literal()})",
                f"{inner_var}/displayName eq {self.literal()}", f"tags/any({var}: {var} eq {self.literal()})",
                f"{self.predicate(depth + 1)}", "", f"{var}", f"{var}/status in ('active','deleted')",
            ])
            return f"{coll}/{op}({var}: {body})" if self.chance(0.92) else f"{coll}/{op}()"
        if k == "in":
            n = self.weighted([(70, self.r.randint(0, 5)), (25, self.r.randint(6, 200)), (5, self.r.randint(201, 3000))])
            return f"{self.pick(STR_PROPS + ['accounts/status'])} in ({','.join(self.literal() for _ in range(n))})"
        if k == "count":
            return f"{self.pick(['tags', 'accounts', 'id'])}/$count {self.pick(OPS[:6])} {self.pick(NUMBERS)}"
        if k == "bare":
            return self.pick(["true", "false", "null", "displayName", "not", "()", "and", "eq", "'x'"])
        n = self.r.randint(2, 4)
        joined = f" {self.pick(['and', 'or', 'AND', 'Or'])} ".join(self.predicate(depth + 1) for _ in range(n))
        return ("not " if self.chance(0.2) else "") + ("(" + joined + ")" if self.chance(0.6) else joined)

    def str_lit(self) -> str:
        s = self.weighted([(50, self.pick(["HVA", "Finance", "t1", "x", "", "AAD", "graphsec-fuzz", "1", "sub-1"])),
                           (30, self.text(self.r.randint(0, 20))), (20, self.pick(SQLI))])
        return "'" + s.replace("'", "''") + "'"

    def typed(self, depth: int) -> str:
        """Well-typed predicates (most parse), so the SQL they become gets exercised."""
        k = self.weighted([(30, "str"), (12, "date"), (12, "func"), (14, "lambda"), (6, "in"), (5, "null"),
                           (4, "count"), (17, "combo")])
        if depth > 3 and k == "combo":
            k = "str"
        sp = self.pick(["id", "displayName", "userPrincipalName", "riskScore", "azureSubscriptionId", "fuzzNote",
                        "vendorInformation/provider", "vendorInformation/vendor", "azureTenantId", "DISPLAYNAME"])
        if k == "str":
            return f"{sp} {self.pick(OPS[:6])} {self.str_lit()}"
        if k == "date":
            return f"{self.pick(DATE_PROPS[:2])} {self.pick(OPS[:6])} {self.pick(DATES[:6] + DATES[18:20])}"
        if k == "func":
            f = self.pick(["startswith", "endswith", "contains"])
            inner = self.pick([sp, f"tolower({sp})", f"toupper({sp})"])
            return f"{f}({inner},{self.str_lit()})"
        if k == "lambda":
            return self.pick([
                f"tags/any(t: t eq {self.str_lit()})", f"tags/all(t: t ne {self.str_lit()})",
                f"tags/any(t: startswith(t,{self.str_lit()}))", "tags/any()",
                "accounts/any(a: a/status eq " + self.pick(["'active'", "'deleted'", "microsoft.graph.accountStatus'suspended'"]) + ")",
                f"accounts/all(a: a/riskScore {self.pick(OPS[:6])} {self.str_lit()})",
                f"accounts/any(a: a/signinName eq {self.str_lit()} and a/status ne 'unknown')",
                "accounts/any(a: tags/any(t: t eq a/displayName))",
                f"accounts/any(a: a/lastSeenDateTime gt {self.pick(DATES[:4])})",
            ])
        if k == "in":
            return f"{sp} in ({','.join(self.str_lit() for _ in range(self.r.randint(1, 8)))})"
        if k == "null":
            return f"{self.pick([sp] + DATE_PROPS[:2] + ['tags', 'accounts', 'vendorInformation'])} {self.pick(['eq', 'ne'])} null"
        if k == "count":
            return f"{self.pick(['tags', 'accounts'])}/$count {self.pick(OPS[:6])} {self.r.randint(0, 3)}"
        joined = f" {self.pick(['and', 'or'])} ".join(self.typed(depth + 1) for _ in range(self.r.randint(2, 3)))
        return ("not " if self.chance(0.2) else "") + "(" + joined + ")"

    def filter_expr(self) -> str:
        shape = self.weighted([(45, "typed"), (40, "normal"), (4, "deep-parens"), (4, "long-chain"),
                               (2, "not-chain"), (2, "deep-lambda"), (3, "huge-literal")])
        if shape == "typed":
            return self.typed(0)
        if shape == "normal":
            return self.predicate(0)
        if shape == "deep-parens":
            n = self.pick([50, 100, 127, 128, 129, 256, 1000, 5000])
            return "(" * n + "id eq 'x'" + ")" * n
        if shape == "long-chain":
            n = self.pick([100, 500, 999, 1000, 1001, 2000, 4000])
            return " or ".join(f"id eq 'x{i}'" for i in range(n))
        if shape == "not-chain":
            return "not " * self.pick([10, 100, 1000, 3000]) + "(id eq 'x')"
        if shape == "deep-lambda":
            n = self.pick([5, 10, 50, 200])
            inner = "t0 eq 'x'"
            for i in range(n):
                inner = f"tags/any(t{i}: {inner})"
            return inner
        return f"displayName eq '{'x' * self.pick([8000, 15000, 60000])}'"

    # --- headers ---------------------------------------------------------------------------------

    def headers(self, auth: Auth, has_body: bool, body_kind: str) -> list[tuple[bytes, bytes]]:
        h: list[tuple[bytes, bytes]] = []
        host = self.weighted([(90, self.c.host), (3, "evil.example"), (2, ""), (2, "[::1]:1"), (1, "x" * 5000),
                              (1, "a b"), (1, None)])
        if host is not None:
            h.append((b"Host", host.encode()))
            if self.chance(0.01):
                h.append((b"Host", b"second.example"))
        for value in auth.values:
            name = self.pick([b"Authorization"] * 8 + [b"authorization", b"AUTHORIZATION"])
            h.append((name, value.encode("utf-8")))
        if has_body or self.chance(0.05):
            ct = self.weighted([
                (80, "application/json"), (3, "application/json; charset=utf-8"), (2, "APPLICATION/JSON"),
                (2, "application/json;odata.metadata=full;IEEE754Compatible=true"), (2, "application/json; charset=utf-16"),
                (2, "text/plain"), (2, None), (1, ""), (1, "application/merge-patch+json"), (1, "application/jsonx"),
                (1, "multipart/mixed; boundary=batch_x"), (1, "application/x-www-form-urlencoded"),
                (1, "application/json; " + "p=v;" * 2000), (1, "application/json\u00e9"), (1, "*/*"),
            ])
            if ct is not None:
                h.append((b"Content-Type", ct.encode("utf-8")))
                if self.chance(0.01):
                    h.append((b"Content-Type", b"text/html"))
        if body_kind.startswith("gzip") or self.chance(0.03):
            enc = {"gzip": "gzip", "gzip-upper": "GZIP", "gzip-x": "x-gzip", "gzip-double": "gzip, gzip",
                   "gzip-deflate": "deflate"}.get(body_kind)
            if enc is None:
                enc = self.pick(["gzip", "identity", "br", "deflate", "zstd", "", "compress", "gzip, identity", "*"])
            h.append((b"Content-Encoding", enc.encode()))
        if self.chance(0.2):
            h.append((b"Prefer", self.pick([
                "return=minimal", "return=representation", "odata.maxpagesize=1", "odata.maxpagesize=0",
                "odata.maxpagesize=-1", "odata.maxpagesize=99999999999999999999", "odata.maxpagesize=5, return=minimal",
                "return=minimal,return=representation", "respond-async", "wait=100", "odata.include-annotations=*",
                "return=\"minimal\"", "odata.maxpagesize=2;x=y", ",,,,", "=" * 100, "return=" + "x" * 3000,
            ]).encode()))
        if self.chance(0.15):
            h.append((self.pick([b"If-Match", b"If-None-Match", b"if-match"]), self.pick([
                "*", 'W/"1"', 'W/"2"', '"1"', 'W/"999999999999999999999999"', 'W/"-1"', 'W/"1", W/"2"', "", 'W/""',
                'W/"\\"', "W/1", '"', 'W/"' + "9" * 5000 + '"', "\u00e9", 'W/"0x1"', '*, W/"1"', "null",
            ]).encode("utf-8")))
        if self.chance(0.1):
            h.append((b"client-request-id", self.pick([
                self.guid(), "", "x" * 5000, "\u00e9\u00e8", "a\tb", "id with spaces", "<script>", self.guid().upper(),
            ]).encode("utf-8")))
        if self.chance(0.08):
            h.append((b"Accept", self.pick([
                "application/json", "application/xml", "text/html", "*/*", "application/json;odata.metadata=none",
                "application/json;odata.metadata=full", "text/plain", "", "image/png;q=0", "x" * 3000,
            ]).encode()))
        if self.chance(0.05):
            h.append((self.pick([b"X-HTTP-Method-Override", b"X-HTTP-Method", b"X-Method-Override"]),
                      self.pick([b"PATCH", b"DELETE", b"PUT", b"MERGE"])))
        if self.chance(0.04):
            h.append((self.pick([b"X-Forwarded-Host", b"X-Forwarded-Proto", b"Forwarded", b"X-Forwarded-For",
                                 b"X-Original-URL", b"X-Rewrite-URL"]),
                      self.pick([b"evil.example", b"https", b"for=1.2.3.4;host=evil;proto=https", b"/beta/$metadata"])))
        if self.chance(0.03):
            h.append((b"Expect", b"100-continue"))
        if self.chance(0.02):
            h.append((b"Upgrade", self.pick([b"h2c", b"websocket", b"HTTP/2.0"])))
            h.append((b"HTTP2-Settings", b"AAMAAABkAARAAAAAAAIAAAAA"))
        if self.chance(0.05):
            for _ in range(self.weighted([(70, 3), (25, 40), (5, 95)])):
                h.append((self.header_name(), self.header_value()))
        if self.chance(0.01):
            h.append((b"X-Huge", b"a" * self.pick([8000, 30_000, 60_000, 70_000, 200_000])))
        if self.chance(0.01):
            h.extend((f"X-Many-{i}".encode(), b"v") for i in range(self.pick([50, 99, 100, 101, 300])))
        if self.chance(0.02):
            h.append((b"X-Obs-Text", bytes([self.r.randint(0x80, 0xFF)]) * 8))
        if self.chance(0.005):
            h.append((b"Range", b"bytes=0-10"))
        if self.chance(0.005):
            h.append((b"Cookie", b"a=" + b"b" * 4000))
        self.r.shuffle(h) if self.chance(0.05) else None
        return h

    def header_name(self) -> bytes:
        return self.pick([b"X-" + "".join(self.r.choice(ALNUM) for _ in range(8)).encode(), b"x-ms-client-request-id",
                          b"SdkVersion", b"ConsistencyLevel", b"Prefer", b"OData-Version", b"OData-MaxVersion",
                          b"Content-Language", b"Authorization", b"Keep-Alive", b"TE", b"Trailer", b"Via",
                          b"Max-Forwards", b"Origin", b"Referer", b"User-Agent", b"If-Modified-Since"])

    def header_value(self) -> bytes:
        return self.pick([b"", b"eventual", b"4.0", b"4.01", b"3.0", b"trailers", b"*", b"0", b"-1",
                          "\u00e9".encode(), b"a" * 1000, b"\x80\xff", b"timeout=1, max=1", b"null"])

    # --- bodies ----------------------------------------------------------------------------------

    def json_value(self, depth: int = 0):
        k = self.r.randrange(9 if depth < 4 else 6)
        if k == 0:
            return None
        if k == 1:
            return self.chance(0.5)
        if k == 2:
            return self.pick([0, -1, 1.5, 2 ** 63, -(2 ** 64), 1e308, 10 ** 40, 0.1])
        if k in (3, 4, 5):
            return self.text(self.r.randint(0, 30))
        if k in (6, 7):
            return [self.json_value(depth + 1) for _ in range(self.r.randint(0, 4))]
        return {self.member_name(): self.json_value(depth + 1) for _ in range(self.r.randint(0, 4))}

    def member_name(self) -> str:
        return self.weighted([(40, "".join(self.r.choice(string.ascii_letters) for _ in range(self.r.randint(1, 12)))),
                              (20, self.pick(DECLARED)), (10, self.text(self.r.randint(0, 10))),
                              (10, self.pick(["@odata.type", "@odata.etag", "@odata.context", "@odata.id",
                                              "displayName@odata.type", "#microsoft.graph.x", "odata.type", "$ref",
                                              "_", "_x1", "a.b", "a-b", "1a", "", " ", "ID", "Id", "__proto__",
                                              "constructor", "DisplayName", "AZURETENANTID"]))])

    def date_value(self):
        return self.weighted([(60, self.pick(DATES[:5])), (30, self.pick(DATES)), (10, self.json_value(3))])

    def account(self):
        acct = {}
        for member, gen in [("displayName", lambda: self.text()), ("signinName", lambda: self.text(self.r.randint(0, 30))),
                            ("service", lambda: self.pick(["AAD", "", None, 1])), ("riskScore", lambda: self.pick(["1", 1, None])),
                            ("status", lambda: self.weighted([(60, self.pick(STATUSES)), (20, self.pick(["Active", "ACTIVE", "bogus", "", "0", "2"])),
                                                              (20, self.pick([0, None, True, ["active"], {"x": 1}]))])),
                            ("lastSeenDateTime", self.date_value)]:
            if self.chance(0.5):
                acct[member] = gen()
        if self.chance(0.15):
            acct[self.member_name()] = self.json_value(2)
        return acct if self.chance(0.95) else self.json_value(2)

    def profile(self, create: bool, auth: Auth | None) -> dict:
        body: dict = {}
        tenant = self.own_tenant(auth)
        if create and self.chance(0.85):
            body["id"] = self.weighted([(55, f"fz-{self.r.randrange(400)}"), (10, self.guid()), (10, self.random_id()),
                                        (5, self.pick(self.c.sentinels.get(tenant) or ["x"])), (3, ""), (3, None),
                                        (4, self.pick([1, True, [], {}]))])
        members = [
            ("displayName", lambda: self.text()), ("userPrincipalName", lambda: self.text(self.r.randint(0, 60))),
            ("riskScore", lambda: self.weighted([(70, self.pick(["1", "42", "", "high"])), (30, self.json_value(3))])),
            ("azureSubscriptionId", lambda: self.text(self.r.randint(0, 40))),
            ("createdDateTime", self.date_value), ("lastModifiedDateTime", self.date_value),
            ("tags", lambda: self.weighted([(70, [self.text(self.r.randint(0, 20)) for _ in range(self.r.randint(0, 5))]),
                                            (10, ["t"] * self.pick([100, 1000, 20_000])), (10, None),
                                            (10, self.json_value(3))])),
            ("accounts", lambda: self.weighted([(70, [self.account() for _ in range(self.r.randint(0, 3))]),
                                                (5, [self.account()] * 300), (10, None), (15, self.json_value(3))])),
            ("vendorInformation", lambda: self.weighted([
                (60, {m: self.weighted([(80, self.text(self.r.randint(0, 30))), (20, self.json_value(3))])
                      for m in ("provider", "providerVersion", "subProvider", "vendor", self.member_name()) if self.chance(0.6)}),
                (20, None), (20, self.json_value(2))])),
            ("azureTenantId", lambda: self.weighted([(40, tenant or "x"), (30, self.pick(list(self.c.tenants.values()))),
                                                     (10, None), (10, ""), (10, self.json_value(3))])),
            ("@odata.type", lambda: self.pick(["#microsoft.graph.userSecurityProfile", "microsoft.graph.userSecurityProfile",
                                              "#microsoft.graph.user", "#microsoft.graph.userSecurityProfileX", "", 1])),
        ]
        for name, gen in members:
            if self.chance(0.45 if create else 0.3):
                body[name] = gen()
        for _ in range(self.weighted([(70, 0), (20, 1), (8, 3), (2, 200)])):
            body[self.member_name()] = self.json_value(1)
        if not create and self.chance(0.1):
            body["id"] = self.weighted([(50, f"fz-{self.r.randrange(400)}"), (50, self.json_value(3))])
        return body

    def dumps(self, value) -> bytes:
        style = self.weighted([(80, "compact"), (8, "ascii"), (5, "pretty"), (4, "surrogatepass"), (3, "nan")])
        try:
            if style == "ascii":
                return json.dumps(value, ensure_ascii=True).encode()
            if style == "pretty":
                return json.dumps(value, ensure_ascii=False, indent=self.pick([1, 4, "\t"])).encode("utf-8", "surrogatepass")
            if style == "nan":
                return json.dumps(value).replace("1.5", "NaN").replace("0.1", "Infinity").encode()
            return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
        except (ValueError, TypeError):
            return b"{}"

    def raw_json_oddity(self) -> bytes:
        n = self.pick([10, 127, 128, 129, 500, 1000, 10_000, 100_000, 500_000])
        return self.weighted([
            (4, b"[" * n + b"]" * n), (4, b'{"a":' * n + b"1" + b"}" * n), (2, b"[" * n), (2, b'{"a":' * n),
            (3, b'{"displayName":' + b"[" * n + b"]" * n + b"}"),
            (2, b'{"vendorInformation":' + b'{"x":' * n + b"1" + b"}" * n + b"}"),
            (2, b'{"id":"a","id":"b"}'), (2, b'{"displayName":"a"} trailing'), (2, b'{"displayName":"a"}{"b":1}'),
            (2, b""), (2, b"   "), (2, b"null"), (2, b"[]"), (2, b'"str"'), (2, b"1e999999"), (2, b"-"),
            (2, b"123456789012345678901234567890123456789"), (2, b"\xef\xbb\xbf{}"), (2, b'{"displayName":"\xff\xfe"}'),
            (2, b'{"displayName":"\xed\xa0\x80"}'), (2, b'{"displayName":"\\ud800"}'), (2, b'{"displayName":"\\u0000"}'),
            (2, b'{"displayName":"\xc0\xaf"}'), (2, '{"displayName":"x"}'.encode("utf-16")),
            (2, b'{"displayName":"a\x00b"}'), (2, b'{"a":1,}'), (2, b"{'a':1}"), (2, b'{"a":01}'),
            (2, b'{"tags":[' + b'"x",' * 50_000 + b'"x"]}'), (2, b'{"' + b"k" * 100_000 + b'":1}'),
            (1, os.urandom(0) + bytes(self.r.getrandbits(8) for _ in range(self.r.randint(1, 300)))),
        ])

    def batch_body(self, outer: Auth) -> tuple[bytes, list[Item]]:
        items_meta: list[Item] = []
        shape = self.weighted([(55, "clean"), (35, "normal"), (10, "odd")])
        clean = shape == "clean"
        if shape == "odd":
            body = self.pick([{}, {"requests": None}, {"requests": {}}, {"requests": []}, [], {"requests": "x"},
                              {"requests": [None]}, {"requests": [1, 2]}, {"requests": [{}] * 21},
                              {"requests": [{"id": "1", "method": "GET", "url": "/security/userSecurityProfiles"}] * 2}])
            return self.dumps(body), items_meta
        n = self.weighted([(40, 1), (40, self.r.randint(2, 5)), (12, self.r.randint(6, 20)),
                           (0 if clean else 8, self.r.randint(21, 30))])
        items = []
        ids = [str(k + 1) for k in range(n)]
        if not clean and self.chance(0.05) and n > 1:
            ids[1] = ids[0].upper() if self.chance(0.5) else ids[0]
        for k in range(n):
            auth = outer
            headers = {}
            if self.chance(0.15):
                inner = self.auth()
                if inner.values:
                    headers[self.pick(["Authorization", "authorization"])] = inner.values[0]
                    auth = inner
            method = self.weighted([(35, "GET"), (25, "POST"), (20, "PATCH"), (12, "DELETE"),
                                    (0 if clean else 8, self.pick(["get", "Patch", "PUT", "HEAD", "OPTIONS", "TRACE", "CONNECT", "MERGE", "",
                                                   "GET ", "G\u00c9T", "X" * 100, 1, None]))])
            m = method if isinstance(method, str) else "GET"
            if clean:
                want = {"GET": self.pick(["item", "collection", "count"]), "POST": "collection"}.get(m.upper(), "item")
            else:
                want = self.weighted([(45, "item"), (30, "collection"), (8, "count"), (2, "batch"), (15, None)])
            target, meaning = self.target(m, auth, want=want)
            orig = target.decode("utf-8", "surrogateescape")
            orig = orig[len("/beta"):] if orig.lower().startswith("/beta/") else orig
            url = orig if clean and not self.chance(0.2) else orig.lstrip("/") if clean else self.weighted([(70, orig), (10, orig.lstrip("/")), (3, "https://graph.microsoft.com/beta" + orig),
                                 (3, "//evil.example" + orig), (2, "/../" + orig), (2, orig + "\n"), (2, "\t" + orig),
                                 (2, "$batch"), (2, ""), (2, self.text(self.r.randint(1, 50))), (2, "/" + "x" * 20_000)])
            item: dict = {"id": ids[k], "method": method, "url": url}
            body = None
            if m.upper() in ("POST", "PATCH") or self.chance(0.05):
                body = self.profile(m.upper() == "POST", auth) if clean else self.weighted([(70, self.profile(m.upper() == "POST", auth)), (10, None),
                                      (8, base64.b64encode(self.dumps(self.profile(True, auth))).decode()),
                                      (4, "not base64 !!"),
                                      (4, base64.b64encode(gzip.compress(self.dumps(self.profile(True, auth)))).decode()),
                                      (2, base64.b64encode(self.c.bombs["json32m"]).decode()), (2, self.json_value(2))])
                if clean:
                    headers["Content-Type"] = "application/json"
                elif self.chance(0.92):
                    headers["Content-Type"] = self.pick(["application/json"] * 8 + ["text/plain", "application/json; charset=utf-8"])
                if isinstance(body, str) and body and self.chance(0.5):
                    headers["Content-Encoding"] = "gzip"
            if clean and self.chance(0.15):
                headers[self.pick(["If-Match", "Prefer", "client-request-id"])] = self.pick(
                    ["*", 'W/"1"', 'W/"2"', "return=minimal", "odata.maxpagesize=1", self.guid()])
            elif not clean and self.chance(0.1):
                headers[self.pick(["If-Match", "Prefer", "client-request-id", "Host", "X-Foo", "Content-Length",
                                   "bad header", "\u00e9", ""])] = self.pick(["*", 'W/"1"', "return=minimal", "odata.maxpagesize=1",
                                                                              "evil.example", "5", "\u00e9", "a\r\nb", 7, None])
            if headers:
                item["headers"] = headers
            if body is not None:
                item["body"] = body
            if clean and k > 0 and self.chance(0.2):
                item["dependsOn"] = [ids[self.r.randrange(k)]]
            elif not clean and self.chance(0.15) and n > 1:
                item["dependsOn"] = self.pick([[ids[(k + 1) % n]], [ids[k]], ["nope"], [ids[0], ids[0]], "1", [1], None,
                                               ids[: self.r.randint(0, n)]])
            if not clean and self.chance(0.03):
                item[self.member_name()] = self.json_value(2)
            if not clean and self.chance(0.02):
                item.pop(self.pick(["id", "method", "url"]), None)
            items.append(item)
            meaning.method = m.upper()
            meaning.auth = auth
            if url.lstrip("/") != orig.lstrip("/") or not target.lower().startswith(b"/beta/"):
                meaning.route = None
            items_meta.append(meaning)
        body = {"requests": items}
        if self.chance(0.03):
            body[self.member_name()] = self.json_value(1)
        return self.dumps(body), items_meta

    # --- one request -----------------------------------------------------------------------------

    def request(self) -> Req:
        auth = self.auth()
        method = self.weighted([(30, "GET"), (20, "POST"), (22, "PATCH"), (10, "DELETE"), (3, "PUT"), (2, "HEAD"),
                                (2, "OPTIONS"), (1, "TRACE"), (1, "CONNECT"), (2, "MERGE"), (1, "QUERY"), (1, "PROPFIND"),
                                (1, "get"), (1, "Patch"), (1, "X-" + "".join(self.r.choice(string.ascii_uppercase) for _ in range(5))),
                                (0.3, "M" * self.pick([100, 2000, 70_000]))])
        want = None
        if method == "POST":
            want = self.weighted([(70, "collection"), (20, "batch"), (10, None)])
        elif method in ("PATCH", "DELETE"):
            want = self.weighted([(92, "item"), (8, None)])
        target, meaning = self.target(method, auth, want)
        req = Req(self.index, "", method, target, [], meaning=meaning)
        body_kind = "none"
        body = b""
        up = method.upper()
        if meaning.route == "batch" and up == "POST":
            body, req.batch_items = self.batch_body(auth)
            body_kind = "batch"
        elif up in ("POST", "PATCH", "PUT", "MERGE") or self.chance(0.05):
            body_kind = self.weighted([(75, "profile"), (8, "random-json"), (12, "oddity"), (5, "huge")])
            if body_kind == "profile":
                body = self.dumps(self.profile(up == "POST", auth))
            elif body_kind == "random-json":
                body = self.dumps(self.json_value(0))
            elif body_kind == "oddity":
                body = self.raw_json_oddity()
            else:
                n = self.pick([1 << 20, (1 << 20) - 20, (1 << 20) + 1, 3 << 20])
                body = b'{"displayName":"' + b"x" * max(0, n - 19) + b'"}'
        if body and self.chance(0.1):
            body_kind = self.weighted([(50, "gzip"), (8, "gzip-upper"), (5, "gzip-x"), (5, "gzip-double"),
                                       (5, "gzip-deflate"), (10, "gzip-truncated"), (5, "gzip-badcrc"),
                                       (4, "gzip-multimember"), (8, "gzip-bomb")])
            body = self.compress(body, body_kind)
            body_kind = body_kind if body_kind in ("gzip-upper", "gzip-x", "gzip-double", "gzip-deflate") else "gzip"
        elif body_kind == "none" and self.chance(0.01):
            body, body_kind = self.c.bombs[self.pick(list(self.c.bombs))], "gzip"
        req.body = body
        req.headers = self.headers(auth, bool(body), body_kind)
        req.kind = f"{up if len(up) < 12 else 'LONG'} {meaning.route or 'other'} {auth.kind} {body_kind}"
        # Framing variants (all still valid HTTP/1.1 unless marked malformed).
        f = self.weighted([(88, "length"), (8, "chunked"), (1, "both"), (1, "http10"), (1, "lf-only"), (1, "pipeline")])
        if f == "chunked":
            req.framing = "chunked"
        elif f == "both":
            req.framing, req.malformed = "both", True
        elif f == "http10":
            req.version = b"HTTP/1.0"
        elif f == "lf-only":
            req.malformed = True
            req.lf_only = True
        elif f == "pipeline":
            second = Gen(self.c, random.Random(self.r.random()), self.index)
            req.then = second.simple_get()
        if len(method) > 50 or b" " in target or any(b < 0x21 or b > 0x7E for b in target) or any(
                b"\r" in v or b"\n" in v for _, v in req.headers) or any(
                not n or b" " in n for n, _ in req.headers):
            req.malformed = True  # the HTTP layer may refuse it before the app sees it
        return req

    def simple_get(self) -> Req:
        auth = self.auth()
        target, meaning = self.target("GET", auth, want=self.pick(["collection", "item", "count"]))
        return Req(self.index, "pipelined GET", "GET", target, self.headers(auth, False, "none"), meaning=meaning)

    def compress(self, body: bytes, how: str) -> bytes:
        if how == "gzip-bomb":
            return self.c.bombs[self.pick(list(self.c.bombs))]
        if how == "gzip-deflate":
            return zlib.compress(body)
        z = gzip.compress(body, compresslevel=1)
        if how == "gzip-double":
            return gzip.compress(z, compresslevel=1)
        if how == "gzip-truncated":
            return z[: self.r.randrange(max(1, len(z)))]
        if how == "gzip-badcrc":
            return z[:-8] + bytes(8)
        if how == "gzip-multimember":
            return z + gzip.compress(b'{"displayName":"second member"}')
        return z


# ------------------------------------------------------------------------------------------------
# Transport: one raw HTTP/1.1 exchange


class Timeout(Exception):
    pass


@dataclass
class Resp:
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    outcome: str = "ok"  # ok | timeout | reset | closed | garbage | oversize
    error: str = ""
    elapsed: float = 0.0
    send_error: str = ""

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None


class Reader:
    def __init__(self, sock: socket.socket, deadline: float):
        self.sock, self.deadline, self.buf, self.eof = sock, deadline, bytearray(), False

    def fill(self) -> bool:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout()
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            raise Timeout() from None
        if not data:
            self.eof = True
            return False
        self.buf += data
        if len(self.buf) > MAX_RESPONSE_BYTES + (1 << 20):
            raise OverflowError()
        return True

    def until(self, marker: bytes) -> bytes:
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out = bytes(self.buf[: i + len(marker)])
                del self.buf[: i + len(marker)]
                return out
            if not self.fill():
                raise EOFError()

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self.fill():
                raise EOFError()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def rest(self) -> bytes:
        while self.fill():
            pass
        out = bytes(self.buf)
        self.buf.clear()
        return out


def read_response(reader: Reader, head: bool, resp: Resp) -> None:
    while True:
        head_bytes = reader.until(b"\r\n\r\n")
        lines = head_bytes.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
        if not m:
            resp.outcome, resp.error = "garbage", f"not an HTTP status line: {lines[0][:100]!r}"
            return
        status = int(m.group(1))
        headers = []
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers.append((k.strip().lower(), v.strip()))
        if 100 <= status < 200 and status != 101:
            continue
        resp.status, resp.headers = status, headers
        break
    if head or resp.status in (204, 304) or resp.status == 101:
        return
    te = resp.header("transfer-encoding")
    cl = resp.header("content-length")
    if te and "chunked" in te.lower():
        body = bytearray()
        while True:
            size_line = reader.until(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while reader.until(b"\r\n") != b"\r\n":
                    pass  # trailers
                break
            body += reader.exactly(size)
            reader.exactly(2)
            if len(body) > MAX_RESPONSE_BYTES:
                resp.outcome = "oversize"
                break
        resp.body = bytes(body)
    elif cl is not None:
        n = int(cl)
        if n > MAX_RESPONSE_BYTES:
            resp.outcome = "oversize"
            return
        resp.body = reader.exactly(n)
    else:
        resp.body = reader.rest()


def exchange(host: str, port: int, req: Req, timeout: float) -> list[Resp]:
    """Sends `req` (and its pipelined follower) on one connection; one Resp per request."""
    started = time.monotonic()
    deadline = started + timeout
    reqs = [req] + ([req.then] if req.then else [])
    data = b"".join(r.serialize(keep_alive=(i < len(reqs) - 1)) for i, r in enumerate(reqs))
    if req.lf_only:
        data = data.replace(b"\r\n", b"\n")
    out = [Resp() for _ in reqs]
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as e:
        out[0].outcome, out[0].error = "connect", repr(e)
        for later in out[1:]:
            later.outcome = "skipped"
        return out
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.settimeout(timeout)
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            out[0].send_error = repr(e)  # the server may answer early (413, 431) and stop reading
        except socket.timeout:
            out[0].send_error = "send timed out"
        reader = Reader(sock, deadline)
        for i, r in enumerate(reqs):
            try:
                read_response(reader, r.method.upper() == "HEAD", out[i])
            except Timeout:
                out[i].outcome, out[i].error = "timeout", f"no complete response within {timeout:.0f} s"
            except EOFError:
                out[i].outcome = "closed"
                out[i].error = "connection closed before a complete response" + (
                    f" (got {len(reader.buf)} bytes)" if reader.buf else "")
            except ConnectionResetError as e:
                out[i].outcome, out[i].error = "reset", repr(e)
            except OverflowError:
                out[i].outcome = "oversize"
            except (ValueError, OSError) as e:
                out[i].outcome, out[i].error = "garbage", repr(e)
            out[i].elapsed = time.monotonic() - started
            if i > 0 and out[i].outcome in ("closed", "reset") and not out[i].error.endswith("bytes)"):
                out[i].outcome = "pipeline-closed"  # a server may close a connection after any answer
            if out[i].outcome != "ok":
                for later in out[i + 1 :]:
                    later.outcome, later.error = "skipped", "an earlier pipelined response failed"
                break
    finally:
        sock.close()
    return out


# ------------------------------------------------------------------------------------------------
# Run context, seeding and oracles


class Context:
    def __init__(self, args, tokens: dict[str, str], key: bytes | None):
        u = urllib.parse.urlsplit(args.base_url)
        if u.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit("http_fuzz.py only targets loopback addresses")
        self.base_url = args.base_url.rstrip("/")
        self.host_name, self.port = u.hostname, u.port or 80
        self.host = f"{u.hostname}:{self.port}"
        self.tokens = tokens
        self.tenants = {"A": jwt_claims(tokens["A_rw"])["tid"], "B": jwt_claims(tokens["B_rw"])["tid"]}
        if "C_rw" in tokens:
            self.tenants["C"] = jwt_claims(tokens["C_rw"])["tid"]
        self.auths, _ = build_auths(tokens, self.tenants, key)
        self.auth_by_name = {a.name: a for a in self.auths}
        self.other_auths = [a for a in self.auths if a.name not in tokens]
        self.notes: list[str] = []
        self.sentinels: dict[str, list[str]] = {}
        self.play: dict[str, list[str]] = {}
        self.secrets: dict[str, list[bytes]] = {}
        self.skiptokens: list[tuple[str, str]] = []
        self.snapshot: dict[str, dict] = {}
        payload = b'{"displayName":"' + b"A" * (32 << 20) + b'"}'
        self.bombs = {
            "json32m": gzip.compress(payload, compresslevel=9),
            "spaces": gzip.compress(b" " * (32 << 20), compresslevel=9),
            "nested": gzip.compress(gzip.compress(b"[" * (8 << 20), compresslevel=9), compresslevel=9),
            "just-under": gzip.compress(b'{"displayName":"' + b"B" * ((1 << 20) - 40) + b'"}', compresslevel=9),
        }

    def seed(self, seed: int, sentinels: int, play: int) -> None:
        rng = random.Random(f"markers:{seed}")
        owners = {"A": "A_rw", "B": "B_rw"}
        for label, token_name in owners.items():
            tid = self.tenants[label]
            marker_s = f"Zq{label}SENT{rng.getrandbits(64):016x}"
            marker_p = f"Zq{label}PLAY{rng.getrandbits(64):016x}"
            token = self.tokens[token_name]
            self.sentinels[tid] = seed_profiles(self.base_url, token, f"s{label.lower()}", sentinels, marker_s)
            self.play[tid] = seed_profiles(self.base_url, token, f"p{label.lower()}", play, marker_p)
            self.secrets[tid] = [marker_s.encode(), marker_p.encode()]
        for tid, ids in self.sentinels.items():
            token = self.tokens[owners["A" if tid == self.tenants["A"] else "B"]]
            for pid in ids:
                self.snapshot[pid] = self.get_json(token, f"{COLLECTION}/{urllib.parse.quote(pid, safe='')}")
        # Real skiptokens (for tampering): first pages of a few queries.
        for label in ("A", "B"):
            token = self.tokens[owners[label]]
            for query in ("?$top=1", "?$top=2&$orderby=displayName desc", "?$top=1&$filter=tags/any(t:t eq 'HVA')"):
                page = self.get_json(token, COLLECTION + urllib.parse.quote(query, safe="?$=&'/:(),"))
                link = page.get("@odata.nextLink", "")
                qs = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
                if "$skiptoken" in qs:
                    self.skiptokens.append((self.tenants[label], qs["$skiptoken"][0]))

    def get_json(self, token: str, path: str) -> dict:
        status, _, body = simple_request(self.base_url, "GET", path, token)
        try:
            return {"status": status, **json.loads(body)} if status != 200 else json.loads(body)
        except ValueError:
            return {"status": status, "raw": body[:200].decode("latin-1")}

    def tenant_of_sentinel(self, pid: str) -> str | None:
        for tid, ids in self.sentinels.items():
            if pid in ids:
                return tid
        return None


def entities(body):
    """Top-level profile objects in a response body (entity, collection page, batch answers)."""
    if isinstance(body, dict):
        if "@odata.etag" in body and "id" in body:
            yield body
        for v in body.get("value", []) if isinstance(body.get("value"), list) else []:
            if isinstance(v, dict):
                yield v
        for r in body.get("responses", []) if isinstance(body.get("responses"), list) else []:
            if isinstance(r, dict):
                yield from entities(r.get("body"))


def is_public(target: bytes) -> bool:
    """Paths that answer without a token (their bodies name properties such as azureTenantId)."""
    path = urllib.parse.unquote_to_bytes(target.split(b"?")[0]).lower().rstrip(b"/")
    return path in (b"/healthz", b"/readyz", b"/openapi.json", b"/beta") or path.startswith(b"/beta/$metadata")


def looks_protected(resp: Resp) -> bool:
    b = resp.body
    ctype = (resp.header("content-type") or "").lower()
    return (b"azureTenantId" in b or b'"responses"' in b or b"#security" in b
            or (ctype.startswith("text/plain") and b.strip().isdigit()))


def check(ctx: Context, req: Req, resp: Resp, meaning: Item | None, batch_items: list[Item]) -> list[str]:
    """The oracles for one answer; returns failure reasons."""
    fails = []
    if resp.outcome in ("timeout",):
        return [f"hang: {resp.error}"]
    if resp.outcome in ("reset", "closed", "garbage", "connect"):
        if req.malformed and resp.outcome in ("closed", "reset"):
            return []
        return [f"{resp.outcome}: {resp.error}"]
    if resp.outcome != "ok":
        return []
    if resp.status is not None and resp.status >= 500:
        fails.append(f"server error {resp.status}")
    auth = meaning.auth if meaning else None
    allowed = set(auth.tenants) if auth else set()
    for item in batch_items:
        if item.auth:
            allowed |= set(item.auth.tenants)
    for tid, markers in ctx.secrets.items():
        if tid in allowed:
            continue
        for marker in markers:
            if marker in resp.body:
                fails.append(f"cross-tenant leak: tenant {tid}'s marker {marker.decode()} in the answer to "
                             f"{auth.name if auth else '?'} (may see {sorted(allowed) or 'nothing'})")
    is_2xx = resp.status is not None and 200 <= resp.status < 300
    parsed = None
    if is_2xx and resp.body[:1] in (b"{", b"["):
        try:
            parsed = json.loads(resp.body)
        except ValueError:
            parsed = None
    if parsed is not None:
        for ent in entities(parsed):
            owner = ent.get("azureTenantId")
            if owner is not None and owner not in allowed and (auth is None or auth.kind != "maybe" or owner in ctx.secrets):
                fails.append(f"foreign entity: profile {ent.get('id')!r} of tenant {owner!r} answered to "
                             f"{auth.name if auth else '?'}")
    if auth is None or meaning is None:
        return fails
    public = is_public(req.target)
    if is_2xx and auth.kind == "invalid" and not public:
        if meaning.method not in ("GET", "HEAD") or looks_protected(resp):
            fails.append(f"auth bypass: {auth.name} got {resp.status}")
    fails += item_oracles(ctx, meaning, resp.status, "")
    if parsed is not None and batch_items and isinstance(parsed, dict) and isinstance(parsed.get("responses"), list):
        answers = parsed["responses"]
        for k, item in enumerate(batch_items):
            ans = next((a for a in answers if isinstance(a, dict) and a.get("id") == str(k + 1)), None)
            if ans is None:
                continue
            st = ans.get("status")
            if isinstance(st, int) and st >= 500:
                fails.append(f"server error {st} in batch item {k + 1}")
            if isinstance(st, int):
                fails += item_oracles(ctx, item, st, f"batch item {k + 1}: ")
    return fails


def item_oracles(ctx: Context, item: Item, status: int | None, where: str) -> list[str]:
    if status is None or not (200 <= status < 300) or item.auth is None or item.route is None:
        return []
    fails = []
    a = item.auth
    write = item.method in ("POST", "PATCH", "DELETE", "PUT", "MERGE")
    if item.route in ("collection", "count", "item"):
        if a.kind == "invalid":
            fails.append(f"{where}auth bypass: {a.name} got {status} on {item.method} {item.route}")
        elif a.kind == "valid" and write and a.perm in ("ro", "none"):
            fails.append(f"{where}permission bypass: {a.name} ({a.perm}) got {status} on {item.method} {item.route}")
        elif a.kind == "valid" and a.perm == "none":
            fails.append(f"{where}permission bypass: {a.name} (no permission) got {status} on {item.method} {item.route}")
    if item.route == "item" and item.pid is not None:
        owner = ctx.tenant_of_sentinel(item.pid)
        if owner is not None and owner not in a.tenants and item.method in ("GET", "PATCH", "DELETE"):
            fails.append(f"{where}cross-tenant access: {a.name} got {status} on {item.method} of tenant {owner}'s "
                         f"profile {item.pid!r}")
    return fails


# ------------------------------------------------------------------------------------------------
# Runner


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent = 0
        self.by_status: Counter = Counter()
        self.inner: Counter = Counter()
        self.by_kind: Counter = Counter()
        self.failures: list[dict] = []
        self.fail_kinds: Counter = Counter()
        self.latencies: list[float] = []
        self.no_request_id = 0
        self.no_request_id_by_status: Counter = Counter()
        self.messages: Counter = Counter()
        self.send_errors = 0


def describe(req: Req, limit: int = 700) -> str:
    raw = req.serialize()
    text = repr(raw[:limit])[2:-1]
    return text + (f"... ({len(raw)} bytes in all)" if len(raw) > limit else "")


def error_message(body: bytes) -> str:
    try:
        msg = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return "?"
    return re.sub(r"'[^']*'|\d+", "_", msg)[:90]


def placeholders(ctx: Context, raw: bytes) -> bytes:
    for name, token in ctx.tokens.items():
        raw = raw.replace(token.encode(), b"{{" + name.encode() + b"}}")
    return raw


def run_one(ctx: Context, args, index: int, stats: Stats, req: Req | None = None) -> None:
    if req is None:
        req = Gen(ctx, random.Random(f"{args.seed}:{index}"), index).request()
    resps = exchange(ctx.host_name, ctx.port, req, args.timeout)
    reqs = [req] + ([req.then] if req.then else [])
    with stats.lock:
        for r, resp in zip(reqs, resps):
            if resp.outcome == "skipped":
                continue
            stats.sent += 1
            key = resp.status if resp.outcome == "ok" else resp.outcome
            stats.by_status[key] += 1
            stats.by_kind[r.kind.split(" ")[0] + " " + r.kind.split(" ")[1]] += 1
            stats.latencies.append(resp.elapsed)
            if resp.send_error:
                stats.send_errors += 1
            if resp.outcome == "ok" and resp.header("request-id") is None:
                stats.no_request_id += 1
                stats.no_request_id_by_status[resp.status] += 1
            if resp.outcome == "ok" and resp.status and resp.status >= 400 and resp.body[:1] == b"{":
                stats.messages[error_message(resp.body)] += 1
    for r, resp in zip(reqs, resps):
        if resp.outcome == "skipped":
            continue
        fails = check(ctx, r, resp, r.meaning, r.batch_items if r is req else [])
        if resp.outcome == "ok" and r.batch_items and resp.status == 200:
            try:
                for ans in json.loads(resp.body).get("responses", []):
                    with stats.lock:
                        stats.inner[ans.get("status")] += 1
            except (ValueError, AttributeError):
                pass
        if fails:
            record_failure(ctx, args, stats, index, req, r, resp, fails)
        if args.verbose:
            print(f"#{index} {r.method[:20]} {r.target[:120]!r} -> {resp.status or resp.outcome} "
                  f"{resp.elapsed * 1000:.0f} ms", flush=True)


def record_failure(ctx, args, stats, index, req, r, resp, fails):
    path = None
    if args.failures_dir:
        os.makedirs(args.failures_dir, exist_ok=True)
        path = os.path.join(args.failures_dir, f"request-{index}.http")
        with open(path, "wb") as f:
            f.write(placeholders(ctx, req.serialize()))
    entry = {
        "index": index, "reasons": fails, "kind": r.kind, "status": resp.status, "outcome": resp.outcome,
        "elapsed_ms": round(resp.elapsed * 1000), "request": describe(r), "file": path,
        "response": (resp.body[:400].decode("utf-8", "replace") if resp.body else resp.error),
        "repro": f"--seed {args.seed} --only {index}",
    }
    with stats.lock:
        stats.failures.append(entry)
        for reason in fails:
            stats.fail_kinds[reason.split(":")[0]] += 1
        first = len(stats.failures) <= args.max_printed_failures
    if first:
        print(f"\nFAIL #{index} [{r.kind}] -> {resp.status or resp.outcome} in {resp.elapsed * 1000:.0f} ms",
              file=sys.stderr)
        for reason in fails:
            print(f"  - {reason}", file=sys.stderr)
        print(f"  request: {entry['request']}", file=sys.stderr)
        print(f"  response: {entry['response'][:300]!r}", file=sys.stderr)
        print(f"  reproduce: python3 fuzz/http_fuzz.py ... {entry['repro']}" + (f"  (or --replay {path})" if path else ""),
              file=sys.stderr)


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return -1
    return 0


def probes(ctx: Context, args, stats: Stats) -> None:
    """Targeted requests with definite expectations, run before the random phase."""
    A, B = ctx.tenants["A"], ctx.tenants["B"]
    a = ctx.auth_by_name["A_rw"]
    sb = ctx.sentinels[B][0]
    item = f"/beta/security/userSecurityProfiles/{sb}".encode()
    jhead = [(b"Host", ctx.host.encode()), (b"Content-Type", b"application/json")]

    def mk(method, target, auth, body=b"", extra=(), meaning=None):
        h = list(jhead) + [(b"Authorization", v.encode()) for v in auth.values] + list(extra)
        return Req(-1, f"probe {method}", method, target, h, body, meaning=meaning or Item(method, None, auth=auth))

    expectations = [
        ("A reads B's profile", mk("GET", item, a, meaning=Item("GET", "item", sb, a)), {404}),
        ("A patches B's profile", mk("PATCH", item, a, b'{"displayName":"pwned"}', meaning=Item("PATCH", "item", sb, a)), {404}),
        ("A patches B's profile with If-Match *", mk("PATCH", item, a, b'{"displayName":"pwned"}', [(b"If-Match", b"*")]), {404}),
        ("A deletes B's profile", mk("DELETE", item, a, meaning=Item("DELETE", "item", sb, a)), {404}),
        ("A reads B's profile by key", mk("GET", f"/beta/security/userSecurityProfiles('{sb}')".encode(), a), {404}),
        ("A filters on B's id", mk("GET", f"/beta/security/userSecurityProfiles?$filter=id%20eq%20'{sb}'".encode(), a), {200}),
        ("A counts B's tenant", mk("GET", f"/beta/security/userSecurityProfiles/$count?$filter=azureTenantId%20eq%20'{B}'".encode(), a), {200}),
        ("A creates in B's tenant", mk("POST", b"/beta/security/userSecurityProfiles", a,
                                      json.dumps({"id": "probe-x", "azureTenantId": B}).encode()), {403}),
        ("A moves its profile to B", mk("PATCH", f"/beta/security/userSecurityProfiles/{ctx.play[A][0]}".encode(), a,
                                        json.dumps({"azureTenantId": B}).encode()), {400, 403}),
        ("no token", mk("GET", b"/beta/security/userSecurityProfiles", Auth("none", (), "invalid", frozenset())), {401}),
        ("A's batch reads B's profile", mk("POST", b"/beta/$batch", a, json.dumps({"requests": [
            {"id": "1", "method": "GET", "url": f"/security/userSecurityProfiles/{sb}"},
            {"id": "2", "method": "PATCH", "url": f"/security/userSecurityProfiles/{sb}",
             "headers": {"Content-Type": "application/json"}, "body": {"displayName": "pwned"}},
            {"id": "3", "method": "DELETE", "url": f"/security/userSecurityProfiles/{sb}"}]}).encode(),
            meaning=Item("POST", "batch", None, a)), {200}),
        ("batch with no token", mk("POST", b"/beta/$batch", Auth("none", (), "invalid", frozenset()), json.dumps(
            {"requests": [{"id": "1", "method": "GET", "url": "/security/userSecurityProfiles"}]}).encode()), {401}),
    ]
    for name in ("A_ro", "A_none"):
        if name in ctx.auth_by_name:
            ro = ctx.auth_by_name[name]
            expectations += [
                (f"{name} creates", mk("POST", b"/beta/security/userSecurityProfiles", ro, b'{"displayName":"x"}'), {403}),
                (f"{name} patches", mk("PATCH", f"/beta/security/userSecurityProfiles/{ctx.play[A][1]}".encode(), ro,
                                       b'{"displayName":"x"}'), {403}),
                (f"{name} deletes", mk("DELETE", f"/beta/security/userSecurityProfiles/{ctx.play[A][1]}".encode(), ro), {403}),
            ]
    for auth in ctx.auths:
        if auth.kind == "invalid":
            expectations.append((f"invalid credential {auth.name}", mk("GET", b"/beta/security/userSecurityProfiles", auth), {401, 431}))
    if "C_rw" in ctx.auth_by_name:
        expectations.append(("tenant C lists", mk("GET", b"/beta/security/userSecurityProfiles", ctx.auth_by_name["C_rw"]), {200}))
    for label, req, expected in expectations:
        resps = exchange(ctx.host_name, ctx.port, req, args.timeout)
        resp = resps[0]
        with stats.lock:
            stats.sent += 1
            stats.by_status[resp.status if resp.outcome == "ok" else resp.outcome] += 1
            stats.by_kind["probe"] += 1
        fails = check(ctx, req, resp, req.meaning, [])
        if resp.status not in expected:
            fails.append(f"probe '{label}': expected {sorted(expected)}, got {resp.status or resp.outcome}")
        if label == "A's batch reads B's profile" and resp.status == 200:
            for ans in json.loads(resp.body).get("responses", []):
                if ans.get("status") != 404:
                    fails.append(f"probe '{label}': batch item {ans.get('id')} answered {ans.get('status')}, expected 404")
        if label.startswith("tenant C") and resp.status == 200 and json.loads(resp.body).get("value"):
            fails.append(f"probe '{label}': tenant C sees {len(json.loads(resp.body)['value'])} profiles, expected none")
        if label == "no token" and resp.status == 401 and not (resp.header("www-authenticate") or "").lower().startswith("bearer"):
            fails.append("probe 'no token': 401 without WWW-Authenticate: Bearer")
        if fails:
            record_failure(ctx, args, stats, -1, req, req, resp, fails)
    # Informational: does another tenant's existing id answer 409 on create (an existence oracle)?
    req = mk("POST", b"/beta/security/userSecurityProfiles", a, json.dumps({"id": sb, "displayName": "probe"}).encode())
    resp = exchange(ctx.host_name, ctx.port, req, args.timeout)[0]
    with stats.lock:
        stats.sent += 1
        stats.by_status[resp.status if resp.outcome == "ok" else resp.outcome] += 1
        stats.by_kind["probe"] += 1
    ctx.notes.append(f"POST as tenant A with the id of tenant B's existing profile answered {resp.status}"
                     + (" (ids are global: a create reveals that the id exists in another tenant)" if resp.status == 409 else ""))
    if resp.status == 201:
        simple_request(ctx.base_url, "DELETE", f"{COLLECTION}/{urllib.parse.quote(sb, safe='')}", ctx.tokens["A_rw"])
    fails = check(ctx, req, resp, req.meaning, [])
    if fails:
        record_failure(ctx, args, stats, -1, req, req, resp, fails)


def stress_probes(ctx: Context, args, stats: Stats) -> None:
    """Targeted resource probes, run after the random phase (a server that fails them may stay busy):
    nested lambdas over a profile with many tags must answer in time, and a GET that carries a
    body it does not need must still get its whole (large) answer."""
    tenant = "C_rw" if "C_rw" in ctx.tokens else "A_rw"
    token, auth = ctx.tokens[tenant], ctx.auth_by_name[tenant]
    simple_request(ctx.base_url, "POST", COLLECTION, token, {"id": "probe-tags", "tags": [f"t{i}" for i in range(100)]})
    for i in range(4):
        simple_request(ctx.base_url, "POST", COLLECTION, token, {"id": f"probe-big-{i}", "displayName": "x" * 900_000})
    head = [(b"Host", ctx.host.encode()), (b"Authorization", b"Bearer " + token.encode())]
    inner = "t0 eq 'x'"
    for i in range(6):
        inner = f"tags/any(t{i}: {inner})"
    cases = [("nested lambdas (depth 6) over 100 tags answer in time",
              Req(-2, "probe nested-lambda", "GET", (COLLECTION + "?$filter=" + urllib.parse.quote(inner, safe="'():/")).encode(),
                  list(head), meaning=Item("GET", "collection", auth=auth)))]
    for i in range(5):
        cases.append(("a GET with an unneeded 32 KB body gets its whole 3.6 MB answer",
                      Req(-3, "probe get-with-body", "GET", COLLECTION.encode() + b"?$select=displayName",
                          head + [(b"Content-Type", b"application/json")], b" " * 32_000,
                          meaning=Item("GET", "collection", auth=auth))))
    for label, req in cases:
        resp = exchange(ctx.host_name, ctx.port, req, args.timeout)[0]
        with stats.lock:
            stats.sent += 1
            stats.by_status[resp.status if resp.outcome == "ok" else resp.outcome] += 1
            stats.by_kind["probe"] += 1
        fails = [f"probe '{label}': {f}" for f in check(ctx, req, resp, req.meaning, [])]
        if fails:
            record_failure(ctx, args, stats, req.index, req, req, resp, fails)


def after_checks(ctx: Context, args) -> list[str]:
    problems = []
    for path in ("/healthz", "/readyz"):
        ok = False
        for _ in range(20):
            try:
                status, _, _ = simple_request(ctx.base_url, "GET", path, "", timeout=5)
                ok = status == 200
            except OSError:
                ok = False
            if ok:
                break
            time.sleep(0.25)
        if not ok:
            problems.append(f"after the run {path} does not answer 200")
    if problems:
        return problems
    owners = {ctx.tenants["A"]: ctx.tokens["A_rw"], ctx.tenants["B"]: ctx.tokens["B_rw"]}
    for tid, ids in ctx.sentinels.items():
        for pid in ids:
            now = ctx.get_json(owners[tid], f"{COLLECTION}/{urllib.parse.quote(pid, safe='')}")
            if now != ctx.snapshot[pid]:
                problems.append(f"sentinel {pid!r} of tenant {tid} changed although only other callers targeted it: "
                                f"before {json.dumps(ctx.snapshot[pid])[:300]} after {json.dumps(now)[:300]}")
    for name in ("A_rw", "B_rw", "C_rw"):
        if name not in ctx.tokens:
            continue
        tid = jwt_claims(ctx.tokens[name])["tid"]
        path, pages, seen = f"{COLLECTION}?$top=1000", 0, 0
        while path and pages < 50:
            status, _, body = simple_request(ctx.base_url, "GET", path, ctx.tokens[name], timeout=60)
            if status != 200:
                problems.append(f"listing as {name} answered {status}: {body[:200]!r}")
                break
            page = json.loads(body)
            for ent in page.get("value", []):
                seen += 1
                if ent.get("azureTenantId") != tid:
                    problems.append(f"listing as {name} holds profile {ent.get('id')!r} of tenant {ent.get('azureTenantId')!r}")
            for other, markers in ctx.secrets.items():
                if other != tid and any(m in body for m in markers):
                    problems.append(f"listing as {name} carries tenant {other}'s marker")
            link = page.get("@odata.nextLink")
            path = urllib.parse.urlsplit(link)._replace(scheme="", netloc="").geturl() if link else None
            pages += 1
        ctx.notes.append(f"tenant {name[0]} holds {seen} profiles after the run")
    return problems


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base-url", required=True, help="http://127.0.0.1:PORT (loopback only)")
    p.add_argument("--tokens", required=True, help="JSON file: name -> bearer token (A_rw, B_rw required)")
    p.add_argument("--signing-key-file", help="the server's signing-key: forge validly signed tokens with odd claims")
    p.add_argument("--requests", type=int, default=20_000, help="random requests to send (default 20000)")
    p.add_argument("--duration", type=float, default=180, help="stop after this many seconds (default 180)")
    p.add_argument("--seed", type=int, default=None, help="seed (default: random, printed)")
    p.add_argument("--timeout", type=float, default=10, help="per-request timeout: longer is a hang (default 10 s)")
    p.add_argument("--workers", type=int, default=2, help="concurrent connections (default 2)")
    p.add_argument("--sentinels", type=int, default=4, help="sentinel profiles per tenant (default 4)")
    p.add_argument("--play", type=int, default=20, help="play profiles per tenant (default 20)")
    p.add_argument("--server-pid", type=int, help="the server's pid: checks it stays alive and samples its RSS")
    p.add_argument("--max-rss-mib", type=int, default=1024, help="fail if the server's RSS exceeds this (default 1024)")
    p.add_argument("--failures-dir", help="write each failing request here (tokens replaced by {{NAME}})")
    p.add_argument("--max-printed-failures", type=int, default=30)
    p.add_argument("--top-messages", type=int, default=12, help="print the N most frequent error messages")
    p.add_argument("--only", type=int, action="append", help="send only request INDEX of --seed (repeatable)")
    p.add_argument("--replay", help="send the raw request saved in FILE ({{NAME}} -> token) and print the answer")
    p.add_argument("--no-seed-data", action="store_true", help="with --only/--replay: skip seeding")
    p.add_argument("--no-stress-probes", action="store_true",
                   help="skip the resource probes run after the random phase (nested lambdas, GET with a body)")
    p.add_argument("--dump", action="store_true", help="with --only: print the raw request instead of sending it")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()
    if args.seed is None:
        args.seed = random.randrange(2**31)
    with open(args.tokens) as f:
        tokens = json.load(f)
    key = None
    if args.signing_key_file:
        with open(args.signing_key_file, "rb") as f:
            key = f.read()
    started = time.monotonic()
    ctx = Context(args, tokens, key)

    if args.replay:
        with open(args.replay, "rb") as f:
            raw = f.read()
        for name, token in tokens.items():
            raw = raw.replace(b"{{" + name.encode() + b"}}", token.encode())
        s = socket.create_connection((ctx.host_name, ctx.port), timeout=args.timeout)
        try:
            s.sendall(raw)
        except OSError as e:
            print(f"send: {e!r}")
        resp = Resp()
        try:
            read_response(Reader(s, time.monotonic() + args.timeout), raw.startswith(b"HEAD "), resp)
        except Exception as e:  # noqa: BLE001
            resp.outcome, resp.error = type(e).__name__, repr(e)
        s.close()
        print(f"status {resp.status} outcome {resp.outcome} {resp.error}")
        for k, v in resp.headers:
            print(f"{k}: {v}")
        print(resp.body[:4000].decode("utf-8", "replace"))
        return 0 if resp.outcome == "ok" and (resp.status or 500) < 500 else 1

    stats = Stats()
    if not args.no_seed_data:
        ctx.seed(args.seed, args.sentinels, args.play)
    print(f"http_fuzz: seed {args.seed}; {len(ctx.auths)} credentials; tenants {ctx.tenants}; "
          f"{len(ctx.skiptokens)} real skiptokens; target {ctx.base_url}", flush=True)

    if args.only:
        for index in args.only:
            req = Gen(ctx, random.Random(f"{args.seed}:{index}"), index).request()
            if args.dump:
                sys.stdout.buffer.write(req.serialize() + b"\n")
                continue
            run_one(ctx, args, index, stats, req)
            print(f"#{index} [{req.kind}] {describe(req, 400)}")
            print(f"  -> {dict(stats.by_status)}; failures: {len(stats.failures)}")
        return 1 if stats.failures else 0

    if not args.no_seed_data:
        probes(ctx, args, stats)

    rss = {"start": rss_kib(args.server_pid) if args.server_pid else None, "peak": 0}
    stop = threading.Event()

    def sampler():
        while not stop.wait(0.5):
            if args.server_pid:
                rss["peak"] = max(rss["peak"], rss_kib(args.server_pid))

    sampler_thread = threading.Thread(target=sampler, daemon=True)
    sampler_thread.start()

    counter = {"next": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + args.duration

    def worker():
        while True:
            with lock:
                i = counter["next"]
                if i >= args.requests or time.monotonic() >= deadline:
                    return
                counter["next"] += 1
            try:
                run_one(ctx, args, i, stats)
            except Exception as e:  # noqa: BLE001 - a generator bug must not look like a server bug
                print(f"internal error on #{i}: {e!r} (reproduce: --seed {args.seed} --only {i})", file=sys.stderr)
                with stats.lock:
                    stats.by_status["fuzzer-error"] += 1
            if i and i % 2000 == 0:
                with stats.lock:
                    print(f"  ... {i} requests, {len(stats.failures)} failures, "
                          f"{time.monotonic() - started:.0f} s", flush=True)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(max(1, args.workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    random_phase = time.monotonic() - t0
    stop.set()
    if not args.no_seed_data and not args.no_stress_probes:
        stress_probes(ctx, args, stats)
    problems = after_checks(ctx, args)
    if args.server_pid:
        now_rss = rss_kib(args.server_pid)
        if now_rss < 0:
            problems.append(f"the server (pid {args.server_pid}) is gone")
        rss["end"] = now_rss
        if max(rss["peak"], now_rss) > args.max_rss_mib * 1024:
            problems.append(f"server RSS peaked at {max(rss['peak'], now_rss) // 1024} MiB (> {args.max_rss_mib} MiB)")

    lat = sorted(stats.latencies) or [0]
    print("\n== http_fuzz summary ==")
    print(f"seed {args.seed}; random requests issued {counter['next']} of {args.requests} in {random_phase:.1f} s "
          f"({counter['next'] / max(random_phase, 1e-9):.0f}/s); total {time.monotonic() - started:.1f} s")
    print(f"requests answered or failed (incl. probes and pipelined): {stats.sent}")
    print("responses by status: " + ", ".join(f"{k}: {v}" for k, v in sorted(stats.by_status.items(), key=lambda kv: str(kv[0]))))
    if stats.inner:
        print("batch items by status: " + ", ".join(f"{k}: {v}" for k, v in sorted(stats.inner.items(), key=lambda kv: str(kv[0]))))
    print("requests by method/route: " + ", ".join(f"{k}: {v}" for k, v in stats.by_kind.most_common(14)))
    print(f"latency p50 {lat[len(lat) // 2] * 1000:.1f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.1f} ms, "
          f"max {lat[-1] * 1000:.0f} ms; early server close while sending: {stats.send_errors}; "
          f"responses without request-id: {stats.no_request_id} "
          f"({', '.join(f'{k}: {v}' for k, v in sorted(stats.no_request_id_by_status.items()))})")
    print("most frequent error messages: " + "; ".join(f"{v}x {k}" for k, v in stats.messages.most_common(args.top_messages)))
    if rss["start"] is not None:
        print(f"server RSS: start {rss['start']} KiB, peak {rss['peak']} KiB, end {rss.get('end')} KiB")
    for note in ctx.notes:
        print(f"note: {note}")
    for problem in problems:
        print(f"FAIL after the run: {problem}")
    if stats.failures:
        print(f"FAILURES: {len(stats.failures)} requests: " + ", ".join(f"{k}: {v}" for k, v in stats.fail_kinds.most_common()))
        if args.failures_dir:
            with open(os.path.join(args.failures_dir, "failures.json"), "w") as f:
                json.dump(stats.failures, f, indent=1)
            print(f"details: {os.path.join(args.failures_dir, 'failures.json')}")
    ok = not stats.failures and not problems
    print("RESULT: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
