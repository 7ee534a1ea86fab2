"""Throttling: a server limited to 1 request/s (burst 1) answers 429 + Retry-After: 1; the SDK's
RetryHandler (default middleware) waits that long, retries with Retry-Attempt, and succeeds."""

from __future__ import annotations

import uuid

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options import RetryHandlerOption
from msgraph_beta.generated.models.o_data_errors.o_data_error import ODataError
from msgraph_beta.generated.models.user_security_profile import UserSecurityProfile

from harness import READ_WRITE, GraphsecServer


@pytest.fixture(scope="module")
def throttled_server(graphsec_bin, tmp_path_factory):
    srv = GraphsecServer(graphsec_bin, tmp_path_factory.mktemp("graphsec-throttled"),
                         ("--rate-limit", "1", "--rate-limit-burst", "1")).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def throttled(throttled_server, server, tenant, make_sdk, arun):
    # Warm the SDK up first (its first calls import hundreds of generated modules, which can take
    # longer than the 1 s bucket refill) on the unthrottled server, so that the two requests of
    # each test below really go out back to back.
    warm = make_sdk(server, server.token(str(uuid.uuid4()), READ_WRITE))
    arun(warm.profiles.post(UserSecurityProfile(id="warm")))
    arun(warm.profiles.get())
    arun(warm.profiles.count.get())
    return make_sdk(throttled_server, throttled_server.token(tenant, READ_WRITE))


def assert_retried_after_429(attempts):
    """attempts: the wire exchanges of one SDK call, in order."""
    statuses = [a.status for a in attempts]
    assert statuses[0] == 429 and statuses[-1] in (200, 201), statuses
    assert all(s == 429 for s in statuses[:-1]) and len(attempts) <= 4, statuses
    for number, (throttled, retry) in enumerate(zip(attempts, attempts[1:]), start=1):
        retry_after = throttled.response_headers["retry-after"]
        assert retry_after.isdigit() and int(retry_after) >= 1
        assert throttled.json()["error"]["code"] == "TooManyRequests"
        waited = retry.sent_at - throttled.answered_at
        assert waited >= int(retry_after) * 0.95, f"retried after {waited:.3f}s, Retry-After: {retry_after}"
        assert retry.request_headers.get("retry-attempt") == str(number)
    assert "retry-attempt" not in attempts[0].request_headers


def test_retry_after_429_then_success(throttled, arun):
    wire = throttled.wire.exchanges
    assert arun(throttled.profiles.count.get()) == 0  # takes the only token
    first = len(wire)
    page = arun(throttled.profiles.get())              # 429, wait Retry-After, retry
    assert page.value == []
    assert_retried_after_429(wire[first:])


def test_retry_after_429_on_create_creates_once(throttled, arun):
    wire = throttled.wire.exchanges
    arun(throttled.profiles.count.get())
    first = len(wire)
    created = arun(throttled.profiles.post(UserSecurityProfile(id="once", display_name="retried")))
    assert created.id == "once"
    attempts = wire[first:]
    assert_retried_after_429(attempts)
    assert all(a.request_body == attempts[0].request_body for a in attempts)  # body replayed
    assert arun(throttled.profiles.count.get()) == 1


def test_429_without_retry_is_odata_error(throttled, arun):
    arun(throttled.profiles.count.get())
    no_retry = RequestConfiguration(options=[RetryHandlerOption(max_retries=0, should_retry=False)])
    with pytest.raises(ODataError) as err:
        arun(throttled.profiles.get(no_retry))
    assert err.value.response_status_code == 429
    assert err.value.error.code == "TooManyRequests"
    assert err.value.response_headers["retry-after"] == "1"
    assert len([e for e in throttled.wire.exchanges if e.status == 429]) == 1
