"""Testing your code against graphsec: one in-memory server for the test session, emptied before
each test, and its request journal to assert on. Only the standard library and pytest."""

import json
import os
import subprocess
import urllib.request

import pytest


class Graphsec:
    def __init__(self, url, token):
        self.url = url  # http://127.0.0.1:PORT/beta: give it to the code under test
        self.token = token  # for --default-tenant, and for /_graphsec/
        self.origin = url.removesuffix("/beta")

    def call(self, method, path, body=None):
        request = urllib.request.Request(
            self.origin + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as response:
            text = response.read()
        return json.loads(text) if text else None

    def journal(self):
        return self.call("GET", "/_graphsec/requests")["value"]


@pytest.fixture(scope="session")
def graphsec_server():
    args = ["serve", "--in-memory", "--listen", "127.0.0.1:0", "--log-level", "warn"]
    server = subprocess.Popen([os.environ.get("GRAPHSEC_BIN", "graphsec"), *args], stdout=subprocess.PIPE, text=True)
    ready = json.loads(server.stdout.readline())  # printed once the server is ready
    yield Graphsec(ready["url"], ready["token"])
    server.terminate()
    server.wait()


@pytest.fixture
def graphsec(graphsec_server):
    graphsec_server.call("POST", "/_graphsec/reset")  # profiles, audit trail and journal
    return graphsec_server


def test_a_profile_is_created_with_one_post(graphsec):
    # Your code under test would make this call, given graphsec.url and graphsec.token.
    graphsec.call("POST", "/beta/security/userSecurityProfiles", {"id": "alex", "displayName": "Alex"})

    [request] = graphsec.journal()
    assert (request["method"], request["path"], request["status"]) == (
        "POST",
        "/beta/security/userSecurityProfiles",
        201,
    )
    assert json.loads(request["body"]) == {"id": "alex", "displayName": "Alex"}


def test_every_test_starts_empty(graphsec):
    graphsec.call("POST", "/_graphsec/seed?generate=3")
    profiles = graphsec.call("GET", "/beta/security/userSecurityProfiles")["value"]
    assert len(profiles) == 3
    assert [r["path"] for r in graphsec.journal()] == ["/beta/security/userSecurityProfiles"]
