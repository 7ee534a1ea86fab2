#!/usr/bin/env python3
"""Runs a command, sends its output to a file, prints "<wall seconds> <peak RSS kB> <exit code>".

  timed.py --out FILE [--timeout S] -- CMD ARGS...

On timeout the command is killed (it is this script's own child) and the exit code printed is 124.
"""
import argparse
import resource
import subprocess
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--timeout", type=float, default=None)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    with open(a.out, "wb") as out:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        try:
            code = proc.wait(timeout=a.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = 124
        elapsed = time.monotonic() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"{elapsed:.3f} {peak_kb} {code}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
