// Errors surface as the client's GraphError with Graph's status codes and error codes; the token
// reaches only hosts in customHosts; the development certificate is trusted explicitly.
"use strict";

const assert = require("node:assert/strict");
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { describe, test } = require("node:test");

const { GraphError } = require("@microsoft/microsoft-graph-client");

const { COLLECTION, GraphsecServer, READ_ONLY, graphClient, newTenant, useServer, wire } = require("./harness");

const shared = useServer();

// Asserts that `promise` rejects with a GraphError of this status and code; returns the error.
async function graphError(promise, statusCode, code) {
  let caught;
  await assert.rejects(promise, (err) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof GraphError, `not a GraphError: ${caught}`);
  assert.equal(caught.statusCode, statusCode, caught.body);
  assert.equal(caught.code, code, caught.body);
  assert.ok(caught.message.length > 0);
  return caught;
}

describe("GraphError", () => {
  test("404 itemNotFound, with Graph's request id and date", async () => {
    const client = graphClient(shared.server, shared.server.token(newTenant()));
    const err = await graphError(client.api(`${COLLECTION}/nobody`).get(), 404, "itemNotFound");
    assert.equal(err.requestId, wire.last().response.headers.get("request-id"));
    assert.ok(!Number.isNaN(err.date.getTime()));
    assert.equal(JSON.parse(err.body).code, "itemNotFound");
  });

  test("400 for an invalid $filter", async () => {
    const client = graphClient(shared.server, shared.server.token(newTenant()));
    const err = await graphError(client.api(COLLECTION).filter("displayName eq").get(), 400, "BadRequest");
    assert.match(err.message, /\$filter/);
  });

  test("403 for a write with a read-only token", async () => {
    const client = graphClient(shared.server, shared.server.token(newTenant(), READ_ONLY));
    await graphError(client.api(COLLECTION).post({ id: "x" }), 403, "Forbidden");
  });

  test("409 when the id exists", async () => {
    const client = graphClient(shared.server, shared.server.token(newTenant()));
    await client.api(COLLECTION).post({ id: "twice" });
    await graphError(client.api(COLLECTION).post({ id: "twice" }), 409, "nameAlreadyExists");
  });
});

describe("authentication", () => {
  test("401 when the token is not valid", async () => {
    const client = graphClient(shared.server, "not-a-token");
    await graphError(client.api(COLLECTION).get(), 401, "InvalidAuthenticationToken");
  });

  test("without customHosts the client sends no token: 401", async () => {
    const client = graphClient(shared.server, shared.server.token(newTenant()), { customHosts: undefined });
    await graphError(client.api(COLLECTION).get(), 401, "InvalidAuthenticationToken");
    assert.equal(wire.last().headers.get("authorization"), null);
  });

  test("customHosts holds the host name: with the port the client sends no token", async () => {
    const hostAndPort = new Set([`localhost:${shared.server.port}`]);
    const client = graphClient(shared.server, shared.server.token(newTenant()), { customHosts: hostAndPort });
    await graphError(client.api(COLLECTION).get(), 401, "InvalidAuthenticationToken");
    assert.equal(wire.last().headers.get("authorization"), null);
  });

  test("tenants are isolated", async () => {
    const owner = graphClient(shared.server, shared.server.token(newTenant()));
    const other = graphClient(shared.server, shared.server.token(newTenant()));
    await owner.api(COLLECTION).post({ id: "mine" });
    await graphError(other.api(`${COLLECTION}/mine`).get(), 404, "itemNotFound");
    assert.deepEqual((await other.api(COLLECTION).get()).value, []);
  });
});

// The code of the TLS error fetching `url` gives, once the server listens.
async function tlsErrorCode(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fetch(url);
      return "no error";
    } catch (err) {
      const code = err.cause?.code ?? String(err);
      if (code !== "ECONNREFUSED" || Date.now() > deadline) {
        return code;
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("TLS", () => {
  test("a certificate that was not trusted explicitly is refused", async () => {
    const otherTls = fs.mkdtempSync(path.join(os.tmpdir(), "graphsec-compat-js-tls-"));
    execFileSync(shared.server.binary, ["cert", "--out", otherTls, "--host", "localhost"], { stdio: "ignore" });
    const untrusted = new GraphsecServer({ tlsDir: otherTls });
    try {
      await untrusted.launch();
      const code = await tlsErrorCode(`${untrusted.origin}/healthz`, 30000);
      assert.match(code, /CERT|UNABLE_TO_VERIFY/);
      const client = graphClient(untrusted, untrusted.token(newTenant()));
      // the client reports a transport failure as a GraphError without a status
      await assert.rejects(client.api(COLLECTION).get(), (err) => err instanceof GraphError && err.statusCode === -1);
    } finally {
      await untrusted.close();
      fs.rmSync(otherTls, { recursive: true, force: true });
    }
  });
});
