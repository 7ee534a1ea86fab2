"""The README's Python snippet (example.py), run as written in a process of its own with only the
environment a user sets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_example_runs_against_graphsec(server, tenant):
    env = {
        **os.environ,
        "GRAPHSEC_URL": server.origin,
        "GRAPHSEC_CA": str(server.cert),
        "GRAPHSEC_TOKEN": server.token(tenant),
    }
    example = Path(__file__).with_name("example.py")
    done = subprocess.run([sys.executable, str(example)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"alex": "Alex Wilber"}
