"""Create, get, update and delete through the official Graph beta SDK's generated request builders."""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid

import pytest
from azure.core.credentials import AccessToken
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options import HeadersInspectionHandlerOption
from msgraph_core import AzureIdentityAuthenticationProvider
from msgraph_beta.generated.models.account_status import AccountStatus
from msgraph_beta.generated.models.o_data_errors.o_data_error import ODataError
from msgraph_beta.generated.models.security_vendor_information import SecurityVendorInformation
from msgraph_beta.generated.models.user_account import UserAccount
from msgraph_beta.generated.models.user_security_profile import UserSecurityProfile
from msgraph_beta.generated.security.user_security_profiles.item.user_security_profile_item_request_builder import (
    UserSecurityProfileItemRequestBuilder as ItemBuilder,
)

from harness import READ_WRITE

UTC = dt.timezone.utc
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def full_profile(pid: str) -> UserSecurityProfile:
    return UserSecurityProfile(
        id=pid,
        odata_type="#microsoft.graph.userSecurityProfile",
        display_name="Alex Wilber",
        user_principal_name="alex@contoso.com",
        azure_subscription_id="sub-1",
        risk_score="42",
        tags=["HVA", "VIP"],
        created_date_time=dt.datetime(2016, 12, 31, 22, 58, 5, 593180,
                                      tzinfo=dt.timezone(dt.timedelta(hours=2))),
        accounts=[
            UserAccount(display_name="Alex", signin_name="alex", service="AAD", risk_score="7",
                        status=AccountStatus.Active,
                        last_seen_date_time=dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
            UserAccount(display_name="Alex (old)", status=AccountStatus.Suspended),
        ],
        vendor_information=SecurityVendorInformation(provider="graphsec", provider_version="1",
                                                     sub_provider="compat", vendor="Contoso"),
    )


def test_create_returns_the_entity_with_location_and_etag(sdk, tenant, arun):
    inspect = HeadersInspectionHandlerOption(inspect_response_headers=True)
    created = arun(sdk.profiles.post(full_profile("alex"), RequestConfiguration(options=[inspect])))

    assert isinstance(created, UserSecurityProfile)
    assert created.id == "alex"
    assert created.odata_type == "#microsoft.graph.userSecurityProfile"
    assert created.azure_tenant_id == tenant  # defaults to the token's tid
    assert created.display_name == "Alex Wilber"
    assert created.risk_score == "42"
    assert created.tags == ["HVA", "VIP"]
    # the +02:00 input is normalised to UTC, the instant is kept
    assert created.created_date_time == dt.datetime(2016, 12, 31, 20, 58, 5, 593180, tzinfo=UTC)
    assert created.last_modified_date_time is not None
    assert [a.status for a in created.accounts] == [AccountStatus.Active, AccountStatus.Suspended]
    assert created.accounts[0].last_seen_date_time == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert created.accounts[0].signin_name == "alex"
    assert created.vendor_information.vendor == "Contoso"
    assert created.vendor_information.sub_provider == "compat"
    assert created.additional_data["@odata.etag"] == 'W/"1"'

    headers = inspect.response_headers
    assert headers.get("location") == {f"{sdk.adapter.base_url}/security/userSecurityProfiles/alex"}
    assert headers.get("etag") == {'W/"1"'}
    assert sdk.wire.exchanges[-1].status == 201


def test_create_without_id_gets_a_server_generated_guid(sdk, arun):
    created = arun(sdk.profiles.post(UserSecurityProfile(user_principal_name="n@contoso.com")))
    assert GUID.match(created.id), created.id
    again = arun(sdk.profiles.by_user_security_profile_id(created.id).get())
    assert again.user_principal_name == "n@contoso.com"


def test_get_returns_the_entity(sdk, tenant, arun):
    arun(sdk.profiles.post(full_profile("alex")))
    got = arun(sdk.profiles.by_user_security_profile_id("alex").get())
    assert isinstance(got, UserSecurityProfile)
    assert (got.id, got.azure_tenant_id, got.display_name) == ("alex", tenant, "Alex Wilber")
    assert got.additional_data["@odata.context"].endswith("$metadata#security/userSecurityProfiles/$entity")
    assert got.vendor_information.provider == "graphsec"
    assert got.accounts[1].display_name == "Alex (old)"


def test_get_with_select(sdk, arun):
    arun(sdk.profiles.post(full_profile("alex")))
    config = RequestConfiguration(query_parameters=ItemBuilder.UserSecurityProfileItemRequestBuilderGetQueryParameters(
        select=["id", "displayName", "tags"]))
    got = arun(sdk.profiles.by_user_security_profile_id("alex").get(config))
    assert (got.id, got.display_name, got.tags) == ("alex", "Alex Wilber", ["HVA", "VIP"])
    assert got.user_principal_name is None and got.accounts is None
    assert "$select=id,displayName,tags" in sdk.wire.exchanges[-1].url


@pytest.mark.parametrize("pid", ["alex@contoso.com", "with space", "o'brien", "a/b", "x%y", "ünïcode"])
def test_ids_needing_escaping_round_trip(sdk, arun, pid):
    """The SDK's URI template percent-encodes the key segment; the server must decode it."""
    created = arun(sdk.profiles.post(UserSecurityProfile(id=pid)))
    assert created.id == pid
    assert arun(sdk.profiles.by_user_security_profile_id(pid).get()).id == pid
    assert arun(sdk.profiles.by_user_security_profile_id(pid).patch(
        UserSecurityProfile(display_name="x"))).display_name == "x"
    assert arun(sdk.profiles.by_user_security_profile_id(pid).delete()) is None


def test_update_returns_the_updated_entity(sdk, arun):
    created = arun(sdk.profiles.post(full_profile("alex")))
    patch = UserSecurityProfile(
        display_name="Alex W.",
        tags=["Contractor"],                                           # replaced whole
        vendor_information=SecurityVendorInformation(provider_version="2"),  # merged member by member
        accounts=[UserAccount(display_name="new", status=AccountStatus.Deleted)],
        additional_data={"riskScore": None},                           # explicit null clears
    )
    updated = arun(sdk.profiles.by_user_security_profile_id("alex").patch(patch))

    assert sdk.wire.exchanges[-1].status == 200
    assert isinstance(updated, UserSecurityProfile)
    assert updated.id == "alex"
    assert updated.display_name == "Alex W."
    assert updated.tags == ["Contractor"]
    assert updated.risk_score is None
    assert [(a.display_name, a.status) for a in updated.accounts] == [("new", AccountStatus.Deleted)]
    vi = updated.vendor_information
    assert (vi.provider, vi.provider_version, vi.sub_provider, vi.vendor) == ("graphsec", "2", "compat", "Contoso")
    # untouched members stay, server-managed ones move
    assert updated.user_principal_name == "alex@contoso.com"
    assert updated.created_date_time == created.created_date_time
    assert updated.last_modified_date_time > created.last_modified_date_time
    assert updated.additional_data["@odata.etag"] == 'W/"2"'

    got = arun(sdk.profiles.by_user_security_profile_id("alex").get())
    assert (got.display_name, got.tags, got.risk_score) == ("Alex W.", ["Contractor"], None)


def test_update_with_prefer_return_minimal_gives_none(sdk, arun):
    arun(sdk.profiles.post(full_profile("alex")))
    inspect = HeadersInspectionHandlerOption(inspect_response_headers=True)
    result = arun(sdk.profiles.by_user_security_profile_id("alex").patch(
        UserSecurityProfile(display_name="quiet"),
        RequestConfiguration(headers={"Prefer": "return=minimal"}, options=[inspect])))
    assert result is None
    assert sdk.wire.exchanges[-1].status == 204
    assert inspect.response_headers.get("preference-applied") == {"return=minimal"}
    assert arun(sdk.profiles.by_user_security_profile_id("alex").get()).display_name == "quiet"


def test_update_with_if_match(sdk, arun):
    arun(sdk.profiles.post(full_profile("alex")))
    ok = arun(sdk.profiles.by_user_security_profile_id("alex").patch(
        UserSecurityProfile(display_name="v2"), RequestConfiguration(headers={"If-Match": 'W/"1"'})))
    assert ok.additional_data["@odata.etag"] == 'W/"2"'
    with pytest.raises(ODataError) as err:
        arun(sdk.profiles.by_user_security_profile_id("alex").patch(
            UserSecurityProfile(display_name="v3"), RequestConfiguration(headers={"If-Match": 'W/"1"'})))
    assert err.value.response_status_code == 412
    assert err.value.error.code == "resourceModified"


def test_dynamic_properties_round_trip_through_additional_data(sdk, arun):
    """userSecurityProfile is an open type: undeclared members come back in additional_data."""
    created = arun(sdk.profiles.post(UserSecurityProfile(
        id="open", additional_data={"customerRef": "C-17", "score2": 3})))
    assert created.additional_data["customerRef"] == "C-17"
    assert created.additional_data["score2"] == 3
    updated = arun(sdk.profiles.by_user_security_profile_id("open").patch(
        UserSecurityProfile(additional_data={"customerRef": None})))
    assert "customerRef" not in updated.additional_data
    assert updated.additional_data["score2"] == 3


def test_delete_then_get_is_item_not_found(sdk, arun):
    arun(sdk.profiles.post(full_profile("alex")))
    assert arun(sdk.profiles.by_user_security_profile_id("alex").delete()) is None
    assert sdk.wire.exchanges[-1].status == 204
    with pytest.raises(ODataError) as err:
        arun(sdk.profiles.by_user_security_profile_id("alex").get())
    assert (err.value.response_status_code, err.value.error.code) == (404, "itemNotFound")


def test_application_token_with_roles(server, tenant, make_sdk, arun):
    app = make_sdk(server, server.token(tenant, READ_WRITE, app=True))
    created = arun(app.profiles.post(UserSecurityProfile(id="by-app")))
    assert created.azure_tenant_id == tenant
    assert arun(app.profiles.count.get()) == 1


def test_another_tenants_profile_is_not_found(server, sdk, make_sdk, arun):
    arun(sdk.profiles.post(UserSecurityProfile(id="mine")))
    other = make_sdk(server, server.token(str(uuid.uuid4())))
    with pytest.raises(ODataError) as err:
        arun(other.profiles.by_user_security_profile_id("mine").get())
    assert (err.value.response_status_code, err.value.error.code) == (404, "itemNotFound")
    assert arun(other.profiles.count.get()) == 0


class GraphsecCredential:
    """An azure-core AsyncTokenCredential handing out a `graphsec token`, as an app would wrap its
    own token source."""

    def __init__(self, token: str):
        self.token = token
        self.requested_scopes = []

    async def get_token(self, *scopes, claims=None, tenant_id=None, enable_cae=False, **kwargs):
        self.requested_scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)

    async def close(self):
        pass


def test_azure_identity_credential_path(server, tenant, make_sdk, arun):
    """The SDK's usual auth path: a TokenCredential behind AzureIdentityAuthenticationProvider,
    with localhost allowed (the default list holds only the national clouds)."""
    credential = GraphsecCredential(server.token(tenant, READ_WRITE))
    provider = AzureIdentityAuthenticationProvider(
        credential, scopes=["https://graph.microsoft.com/.default"], allowed_hosts=["localhost"])
    client = make_sdk(server, auth_provider=provider)
    assert arun(client.profiles.post(UserSecurityProfile(id="cred"))).azure_tenant_id == tenant
    assert arun(client.profiles.count.get()) == 1
    assert credential.requested_scopes[0] == ("https://graph.microsoft.com/.default",)
    assert client.wire.exchanges[-1].request_headers["authorization"] == f"Bearer {credential.token}"
