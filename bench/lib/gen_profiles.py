#!/usr/bin/env python3
"""Writes N userSecurityProfile bodies (~1 KB each) for the benchmark.

  gen_profiles.py --count N --tenant T --ndjson FILE      one POST body per line (import, seeding)
  gen_profiles.py --count N --tenant T --json-server FILE  {"profiles": [...]} for json-server

Profile i has id u%07d and userPrincipalName u%07d@contoso.com, so the load scripts can pick
existing ids and indexed $filter values without reading the data back. A string template keeps
1,000,000 lines to a few seconds.
"""
import argparse
import json
import sys

TEMPLATE = (
    '{{"id":"u{i:07d}","userPrincipalName":"u{i:07d}@contoso.com",'
    '"displayName":"Benchmark User {i:07d} (Contoso Security Operations)",'
    '"azureTenantId":"{tenant}",'
    '"azureSubscriptionId":"{sub}",'
    '"createdDateTime":"2024-05-01T12:00:00.0000000Z",'
    '"lastModifiedDateTime":"2024-05-01T12:00:00.0000000Z",'
    '"riskScore":"{risk}",'
    '"tags":["HVA","Finance","Tier0","bench-{g}"],'
    '"accounts":['
    '{{"displayName":"Benchmark User {i:07d}","lastSeenDateTime":"2024-05-01T11:59:00.0000000Z",'
    '"riskScore":"{risk}","service":"Azure AD","signinName":"u{i:07d}@contoso.com","status":"active"}},'
    '{{"displayName":"Benchmark User {i:07d}","lastSeenDateTime":"2024-04-30T08:15:00.0000000Z",'
    '"riskScore":"{risk}","service":"On-premises Active Directory","signinName":"CONTOSO\\\\u{i:07d}",'
    '"status":"active"}}],'
    '"vendorInformation":{{"provider":"graphsec-bench","providerVersion":"1.0.0",'
    '"subProvider":"load-generator","vendor":"Contoso"}}}}'
)


def lines(count, tenant):
    for i in range(count):
        sub = "%08x-0000-4000-8000-%012x" % (i % 97, i)
        yield TEMPLATE.format(i=i, tenant=tenant, sub=sub, risk=i % 100, g=i % 16)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--tenant", required=True)
    p.add_argument("--ndjson")
    p.add_argument("--json-server")
    a = p.parse_args()
    if a.ndjson:
        with open(a.ndjson, "w", buffering=1 << 20) as f:
            for line in lines(a.count, a.tenant):
                f.write(line)
                f.write("\n")
    if a.json_server:
        with open(a.json_server, "w", buffering=1 << 20) as f:
            f.write('{"profiles":[\n')
            for i, line in enumerate(lines(a.count, a.tenant)):
                if i:
                    f.write(",\n")
                f.write(line)
            f.write("\n]}\n")
    # Sanity check: the template yields valid JSON.
    json.loads(next(lines(1, a.tenant)))


if __name__ == "__main__":
    sys.exit(main())
