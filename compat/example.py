"""The README's Python client configuration, as a user runs it:

    graphsec cert
    graphsec serve --listen 127.0.0.1:8443 \\
        --tls-cert graphsec-data/tls/cert.pem --tls-key graphsec-data/tls/key.pem
    GRAPHSEC_URL=https://localhost:8443 GRAPHSEC_CA=graphsec-data/tls/cert.pem \\
    GRAPHSEC_TOKEN=$(graphsec token --tenant contoso) python example.py
"""

import asyncio
import json
import os
from urllib.parse import urlparse

import httpx
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from msgraph_beta import GraphServiceClient
from msgraph_beta.generated.models.user_security_profile import UserSecurityProfile
from msgraph_beta.graph_request_adapter import GraphRequestAdapter
from msgraph_core import APIVersion, GraphClientFactory

ORIGIN = os.environ["GRAPHSEC_URL"]  # e.g. https://localhost:8443: no /beta


class GraphsecToken(AccessTokenProvider):
    """The token of `graphsec token`, sent only to graphsec's host."""

    async def get_authorization_token(self, uri, additional_authentication_context={}):
        return os.environ["GRAPHSEC_TOKEN"]

    def get_allowed_hosts_validator(self):
        return AllowedHostsValidator([urlparse(ORIGIN).hostname])


async def main():
    # The SDK's default middleware over an HTTP client that trusts graphsec's certificate.
    http = GraphClientFactory.create_with_default_middleware(
        api_version=APIVersion.beta, client=httpx.AsyncClient(verify=os.environ["GRAPHSEC_CA"]))
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(GraphsecToken()), http)
    adapter.base_url = f"{ORIGIN}/beta"
    client = GraphServiceClient(request_adapter=adapter)

    profiles = client.security.user_security_profiles
    await profiles.post(UserSecurityProfile(id="alex", display_name="Alex Wilber", tags=["HVA"]))
    alex = await profiles.by_user_security_profile_id("alex").get()
    print(json.dumps({"alex": alex.display_name}))


asyncio.run(main())
