"""Fixtures: a fresh graphsec server per test session (TLS, local token auth), a fresh tenant per
test (so tests never see each other's data), and Graph beta SDK clients bound to a per-test event
loop."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from harness import (
    READ_WRITE,
    GraphsecServer,
    graphsec_binary,
    sdk_client,
    sdk_client_with_token,
)


@pytest.fixture(scope="session")
def graphsec_bin():
    return graphsec_binary()


@pytest.fixture(scope="session")
def server(graphsec_bin, tmp_path_factory):
    srv = GraphsecServer(graphsec_bin, tmp_path_factory.mktemp("graphsec")).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def tenant() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


@pytest.fixture
def arun(loop):
    """Runs an SDK coroutine to completion on the test's event loop."""
    return loop.run_until_complete


@pytest.fixture
def make_sdk(loop):
    """Factory for SDK clients (server, token or kiota auth provider) -> SdkClient; all are closed
    after the test."""
    made = []

    def make(srv: GraphsecServer, token: str = "", auth_provider=None):
        sdk = sdk_client(srv, auth_provider) if auth_provider else sdk_client_with_token(srv, token)
        made.append(sdk)
        return sdk

    yield make
    for sdk in made:
        loop.run_until_complete(sdk.http.aclose())


@pytest.fixture
def sdk(server, tenant, make_sdk):
    """A Graph beta SDK client for a fresh tenant with SecurityEvents.ReadWrite.All."""
    return make_sdk(server, server.token(tenant, READ_WRITE))


def pytest_runtest_makereport(item, call):
    """On failure, attach the tail of each server log the test used."""
    if call.when != "call" or call.excinfo is None:
        return
    for name in ("server", "throttled_server"):
        srv = item.funcargs.get(name) if hasattr(item, "funcargs") else None
        if isinstance(srv, GraphsecServer):
            item.add_report_section("call", f"{name} log", srv.log_tail())
