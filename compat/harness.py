"""Test harness: a graphsec server process per fixture, tokens, and Graph SDK clients.

Everything here talks to 127.0.0.1 only. Servers are started by PID and stopped by PID; each one
also gets PR_SET_PDEATHSIG so that it dies with the pytest process if pytest itself is killed.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import httpx

# The generated beta SDK marks the whole legacy Security API deprecated and warns on every call.
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"msgraph_beta\..*")

from kiota_abstractions.authentication import (  # noqa: E402
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from msgraph_beta import GraphServiceClient  # noqa: E402
from msgraph_beta.graph_request_adapter import GraphRequestAdapter  # noqa: E402
from msgraph_beta.graph_request_adapter import options as GRAPH_DEFAULT_OPTIONS  # noqa: E402
from msgraph_core import APIVersion, GraphClientFactory  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
READ_WRITE = "SecurityEvents.ReadWrite.All"
READ_ONLY = "SecurityEvents.Read.All"
COLLECTION = "security/userSecurityProfiles"


def graphsec_binary() -> Path:
    """The server binary: $GRAPHSEC_BIN (relative paths are taken from the current directory),
    else target/release/graphsec in the repository."""
    raw = os.environ.get("GRAPHSEC_BIN")
    path = Path(raw).expanduser() if raw else REPO_ROOT / "target" / "release" / "graphsec"
    path = path if path.is_absolute() else Path.cwd() / path
    if not path.is_file() or not os.access(path, os.X_OK):
        raise FileNotFoundError(
            f"graphsec binary not found at {path}: run `cargo build --release` or set GRAPHSEC_BIN"
        )
    return path


def _die_with_parent() -> None:  # runs in the child between fork and exec
    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GraphsecServer:
    """One `graphsec serve` process over TLS on 127.0.0.1 with its own data directory."""

    def __init__(self, binary: Path, workdir: Path, extra_args: tuple[str, ...] = ()):
        self.binary = binary
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.tls_dir = workdir / "tls"
        self.log_path = workdir / "server.log"
        self.extra_args = extra_args
        self.proc: Optional[subprocess.Popen] = None
        self.port = 0
        # The server sees none of the caller's GRAPHSEC_* settings (auth, database, limits...).
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHSEC_")}

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def cert(self) -> Path:
        return self.tls_dir / "cert.pem"

    @property
    def origin(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/beta"

    def start(self, timeout: float = 30.0) -> "GraphsecServer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._run(["cert", "--out", str(self.tls_dir), "--host", "localhost"])
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between probing and binding
            self.port = _free_port()
            cmd = [
                str(self.binary), "serve",
                "--listen", f"127.0.0.1:{self.port}",
                "--data-dir", str(self.data_dir),
                "--tls-cert", str(self.tls_dir / "cert.pem"),
                "--tls-key", str(self.tls_dir / "key.pem"),
                "--log-level", "warn",
                *self.extra_args,
            ]
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    env=self._env, preexec_fn=_die_with_parent,
                )
            if self._wait_healthy(timeout):
                return self
            last_error = self.log_tail()
            self.stop()
        raise RuntimeError(f"graphsec did not become healthy; log:\n{last_error}")

    def _wait_healthy(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with httpx.Client(verify=str(self.cert), trust_env=False, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    return False
                try:
                    if client.get(f"{self.origin}/healthz").status_code == 200:
                        return True
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        return False

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # graceful: in-flight requests finish
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    # -- tokens ------------------------------------------------------------------------------
    def token(self, tenant: str, scopes: str = READ_WRITE, app: bool = False, ttl: str = "1h") -> str:
        args = ["token", "--data-dir", str(self.data_dir), "--tenant", tenant, "--scopes", scopes,
                "--ttl", ttl]
        if app:
            args.append("--app")
        return self._run(args).strip()

    def _run(self, args: list[str]) -> str:
        done = subprocess.run([str(self.binary), *args], capture_output=True, text=True,
                              timeout=30, env=self._env, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"graphsec {' '.join(args[:1])} failed: {done.stderr.strip()}")
        return done.stdout


# -- recording what actually went over the wire ----------------------------------------------
@dataclass
class Exchange:
    method: str
    url: str
    request_headers: httpx.Headers
    request_body: bytes
    status: int
    response_headers: httpx.Headers
    response_body: bytes
    sent_at: float
    answered_at: float

    def json(self) -> Any:
        import json
        return json.loads(self.response_body)


class WireLog(httpx.AsyncBaseTransport):
    """The innermost transport: below the SDK's middleware, so it sees every attempt (retries
    included) exactly as sent and received."""

    def __init__(self, inner: httpx.AsyncBaseTransport):
        self.inner = inner
        self.exchanges: list[Exchange] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        sent = time.monotonic()
        response = await self.inner.handle_async_request(request)
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
        await response.aclose()
        decoded = httpx.Response(response.status_code, headers=response.headers, content=raw)
        decoded.read()  # undoes any Content-Encoding, for the record only
        self.exchanges.append(Exchange(
            request.method, str(request.url), httpx.Headers(request.headers), body,
            response.status_code, httpx.Headers(response.headers), decoded.content, sent,
            time.monotonic()))
        return httpx.Response(status_code=response.status_code, headers=response.headers,
                              content=raw, extensions=response.extensions, request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class StaticTokenProvider(AccessTokenProvider):
    """Kiota AccessTokenProvider returning a token minted by `graphsec token`."""

    def __init__(self, token: str, hosts: tuple[str, ...] = ("localhost",)):
        self._token = token
        self._hosts = AllowedHostsValidator(list(hosts))

    async def get_authorization_token(self, uri: str, additional_authentication_context: dict = {}) -> str:
        return self._token if self._hosts.is_url_host_valid(uri) else ""

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self._hosts


@dataclass
class SdkClient:
    client: GraphServiceClient
    adapter: GraphRequestAdapter
    http: httpx.AsyncClient
    wire: WireLog

    @property
    def profiles(self):
        return self.client.security.user_security_profiles


def http_client_for(server: GraphsecServer) -> tuple[httpx.AsyncClient, WireLog]:
    """An httpx client like the SDK's default one (HTTP/2 allowed, same timeouts), trusting the
    server's self-signed certificate, ignoring proxy/CA environment variables, with the Graph
    SDK's default middleware (retry, redirect, telemetry, ...) loaded on it."""
    wire = WireLog(httpx.AsyncHTTPTransport(verify=str(server.cert), http2=True, trust_env=False))
    http = httpx.AsyncClient(transport=wire, base_url=server.base_url, http2=True,
                             timeout=httpx.Timeout(100.0, connect=30.0), trust_env=False)
    http = GraphClientFactory.create_with_default_middleware(
        api_version=APIVersion.beta, client=http, options=GRAPH_DEFAULT_OPTIONS)
    return http, wire


def sdk_client(server: GraphsecServer, auth_provider) -> SdkClient:
    http, wire = http_client_for(server)
    adapter = GraphRequestAdapter(auth_provider, http)
    adapter.base_url = server.base_url
    return SdkClient(GraphServiceClient(request_adapter=adapter), adapter, http, wire)


def sdk_client_with_token(server: GraphsecServer, token: str) -> SdkClient:
    return sdk_client(server, BaseBearerTokenAuthenticationProvider(StaticTokenProvider(token)))
