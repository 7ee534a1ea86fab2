#!/usr/bin/env python3
"""Sequential request latencies against a running graphsec (keep-alive, one client), as p50/p99.

Usage: latency.py BASE_URL TOKEN PROFILE_COUNT [SAMPLES] [PAGES]"""
import http.client
import json
import random
import sys
import time
import urllib.parse

def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

def main():
    base, token, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    samples = int(sys.argv[4]) if len(sys.argv) > 4 else 500
    pages = int(sys.argv[5]) if len(sys.argv) > 5 else 2000
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    collection = "/beta/security/userSecurityProfiles"

    def get(path):
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise SystemExit(f"GET {path} -> {response.status}: {body[:300]!r}")
        return elapsed, body

    def q(text):
        return urllib.parse.quote(text, safe="")

    rng = random.Random(7)
    results = {}

    def measure(name, make_path, n=samples, check=None):
        times = []
        for _ in range(n):
            path = make_path()
            elapsed, body = get(path)
            if check:
                check(json.loads(body))
            times.append(elapsed)
        results[name] = times

    measure("GET by id", lambda: f"{collection}/p{rng.randrange(count):08d}")

    def one(page):
        assert len(page["value"]) == 1, page
    measure("$filter userPrincipalName eq (indexed)",
            lambda: f"{collection}?$filter={q(f'userPrincipalName eq ' + repr(f'user{rng.randrange(count)}@contoso.com'))}",
            check=one)
    measure("$filter tags/any(t: t eq 'tagN'), $top=100",
            lambda: f"{collection}?$top=100&$filter={q(f'tags/any(t: t eq ' + repr(f'tag{rng.randrange(50)}') + ')')}")
    measure("$filter tags/any(t: t eq 'rare') (1 in 10,000)",
            lambda: f"{collection}?$top=100&$filter={q('tags/any(t: t eq ' + repr('rare') + ')')}", n=max(20, samples // 10))

    # A deep walk: follow @odata.nextLink page after page.
    times, path, walked = [], f"{collection}?$top=100", 0
    while path and walked < pages:
        elapsed, body = get(path)
        times.append(elapsed)
        walked += 1
        link = json.loads(body).get("@odata.nextLink")
        path = urllib.parse.urlsplit(link)._replace(scheme="", netloc="").geturl() if link else None
    results[f"nextLink pages 1..{walked} ($top=100, {walked * 100:,} rows deep)"] = times

    print("| query | samples | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    for name, values in results.items():
        print(f"| {name} | {len(values)} | {percentile(values, 50):.2f} | {percentile(values, 99):.2f} | {max(values):.2f} |")

if __name__ == "__main__":
    main()
