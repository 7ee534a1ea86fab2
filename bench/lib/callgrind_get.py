#!/usr/bin/env python3
"""Instructions per `GET` (or `PATCH`) of `/beta/security/userSecurityProfiles/{id}`, by callgrind.

  callgrind_get.py [--method patch] [--bench-document] BINARY LABEL [extra `serve` flags, e.g. --log-level warn]

Starts BINARY under `valgrind --tool=callgrind` on a fresh data directory (local auth, no rate
limit), creates one profile and reads it N times over one keep-alive connection (or, with
`--method patch`, PATCHes its displayName and riskScore N times, alternating between two bodies of
one length so that every PATCH is a real change, without If-Match, answered 200 with the entity),
then stops the server with SIGINT. The profile is a small one (an id, a userPrincipalName and a
tag), or with `--bench-document` one like bench/run.sh's (about 1 KB, with accounts and
vendorInformation). It does so for N=500 and N=2500 and prints (total@2500 - total@500) / 2000:
startup, shutdown and the first requests cancel out. The callgrind files are left in
bench/results/callgrind/ (LABEL-N.cg) for `callgrind_annotate`. Counts, unlike wall-clock
figures, do not depend on how busy the machine is. Under valgrind SHA-256 runs in software
(about 23k instructions per request that the real CPU's SHA extensions do not spend).
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from gen_profiles import lines as bench_profiles

TENANT = "11111111-2222-3333-4444-555555555555"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "results", "callgrind")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(port, proc):
    for _ in range(6000):
        if proc.poll() is not None:
            sys.exit("the server exited")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit("the server did not come up")


# Two bodies of one length: each PATCH changes both members, and every request costs the same.
PATCHES = [json.dumps({"displayName": f"Alex {c}", "riskScore": f"{r}"}) for c, r in (("A", 40), ("B", 60))]


def profile(bench_document):
    """The profile the requests name, as a POST body; its id is "alex"."""
    if not bench_document:
        return {"id": "alex", "userPrincipalName": "alex@contoso.com", "tags": ["HVA"]}
    doc = json.loads(next(bench_profiles(1, TENANT)))
    doc["id"] = "alex"
    return doc


def instructions(binary, label, extra, n, method, bench_document):
    data = tempfile.mkdtemp(prefix="callgrind-")
    port = free_port()
    out = os.path.join(OUT, f"{label}-{n}.cg")
    with open(os.path.join(OUT, f"{label}-{n}.log"), "wb") as log:
        proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary, "serve",
             "--listen", f"127.0.0.1:{port}", "--data-dir", data, "--rate-limit", "0", *extra],
            stdout=log, stderr=log)
        try:
            wait_up(port, proc)
            token = subprocess.check_output([binary, "token", "--data-dir", data, "--tenant", TENANT,
                                             "--scopes", "SecurityEvents.ReadWrite.All"]).decode().strip()
            auth = {"Authorization": "Bearer " + token}
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            body = json.dumps(profile(bench_document))
            c.request("POST", "/beta/security/userSecurityProfiles", body=body,
                      headers={**auth, "Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            assert r.status == 201, r.status
            for i in range(n):
                if method == "patch":
                    c.request("PATCH", "/beta/security/userSecurityProfiles/alex", body=PATCHES[i % 2],
                              headers={**auth, "Content-Type": "application/json"})
                else:
                    c.request("GET", "/beta/security/userSecurityProfiles/alex", headers=auth)
                r = c.getresponse()
                r.read()
                assert r.status == 200, r.status
            c.close()
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=300)
            subprocess.run(["rm", "-rf", data], check=False)
    with open(out) as f:
        return next(int(line.split()[1]) for line in f if line.startswith(("summary:", "totals:")))


def main():
    args = sys.argv[1:]
    method = "get"
    if args[:1] == ["--method"]:
        method, args = args[1].lower(), args[2:]
    bench_document = args[:1] == ["--bench-document"]
    if bench_document:
        args = args[1:]
    if len(args) < 2 or method not in ("get", "patch"):
        sys.exit(__doc__)
    binary, label, extra = args[0], args[1], args[2:]
    os.makedirs(OUT, exist_ok=True)
    few, many = (instructions(binary, label, extra, n, method, bench_document) for n in (500, 2500))
    print(f"{label}: {(many - few) / 2000:.0f} instructions/{method.upper()} (500: {few}, 2500: {many})")


if __name__ == "__main__":
    main()
