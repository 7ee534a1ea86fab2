"""List with every OData query option through the SDK's request configuration, $count, and paging
through @odata.nextLink with the SDK's PageIterator."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph_beta.generated.models.account_status import AccountStatus
from msgraph_beta.generated.models.security_vendor_information import SecurityVendorInformation
from msgraph_beta.generated.models.user_account import UserAccount
from msgraph_beta.generated.models.user_security_profile import UserSecurityProfile
from msgraph_beta.generated.models.user_security_profile_collection_response import (
    UserSecurityProfileCollectionResponse,
)
from msgraph_beta.generated.security.user_security_profiles.count.count_request_builder import (
    CountRequestBuilder,
)
from msgraph_beta.generated.security.user_security_profiles.user_security_profiles_request_builder import (
    UserSecurityProfilesRequestBuilder as ListBuilder,
)
from msgraph_core import PageIterator

Query = ListBuilder.UserSecurityProfilesRequestBuilderGetQueryParameters

# id, displayName, riskScore, tags, vendor provider, account statuses
SEED = [
    ("p1", "Alpha", "10", ["HVA"], "graphsec", [AccountStatus.Active]),
    ("p2", "Bravo", "20", [], "other", [AccountStatus.Suspended]),
    ("p3", "Charlie", "30", ["HVA", "VIP"], "graphsec", [AccountStatus.Active, AccountStatus.Deleted]),
    ("p4", "Delta", None, None, None, []),
    ("p5", "Echo", "50", ["VIP"], "graphsec", [AccountStatus.Staged]),
    ("p6", "alpha lower", "60", ["HVA"], "other", [AccountStatus.Active]),
]


@pytest.fixture
def seeded(sdk, arun):
    for pid, name, risk, tags, provider, statuses in SEED:
        arun(sdk.profiles.post(UserSecurityProfile(
            id=pid, display_name=name, risk_score=risk, tags=tags,
            user_principal_name=f"{pid}@contoso.com",
            vendor_information=SecurityVendorInformation(provider=provider) if provider else None,
            accounts=[UserAccount(display_name=f"{pid}-{i}", status=s) for i, s in enumerate(statuses)],
        )))
    return sdk


def list_ids(sdk, arun, **query):
    page = arun(sdk.profiles.get(RequestConfiguration(query_parameters=Query(**query))))
    assert isinstance(page, UserSecurityProfileCollectionResponse)
    return [p.id for p in page.value], page


@pytest.mark.parametrize("expr, expected", [
    ("displayName eq 'Bravo'", ["p2"]),
    ("startswith(displayName, 'Al')", ["p1"]),  # case-sensitive, as in OData
    ("startswith(tolower(displayName), 'al')", ["p1", "p6"]),
    ("tags/any(t: t eq 'HVA')", ["p1", "p3", "p6"]),
    ("tags/any(t: t eq 'HVA') and tags/any(t: t eq 'VIP')", ["p3"]),
    ("vendorInformation/provider eq 'graphsec'", ["p1", "p3", "p5"]),
    ("accounts/any(a: a/status eq 'active')", ["p1", "p3", "p6"]),
    ("riskScore eq null", ["p4"]),
    ("riskScore gt '20' and not (displayName eq 'Echo')", ["p3", "p6"]),
    ("id in ('p2', 'p4', 'nope')", ["p2", "p4"]),
])
def test_filter(seeded, arun, expr, expected):
    ids, _ = list_ids(seeded, arun, filter=expr, orderby=["id"])
    assert ids == expected


def test_orderby_several_keys(seeded, arun):
    ids, _ = list_ids(seeded, arun, orderby=["vendorInformation/provider desc", "displayName"])
    assert ids == ["p2", "p6", "p1", "p3", "p5", "p4"]  # nulls sort first ascending, so last descending


def test_select_returns_only_selected_members(seeded, arun):
    _, page = list_ids(seeded, arun, select=["id", "riskScore"], orderby=["id"], filter="id eq 'p3'")
    (only,) = page.value
    assert (only.id, only.risk_score) == ("p3", "30")
    assert only.display_name is None and only.tags is None and only.vendor_information is None
    assert page.additional_data["@odata.context"].endswith("$metadata#security/userSecurityProfiles(id,riskScore)")


def test_top_skip_and_count(seeded, arun):
    ids, page = list_ids(seeded, arun, orderby=["id"], top=2, skip=1, count=True)
    assert ids == ["p2", "p3"]
    assert page.odata_count == 6  # $count ignores $top/$skip


def test_every_query_option_in_one_request(seeded, sdk, arun):
    ids, page = list_ids(seeded, arun, filter="tags/any(t: t eq 'HVA' or t eq 'VIP')",
                         orderby=["riskScore desc"], select=["id", "displayName", "riskScore"],
                         top=2, skip=1, count=True)
    assert ids == ["p5", "p3"]  # HVA/VIP by riskScore desc: p6 60, p5 50, p3 30, p1 10
    assert page.odata_count == 4
    assert [p.risk_score for p in page.value] == ["50", "30"]
    assert page.value[0].display_name == "Echo" and page.value[0].tags is None
    # the top=2 page is followed by a nextLink to the next 2 (Graph semantics of $top)
    assert page.odata_next_link
    url = sdk.wire.exchanges[-1].url
    for option in ("$filter=", "$orderby=", "$select=", "$top=2", "$skip=1", "$count=true"):
        assert option in url


def test_count_endpoint(seeded, arun):
    assert arun(seeded.profiles.count.get()) == 6
    config = RequestConfiguration(query_parameters=CountRequestBuilder.CountRequestBuilderGetQueryParameters(
        filter="vendorInformation/provider eq 'graphsec'"))
    assert arun(seeded.profiles.count.get(config)) == 3
    assert seeded.wire.exchanges[-1].response_headers["content-type"].startswith("text/plain")


def test_empty_collection(sdk, arun):
    ids, page = list_ids(sdk, arun, count=True)
    assert ids == [] and page.odata_count == 0 and page.odata_next_link is None
    assert arun(sdk.profiles.count.get()) == 0


def _iterate_all(sdk, arun, first_page, headers=None):
    iterator = PageIterator(first_page, sdk.adapter)
    for name, value in (headers or {}).items():
        # PageIterator.set_headers(dict) is broken in msgraph-core 1.5.2 (it calls
        # HeadersCollection.add_all(**headers)); its headers collection works.
        iterator.headers.add(name, value)
    seen = []
    arun(iterator.iterate(lambda p: seen.append(p) or True))
    return seen


def test_page_iterator_follows_next_links_with_top(sdk, arun):
    ids = sorted(f"page-{i:02d}" for i in range(23))
    for pid in ids:
        arun(sdk.profiles.post(UserSecurityProfile(id=pid)))
    before = len(sdk.wire.exchanges)
    first = arun(sdk.profiles.get(RequestConfiguration(query_parameters=Query(
        top=5, orderby=["id"], select=["id", "displayName"], count=True))))
    assert len(first.value) == 5 and first.odata_count == 23
    assert first.odata_next_link.startswith(f"{sdk.adapter.base_url}/security/userSecurityProfiles?")

    seen = _iterate_all(sdk, arun, first)

    assert [p.id for p in seen] == ids
    assert all(isinstance(p, UserSecurityProfile) for p in seen)
    assert all(p.user_principal_name is None for p in seen)  # $select carried to every page
    pages = sdk.wire.exchanges[before:]
    assert [e.status for e in pages] == [200] * 5
    for e in pages[1:]:
        query = parse_qs(urlsplit(e.url).query)
        assert "$skiptoken" in query and query["$orderby"] == ["id"]
    assert "@odata.nextLink" not in pages[-1].json()


def test_page_iterator_with_maxpagesize_preference(sdk, arun):
    ids = sorted(f"m-{i:02d}" for i in range(10))
    for pid in ids:
        arun(sdk.profiles.post(UserSecurityProfile(id=pid)))
    before = len(sdk.wire.exchanges)
    prefer = {"Prefer": "odata.maxpagesize=4"}
    first = arun(sdk.profiles.get(RequestConfiguration(headers=prefer, query_parameters=Query(orderby=["id"]))))
    assert [p.id for p in first.value] == ids[:4]

    seen = _iterate_all(sdk, arun, first, headers=prefer)

    assert [p.id for p in seen] == ids
    assert [len(e.json()["value"]) for e in sdk.wire.exchanges[before:]] == [4, 4, 2]


def test_page_iterator_can_pause_and_resume(sdk, arun):
    ids = sorted(f"r-{i}" for i in range(6))
    for pid in ids:
        arun(sdk.profiles.post(UserSecurityProfile(id=pid)))
    first = arun(sdk.profiles.get(RequestConfiguration(query_parameters=Query(top=4, orderby=["id"]))))
    iterator = PageIterator(first, sdk.adapter)
    seen = []
    arun(iterator.iterate(lambda p: seen.append(p.id) or len(seen) != 2))  # stop after 2
    assert seen == ids[:2]
    arun(iterator.iterate(lambda p: seen.append(p.id) or True))
    assert seen == ids
