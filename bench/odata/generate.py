#!/usr/bin/env python3
"""Writes N synthetic userSecurityProfiles as newline-delimited JSON (input of `graphsec import`).

Deterministic for a given N. Every indexed member has values at both ends of selectivity. The
common values are drawn at random, independently of each other, so they are spread evenly
over every order; the rare ones sit at fixed, evenly spaced ids:
  displayName   'Common Name' on 1 in 10, 'Rare Name' on 1 in 100,000, else 'User <random>'
  riskScore     '90' on 1 in 10, '9999' on 1 in 100,000, else a random '0'..'89'
  tags          1-3 of tag0..tag49, plus 'common' on 1 in 10, 'uncommon' on 1 in 10,000 and
                'rare' on 1 in 100,000
  createdDateTime  uniformly random seconds in 2015-01-01 .. 2025-01-01 (a window of 8.76 hours
                holds 0.01% of the profiles; from 2020-01-01 on, about half)"""
import datetime
import json
import random
import sys

START = datetime.datetime(2015, 1, 1, tzinfo=datetime.timezone.utc)
SPAN = int((datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc) - START).total_seconds())

def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    out = sys.stdout
    rng = random.Random(42)
    statuses = ["active", "staged", "suspended", "deleted", "unknown"]
    for i in range(count):
        tags = [f"tag{rng.randrange(50)}" for _ in range(rng.randrange(1, 4))]
        if rng.random() < 0.1:
            tags.append("common")
        if i % 10_000 == 5:
            tags.append("uncommon")
        if i % 100_000 == 50:
            tags.append("rare")
        if rng.random() < 0.1:
            name = "Common Name"
        elif i % 100_000 == 17:
            name = "Rare Name"
        else:
            name = f"User {rng.randrange(1_000_000)}"
        if rng.random() < 0.1:
            risk = "90"
        elif i % 100_000 == 29:
            risk = "9999"
        else:
            risk = str(rng.randrange(90))
        created = START + datetime.timedelta(seconds=rng.randrange(SPAN))
        profile = {
            "id": f"p{i:08d}",
            "userPrincipalName": f"user{i}@contoso.com",
            "displayName": name,
            "riskScore": risk,
            "tags": tags,
            "createdDateTime": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "accounts": [{"service": "AAD", "status": statuses[i % 5], "signinName": f"user{i}"}],
            "vendorInformation": {"provider": "Defender", "vendor": "Microsoft"},
        }
        out.write(json.dumps(profile, separators=(",", ":")))
        out.write("\n")

if __name__ == "__main__":
    main()
