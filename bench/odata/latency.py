#!/usr/bin/env python3
"""Sequential request latencies against a running graphsec (keep-alive, one client), as p50/p99,
for the data bench/odata/generate.py writes: every indexed filter at both ends of selectivity,
with the default order and ordered by another indexed property, plus filters no index serves.

Usage: latency.py BASE_URL TOKEN PROFILE_COUNT [SAMPLES] [PAGES]
Prints a Markdown table; the 'indexed' column says which rows the README promises are fast."""
import http.client
import json
import random
import sys
import time
import urllib.parse

COLLECTION = "/beta/security/userSecurityProfiles"

def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

def q(text):
    return urllib.parse.quote(text, safe="")

def main():
    base, token, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    samples = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    pages = int(sys.argv[5]) if len(sys.argv) > 5 else 500
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random(7)
    rows = []

    def get(path, ok=(200,)):
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status not in ok:
            raise SystemExit(f"GET {path} -> {response.status}: {body[:300]!r}")
        return elapsed, response.status, body

    def measure(name, indexed, make_path, n=samples, expect=None, ok=(200,)):
        times, statuses, sizes = [], set(), set()
        get(make_path(), ok)  # warm the statement caches
        for _ in range(n):
            elapsed, status, body = get(make_path(), ok)
            statuses.add(status)
            if status == 200:
                page = json.loads(body)
                sizes.add(len(page.get("value", [])))
                if expect is not None and len(page["value"]) != expect:
                    raise SystemExit(f"{name}: expected {expect} rows, got {len(page['value'])}")
            times.append(elapsed)
        rows.append((name, indexed, len(times), times, sorted(statuses), sorted(sizes)))
        print(f"  {name}: p50 {percentile(times, 50):.2f} ms p99 {percentile(times, 99):.2f} ms", file=sys.stderr)

    def listing(filter_text, order=None, top=100, extra=""):
        path = f"{COLLECTION}?$top={top}&$filter={q(filter_text)}"
        if order:
            path += f"&$orderby={q(order)}"
        return path + extra

    measure("GET by id", "yes", lambda: f"{COLLECTION}/p{rng.randrange(count):08d}")
    measure("userPrincipalName eq (1 profile)", "yes",
            lambda: listing(f"userPrincipalName eq 'user{rng.randrange(count)}@contoso.com'"), expect=1)

    # (name, filter, share of the profiles it matches, order-by property that is not the filter's)
    shapes = [
        ("tags/any eq 'rare'", "tags/any(t: t eq 'rare')", "1e-5", "displayName"),
        ("tags/any eq 'uncommon'", "tags/any(t: t eq 'uncommon')", "1e-4", "displayName"),
        ("tags/any eq 'common'", "tags/any(t: t eq 'common')", "0.1", "displayName"),
        ("tags/any eq 'tagN'", lambda: f"tags/any(t: t eq 'tag{rng.randrange(50)}')", "~0.04", "displayName"),
        ("tags/any in ('rare', 'uncommon')", "tags/any(t: t in ('rare', 'uncommon'))", "1.1e-4", "displayName"),
        ("or of tag tests, rare", "tags/any(t: t eq 'rare') or tags/any(t: t eq 'uncommon')", "1.1e-4", "displayName"),
        ("or of tag tests, common", "tags/any(t: t eq 'common') or tags/any(t: t eq 'tag7')", "~0.14", "displayName"),
        ("displayName eq 'Rare Name'", "displayName eq 'Rare Name'", "1e-5", "createdDateTime desc"),
        ("displayName eq 'Common Name'", "displayName eq 'Common Name'", "0.1", "createdDateTime desc"),
        ("riskScore eq '9999'", "riskScore eq '9999'", "1e-5", "displayName"),
        ("riskScore eq '90'", "riskScore eq '90'", "0.1", "displayName"),
        ("riskScore in ('9999', 'x')", "riskScore in ('9999', 'x')", "1e-5", "displayName"),
        ("riskScore in ('90', '1', '2')", "riskScore in ('90', '1', '2')", "~0.12", "displayName"),
        ("riskScore gt '999' (range)", "riskScore gt '999'", "1e-5", "displayName"),
        ("riskScore lt '5' (range)", "riskScore lt '5'", "~0.45", "displayName"),
        ("createdDateTime 8.76 h window", "createdDateTime ge 2020-03-01T00:00:00Z and createdDateTime lt 2020-03-01T08:45:36Z", "1e-4", "displayName"),
        ("createdDateTime ge 2020-01-01", "createdDateTime ge 2020-01-01T00:00:00Z", "~0.5", "displayName"),
        ("rare tag and common name", "tags/any(t: t eq 'rare') and displayName ne 'Common Name'", "1e-5", "displayName"),
    ]
    for name, text, share, other in shapes:
        make = text if callable(text) else (lambda t=text: t)
        measure(f"{name} [{share}]", "yes", lambda m=make: listing(m()))
        measure(f"{name} [{share}], $orderby={other}", "yes", lambda m=make, o=other: listing(m(), o))

    # About 1 in 100: where the two plans cost the most, and where they cross (each riskScore
    # '0'..'89' is held by about 10,000 profiles, the most a query starts from).
    middle = lambda: f"riskScore eq '{rng.randrange(90)}'"
    month = "createdDateTime ge 2024-01-01T00:00:00Z and createdDateTime lt 2024-02-01T00:00:00Z"
    for name, make, other in [("riskScore eq '0'..'89' [~0.01]", middle, "displayName"),
                              ("createdDateTime one month [~0.0085]", lambda: month, "displayName")]:
        measure(name, "yes, middle share", lambda m=make: listing(m()))
        measure(f"{name}, $orderby={other}", "yes, middle share", lambda m=make, o=other: listing(m(), o))

    # Page 2 through the nextLink of page 1, for a driven and a walked plan.
    def second_page(filter_text, order):
        _, _, body = get(listing(filter_text, order, top=5))
        link = json.loads(body).get("@odata.nextLink")
        return urllib.parse.urlsplit(link)._replace(scheme="", netloc="").geturl() if link else None
    for name, text, order in [("nextLink page 2, tags 'uncommon'", "tags/any(t: t eq 'uncommon')", "displayName"),
                              ("nextLink page 2, tags 'common'", "tags/any(t: t eq 'common')", "displayName")]:
        link = second_page(text, order)
        if link:
            measure(f"{name}, $orderby={order}, $top=5", "yes", lambda l=link: l)

    # Counts: the index alone answers them, but a common value still has many entries to count.
    few = max(5, samples // 20)
    measure("tags/any eq 'rare', $count=true", "yes", lambda: listing("tags/any(t: t eq 'rare')", extra="&$count=true"), n=few)
    measure("tags/any eq 'common', $count=true", "count reads 10% of the tag index",
            lambda: listing("tags/any(t: t eq 'common')", extra="&$count=true"), n=few)
    measure("createdDateTime ge 2020-01-01, $count=true", "count reads 50% of the index",
            lambda: listing("createdDateTime ge 2020-01-01T00:00:00Z", extra="&$count=true"), n=few)

    # No index serves these: they scan until the page fills, bounded by --query-timeout.
    measure("contains(displayName, 'Rare') [1e-5]", "no", lambda: listing("contains(displayName, 'Rare')"), n=3, ok=(200, 400))
    measure("endswith(userPrincipalName, '7@contoso.com') [0.1]", "no",
            lambda: listing("endswith(userPrincipalName, '7@contoso.com')"), n=few)
    measure("vendorInformation/provider eq 'Defender' [1]", "no",
            lambda: listing("vendorInformation/provider eq 'Defender'"), n=few)

    # A deep walk: follow @odata.nextLink page after page.
    times, path, walked = [], f"{COLLECTION}?$top=100", 0
    while path and walked < pages:
        elapsed, _, body = get(path)
        times.append(elapsed)
        walked += 1
        link = json.loads(body).get("@odata.nextLink")
        path = urllib.parse.urlsplit(link)._replace(scheme="", netloc="").geturl() if link else None
    rows.append((f"nextLink pages 1..{walked} ($top=100, no filter)", "yes", len(times), times, [200], [100]))

    print("| query [share of profiles] | indexed | samples | p50 ms | p99 ms | max ms | status | rows |")
    print("|---|---|---|---|---|---|---|---|")
    for name, indexed, n, values, statuses, sizes in rows:
        status = ",".join(map(str, statuses))
        size = ",".join(map(str, sizes)) if len(sizes) < 4 else f"{min(sizes)}..{max(sizes)}"
        print(f"| {name} | {indexed} | {n} | {percentile(values, 50):.2f} | {percentile(values, 99):.2f} "
              f"| {max(values):.2f} | {status} | {size} |")

if __name__ == "__main__":
    main()
