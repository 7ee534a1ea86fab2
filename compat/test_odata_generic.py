"""A generic OData v4 client's view: $metadata through python-odata (an independent OData v4
client that reflects CSDL), a CSDL reference check, and a plain-HTTP OData walk."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import quote, urldefrag

import httpx
import pytest
import requests

from harness import READ_WRITE

EDMX = "{http://docs.oasis-open.org/odata/ns/edmx}"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
NS = "microsoft.graph"
ACCOUNT_STATUS = ["unknown", "staged", "active", "suspended", "deleted", "unknownFutureValue"]
PROFILE_PROPERTIES = {
    "id": "Edm.String", "accounts": "Collection(microsoft.graph.userAccount)",
    "azureSubscriptionId": "Edm.String", "azureTenantId": "Edm.String",
    "createdDateTime": "Edm.DateTimeOffset", "displayName": "Edm.String",
    "lastModifiedDateTime": "Edm.DateTimeOffset", "riskScore": "Edm.String",
    "tags": "Collection(Edm.String)", "userPrincipalName": "Edm.String",
    "vendorInformation": "microsoft.graph.securityVendorInformation",
}
COMPLEX_TYPES = {
    "userAccount": {"displayName": "Edm.String", "lastSeenDateTime": "Edm.DateTimeOffset",
                    "riskScore": "Edm.String", "service": "Edm.String", "signinName": "Edm.String",
                    "status": "microsoft.graph.accountStatus"},
    "securityVendorInformation": {"provider": "Edm.String", "providerVersion": "Edm.String",
                                  "subProvider": "Edm.String", "vendor": "Edm.String"},
}


@pytest.fixture
def session(server, tenant):
    s = requests.Session()
    s.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise override verify
    s.verify = str(server.cert)
    s.headers["Authorization"] = f"Bearer {server.token(tenant, READ_WRITE)}"
    yield s
    s.close()


@pytest.fixture
def http(server, tenant):
    with httpx.Client(base_url=server.base_url + "/", verify=str(server.cert), trust_env=False, timeout=10,
                      headers={"Authorization": f"Bearer {server.token(tenant, READ_WRITE)}"}) as client:
        yield client


def test_python_odata_reflects_the_metadata(server, session):
    from odata import ODataService
    from odata.enumtype import EnumType

    service = ODataService(server.base_url + "/", reflect_entities=True, session=session, quiet_progress=True)

    # the security singleton, typed microsoft.graph.security
    security = service.entities["security"]
    assert security.__odata_singleton__ is True
    assert security.__odata_schema__["type"] == f"{NS}.security"
    nav = {n["name"]: n["type"] for n in security.__odata_schema__["navigation_properties"]}
    assert nav == {"userSecurityProfiles": "Collection(graph.userSecurityProfile)"}

    # the entity type, with its key and every declared property
    profile = service.types[f"{NS}.userSecurityProfile"]
    schema = profile.__odata_schema__
    assert schema["base_type"] in (f"{NS}.entity", "graph.entity")
    props = {p["name"]: p for p in schema["properties"]}
    declared = {**props, **{p["name"]: p for p in service.types[f"{NS}.entity"].__odata_schema__["properties"]}}
    assert set(declared) == set(PROFILE_PROPERTIES)
    assert declared["id"]["is_primary_key"] is True
    assert props["tags"]["is_collection"] and props["accounts"]["is_collection"]
    for name in PROFILE_PROPERTIES:
        assert hasattr(profile, name), name

    # the enum, members in order with their values
    status = service.types[f"{NS}.accountStatus"]
    assert issubclass(status, EnumType)
    assert [m.name for m in status] == ACCOUNT_STATUS
    assert status["unknownFutureValue"].value == 127


def test_csdl_document_is_complete_and_consistent(http):
    """Checks a client relies on but python-odata does not parse (it skips ComplexType): every type
    reference resolves (aliases included), complex types and enum as declared, the container."""
    response = http.get("$metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert response.headers["odata-version"] == "4.0"
    root = ET.fromstring(response.content)
    assert root.tag == f"{EDMX}Edmx" and root.get("Version") == "4.0"
    (schema,) = root.findall(f"{EDMX}DataServices/{EDM}Schema")
    assert schema.get("Namespace") == NS
    alias = schema.get("Alias")

    def qualify(type_name: str) -> str:
        inner = type_name[len("Collection("):-1] if type_name.startswith("Collection(") else type_name
        if alias and inner.startswith(alias + "."):
            inner = NS + inner[len(alias):]
        return f"Collection({inner})" if type_name.startswith("Collection(") else inner

    declared = {f"{NS}.{e.get('Name')}": e for kind in ("EntityType", "ComplexType", "EnumType")
                for e in schema.findall(f"{EDM}{kind}")}
    primitives = {"Edm.String", "Edm.DateTimeOffset", "Edm.Int32", "Edm.Int64", "Edm.Boolean", "Edm.Guid"}
    for element in schema.iter():
        for attr in ("Type", "BaseType", "EntityType"):
            if element.get(attr):
                target = qualify(element.get(attr)).removeprefix("Collection(").removesuffix(")")
                assert target in declared or target in primitives, f"{attr}={element.get(attr)} does not resolve"

    for name, members in COMPLEX_TYPES.items():
        complex_type = declared[f"{NS}.{name}"]
        assert complex_type.tag == f"{EDM}ComplexType"
        assert {p.get("Name"): qualify(p.get("Type")) for p in complex_type.findall(f"{EDM}Property")} == members

    enum = declared[f"{NS}.accountStatus"]
    assert enum.tag == f"{EDM}EnumType"
    assert [m.get("Name") for m in enum.findall(f"{EDM}Member")] == ACCOUNT_STATUS

    profile = declared[f"{NS}.userSecurityProfile"]
    assert profile.get("OpenType") == "true"
    props = {p.get("Name"): (qualify(p.get("Type")), p.get("Nullable")) for p in profile.findall(f"{EDM}Property")}
    assert props["azureTenantId"] == ("Edm.String", "false")
    assert {k: v[0] for k, v in props.items()} == {k: v for k, v in PROFILE_PROPERTIES.items() if k != "id"}

    (container,) = schema.findall(f"{EDM}EntityContainer")
    singletons = {s.get("Name"): qualify(s.get("Type")) for s in container.findall(f"{EDM}Singleton")}
    assert singletons == {"security": f"{NS}.security"}
    (nav,) = declared[f"{NS}.security"].findall(f"{EDM}NavigationProperty")
    assert (nav.get("Name"), qualify(nav.get("Type")), nav.get("ContainsTarget")) == (
        "userSecurityProfiles", f"Collection({NS}.userSecurityProfile)", "true")


def test_plain_http_odata_walk(server, http, tenant):
    # service document -> the singleton -> its contained entity set
    doc = http.get("").json()
    assert doc["@odata.context"] == f"{server.base_url}/$metadata"
    (entry,) = [e for e in doc["value"] if e["name"] == "security"]
    assert entry["kind"] == "Singleton"
    collection = f"{entry['url']}/userSecurityProfiles"

    for pid, name in [("o'brien", "Conan"), ("plain", "Plain"), ("x y", "Spaced")]:
        created = http.post(collection, json={"id": pid, "displayName": name, "tags": ["t"]})
        assert created.status_code == 201, created.text
        assert created.headers["location"].startswith(server.base_url)

    listing = http.get(collection, params={"$count": "true", "$orderby": "id"})
    assert listing.status_code == 200
    assert listing.headers["odata-version"] == "4.0"
    assert listing.headers["content-type"].startswith("application/json")
    body = listing.json()
    assert body["@odata.count"] == 3
    assert [p["id"] for p in body["value"]] == ["o'brien", "plain", "x y"]
    assert all(p["@odata.type"] == "#microsoft.graph.userSecurityProfile" for p in body["value"])
    # @odata.context points into the same service's $metadata
    metadata_url, fragment = urldefrag(body["@odata.context"])
    assert metadata_url == f"{server.base_url}/$metadata" and fragment == "security/userSecurityProfiles"
    assert http.get(metadata_url).status_code == 200

    count = http.get(f"{collection}/$count")
    assert (count.status_code, count.text.strip()) == (200, "3")
    assert count.headers["content-type"].startswith("text/plain")
    assert http.get(f"{collection}/$count", params={"$filter": "startswith(id, 'p')"}).text.strip() == "1"

    # key-as-segment and key-in-parentheses (single quotes doubled inside the literal)
    segment, literal = quote("o'brien", safe=""), quote("'o''brien'", safe="")
    for url in (f"{collection}/{segment}", f"{collection}('o''brien')", f"{collection}({literal})"):
        got = http.get(url)
        assert got.status_code == 200, (url, got.text)
        entity = got.json()
        assert entity["id"] == "o'brien" and entity["azureTenantId"] == tenant
        assert urldefrag(entity["@odata.context"])[1] == "security/userSecurityProfiles/$entity"
        assert got.headers["etag"] == entity["@odata.etag"]
    assert http.get(f"{collection}('x y')").json()["displayName"] == "Spaced"
    patched = http.patch(f"{collection}('plain')", json={"displayName": "Patched"})
    assert patched.status_code == 200 and patched.json()["displayName"] == "Patched"
    assert http.delete(f"{collection}('plain')").status_code == 204
    assert http.get(f"{collection}('plain')").json()["error"]["code"] == "itemNotFound"

    # option names %24-encoded and $-less, as OData/Graph beta allow
    assert [p["id"] for p in http.get(f"{collection}?%24top=1&%24orderby=id").json()["value"]] == ["o'brien"]
    assert [p["id"] for p in http.get(f"{collection}?top=1&orderby=id%20desc").json()["value"]] == ["x y"]
