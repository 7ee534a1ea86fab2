#!/usr/bin/env python3
"""POSTs every line of an NDJSON file to a collection URL over a few keep-alive connections.

  seed_http.py --url http://127.0.0.1:PORT/path --file F [--token T] [--connections 16]

Prints "<created> <seconds>". Exits 1 if any POST did not answer 201 (the first failure is shown).
"""
import argparse
import http.client
import sys
import threading
import time
from urllib.parse import urlsplit


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--token")
    p.add_argument("--connections", type=int, default=16)
    a = p.parse_args()
    url = urlsplit(a.url)
    with open(a.file, "rb") as f:
        bodies = [line.rstrip(b"\n") for line in f if line.strip()]
    headers = {"Content-Type": "application/json", "Prefer": "return=minimal"}
    if a.token:
        headers["Authorization"] = "Bearer " + a.token
    lock = threading.Lock()
    state = {"next": 0, "created": 0, "failure": None}

    def worker():
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        while True:
            with lock:
                i = state["next"]
                if i >= len(bodies) or state["failure"]:
                    break
                state["next"] = i + 1
            try:
                conn.request("POST", url.path, body=bodies[i], headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                ok = resp.status in (201, 204)
            except (OSError, http.client.HTTPException) as e:
                ok, data, resp = False, str(e).encode(), None
                conn.close()
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
            with lock:
                if ok:
                    state["created"] += 1
                elif not state["failure"]:
                    status = resp.status if resp else "no answer"
                    state["failure"] = f"POST #{i}: {status} {data[:300]!r}"
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(a.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    if state["failure"]:
        print(f"seed_http: {state['failure']}", file=sys.stderr)
        return 1
    print(f"{state['created']} {elapsed:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
