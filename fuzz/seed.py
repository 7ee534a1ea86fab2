#!/usr/bin/env python3
"""Seed userSecurityProfiles into a running graphsec server (stdlib only).

Used by fuzz/schemathesis.sh (as a command) and fuzz/http_fuzz.py (as a module).

    python3 fuzz/seed.py --base-url http://127.0.0.1:8080 --token "$TOKEN" \
        --prefix stable --count 10 --marker SECRETA1234 > ids.json

Every profile carries `marker` in several members (displayName, userPrincipalName, tags,
vendorInformation, accounts, a dynamic property), so a body that leaks it is easy to spot.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import urllib.parse

COLLECTION = "/beta/security/userSecurityProfiles"
STATUSES = ["unknown", "staged", "active", "suspended", "deleted", "unknownFutureValue"]


def profile_body(pid: str, index: int, marker: str) -> dict:
    return {
        "id": pid,
        "displayName": f"{marker} user {index}",
        "userPrincipalName": f"u{index}.{marker.lower()}@contoso.example",
        "riskScore": str(index * 7 % 100),
        "azureSubscriptionId": f"sub-{index % 3}",
        "createdDateTime": f"2020-01-{index % 28 + 1:02d}T10:{index % 60:02d}:05.5931807+02:00",
        "tags": [marker, "HVA" if index % 2 else "Finance", f"t{index % 5}"],
        "accounts": [
            {
                "displayName": f"{marker} account",
                "signinName": f"{marker}-{index}",
                "service": "AAD",
                "riskScore": str(index % 10),
                "status": STATUSES[index % len(STATUSES)],
                "lastSeenDateTime": "2021-06-01T00:00:00Z",
            }
        ],
        "vendorInformation": {"provider": marker, "vendor": "graphsec-fuzz", "providerVersion": "1", "subProvider": None},
        "fuzzNote": marker,
    }


def request(base_url: str, method: str, path: str, token: str, body: dict | None = None, timeout: float = 10.0):
    url = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def seed_profiles(base_url: str, token: str, prefix: str, count: int, marker: str) -> list[str]:
    """Creates `count` profiles `{prefix}-000`...; returns their ids. Fails loudly on any non-201."""
    ids = []
    for index in range(count):
        pid = f"{prefix}-{index:03d}"
        status, _, body = request(base_url, "POST", COLLECTION, token, profile_body(pid, index, marker))
        if status != 201:
            raise RuntimeError(f"seeding {pid}: expected 201, got {status}: {body[:300]!r}")
        ids.append(pid)
    return ids


def snapshot(base_url: str, token: str, ids: list[str]) -> dict[str, dict]:
    """The stored state of each id (etag and members), to compare before and after a run."""
    out = {}
    for pid in ids:
        status, _, body = request(base_url, "GET", f"{COLLECTION}/{urllib.parse.quote(pid, safe='')}", token)
        out[pid] = json.loads(body) if status == 200 else {"status": status}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--marker", required=True)
    args = parser.parse_args()
    ids = seed_profiles(args.base_url, args.token, args.prefix, args.count, args.marker)
    json.dump(ids, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
