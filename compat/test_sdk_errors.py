"""Errors surface as the SDK's ODataError with Graph's error.code, status and innerError."""

from __future__ import annotations

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph_beta.generated.models.o_data_errors.o_data_error import ODataError
from msgraph_beta.generated.models.user_security_profile import UserSecurityProfile
from msgraph_beta.generated.security.user_security_profiles.user_security_profiles_request_builder import (
    UserSecurityProfilesRequestBuilder as ListBuilder,
)

from harness import READ_ONLY

Query = ListBuilder.UserSecurityProfilesRequestBuilderGetQueryParameters


def odata_error(arun, awaitable) -> ODataError:
    with pytest.raises(ODataError) as caught:
        arun(awaitable)
    return caught.value


def assert_graph_error(err: ODataError, sdk, status: int, code: str):
    assert err.response_status_code == status
    assert err.error is not None, "the body did not deserialize as a Graph error"
    assert err.error.code == code
    assert err.error.message
    inner = err.error.inner_error
    request_id = sdk.wire.exchanges[-1].response_headers["request-id"]
    assert inner is not None and inner.request_id == request_id
    assert inner.client_request_id and inner.date is not None
    assert err.response_headers["content-type"].startswith("application/json")
    return inner


def test_404_item_not_found(sdk, arun):
    err = odata_error(arun, sdk.profiles.by_user_security_profile_id("missing").get())
    assert_graph_error(err, sdk, 404, "itemNotFound")
    for call in (sdk.profiles.by_user_security_profile_id("missing").patch(UserSecurityProfile(display_name="x")),
                 sdk.profiles.by_user_security_profile_id("missing").delete()):
        assert_graph_error(odata_error(arun, call), sdk, 404, "itemNotFound")


@pytest.mark.parametrize("query", [
    dict(filter="displayName eq"),
    dict(filter="startswith(displayName)"),
    dict(orderby=["displayName sideways"]),
    dict(select=["accounts/status"]),
    dict(top=1001),
    dict(skip=-1),
])
def test_400_bad_query_option(sdk, arun, query):
    err = odata_error(arun, sdk.profiles.get(RequestConfiguration(query_parameters=Query(**query))))
    inner = assert_graph_error(err, sdk, 400, "BadRequest")
    assert inner.additional_data.get("code") == "invalidQueryOption"


@pytest.mark.parametrize("query", [dict(expand=["accounts"]), dict(search="alex")])
def test_400_unsupported_query_option(sdk, arun, query):
    err = odata_error(arun, sdk.profiles.get(RequestConfiguration(query_parameters=Query(**query))))
    assert_graph_error(err, sdk, 400, "BadRequest")


def test_400_bad_body(sdk, arun):
    err = odata_error(arun, sdk.profiles.post(UserSecurityProfile(additional_data={"accounts": [{"status": "sleepy"}]})))
    assert_graph_error(err, sdk, 400, "BadRequest")
    err = odata_error(arun, sdk.profiles.post(UserSecurityProfile(additional_data={"createdDateTime": "yesterday"})))
    assert_graph_error(err, sdk, 400, "BadRequest")


def test_403_read_only_token_cannot_write(server, tenant, sdk, make_sdk, arun):
    arun(sdk.profiles.post(UserSecurityProfile(id="exists")))
    for app in (False, True):
        reader = make_sdk(server, server.token(tenant, READ_ONLY, app=app))
        # reads work ...
        assert arun(reader.profiles.by_user_security_profile_id("exists").get()).id == "exists"
        assert arun(reader.profiles.count.get()) == 1
        # ... writes are Forbidden
        for call in (reader.profiles.post(UserSecurityProfile(id="new")),
                     reader.profiles.by_user_security_profile_id("exists").patch(UserSecurityProfile(display_name="x")),
                     reader.profiles.by_user_security_profile_id("exists").delete()):
            assert_graph_error(odata_error(arun, call), reader, 403, "Forbidden")
    assert arun(sdk.profiles.count.get()) == 1


def test_401_invalid_token(server, make_sdk, arun):
    stranger = make_sdk(server, "not-a-jwt")
    err = odata_error(arun, stranger.profiles.get())
    assert_graph_error(err, stranger, 401, "InvalidAuthenticationToken")
    assert err.response_headers["www-authenticate"].lower().startswith("bearer")


def test_409_id_already_exists(sdk, arun):
    arun(sdk.profiles.post(UserSecurityProfile(id="dup")))
    err = odata_error(arun, sdk.profiles.post(UserSecurityProfile(id="dup")))
    assert_graph_error(err, sdk, 409, "nameAlreadyExists")


def test_client_request_id_is_echoed(sdk, arun):
    err = odata_error(arun, sdk.profiles.by_user_security_profile_id("missing").get(
        RequestConfiguration(headers={"client-request-id": "compat-1234"})))
    assert err.error.inner_error.client_request_id == "compat-1234"
    assert err.response_headers["client-request-id"] == "compat-1234"
