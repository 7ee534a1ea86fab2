#!/usr/bin/env python3
"""Starts a server in the background and measures its startup time.

  launch.py --url http://127.0.0.1:PORT/healthz --pid-file F --log F [--timeout S] -- CMD ARGS...

Spawns CMD (stdout/stderr to the log), polls URL every millisecond with a raw HTTP/1.1 request
(no client library, no process spawn per poll) and prints the milliseconds from spawn to the first
200. The server keeps running after this script exits; its PID is in --pid-file so the caller can
stop it. On timeout, or if the server exits, the server is killed and the exit code is 1.
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit


def ready(host, port, path):
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
            head = s.recv(64)
            return head.startswith(b"HTTP/1.1 200") or head.startswith(b"HTTP/1.0 200")
    except OSError:
        return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--pid-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    url = urlsplit(a.url)
    path = url.path + (("?" + url.query) if url.query else "")
    log = open(a.log, "ab")
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    with open(a.pid_file, "w") as f:
        f.write(f"{proc.pid}\n")
    while True:
        if ready(url.hostname, url.port, path):
            print(f"{(time.monotonic() - started) * 1000:.1f}")
            return 0
        if proc.poll() is not None:
            print(f"launch: {cmd[0]} exited with {proc.returncode}; see {a.log}", file=sys.stderr)
            return 1
        if time.monotonic() - started > a.timeout:
            print(f"launch: {cmd[0]} not ready after {a.timeout}s; see {a.log}", file=sys.stderr)
            os.kill(proc.pid, signal.SIGKILL)
            return 1
        time.sleep(0.001)


if __name__ == "__main__":
    sys.exit(main())
