#!/usr/bin/env python3
"""Writes N synthetic userSecurityProfiles as newline-delimited JSON (input of `graphsec import`).

Deterministic for a given seed: user{i}@contoso.com, ~1-3 tags from a pool of 50 common tags, and
the tag 'rare' on every 10,000th profile."""
import json
import random
import sys

def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    out = sys.stdout
    rng = random.Random(42)
    statuses = ["active", "staged", "suspended", "deleted", "unknown"]
    for i in range(count):
        tags = [f"tag{rng.randrange(50)}" for _ in range(rng.randrange(1, 4))]
        if i % 10_000 == 0:
            tags.append("rare")
        profile = {
            "id": f"p{i:08d}",
            "userPrincipalName": f"user{i}@contoso.com",
            "displayName": f"User {rng.randrange(100_000)}",
            "riskScore": str(rng.randrange(100)),
            "tags": tags,
            "createdDateTime": f"20{10 + i % 15}-0{1 + i % 9}-1{i % 9}T0{i % 10}:00:00Z",
            "accounts": [{"service": "AAD", "status": statuses[i % 5], "signinName": f"user{i}"}],
            "vendorInformation": {"provider": "Defender", "vendor": "Microsoft"},
        }
        out.write(json.dumps(profile, separators=(",", ":")))
        out.write("\n")

if __name__ == "__main__":
    main()
