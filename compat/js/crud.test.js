// Create, read, update and delete through the client's fluent GraphRequest API.
"use strict";

const assert = require("node:assert/strict");
const { beforeEach, describe, test } = require("node:test");

const { GraphError, ResponseType } = require("@microsoft/microsoft-graph-client");

const { COLLECTION, graphClient, newTenant, useServer, wire } = require("./harness");

const shared = useServer();
let client;
let tenant;

beforeEach(() => {
  tenant = newTenant();
  client = graphClient(shared.server, shared.server.token(tenant));
});

function profile(id) {
  return {
    id,
    displayName: "Alex Wilber",
    riskScore: "42",
    tags: ["HVA", "VIP"],
    userPrincipalName: `${id}@contoso.com`,
    vendorInformation: { provider: "graphsec" },
    accounts: [
      { displayName: "Alex", status: "active" },
      { displayName: "Alex (old)", status: "suspended" },
    ],
  };
}

const item = (id) => `${COLLECTION}/${encodeURIComponent(id)}`;

describe("create", () => {
  test("returns the entity, its etag and context", async () => {
    const created = await client.api(COLLECTION).post(profile("alex"));
    assert.equal(created.id, "alex");
    assert.equal(created.azureTenantId, tenant);
    assert.equal(created.displayName, "Alex Wilber");
    assert.deepEqual(created.tags, ["HVA", "VIP"]);
    assert.equal(created["@odata.etag"], 'W/"1"');
    assert.match(created["@odata.context"], /\$metadata#security\/userSecurityProfiles\/\$entity$/);
    const sent = wire.last();
    assert.equal(sent.method, "POST");
    assert.equal(sent.url, `${shared.server.origin}/beta/security/userSecurityProfiles`);
    assert.match(sent.headers.get("authorization"), /^Bearer /);
    // customHosts also turns on the client's telemetry headers; the server echoes the request id
    assert.match(sent.headers.get("sdkversion"), /^graph-js\/3\.0\.7/);
    const clientRequestId = sent.headers.get("client-request-id");
    assert.match(clientRequestId, /^[0-9a-f-]{36}$/);
    assert.equal(sent.response.headers.get("client-request-id"), clientRequestId);
  });

  test("answers 201 with Location and ETag", async () => {
    const raw = await client.api(COLLECTION).responseType(ResponseType.RAW).post(profile("loc"));
    assert.equal(raw.status, 201);
    assert.equal(raw.headers.get("location"), `${shared.server.origin}/beta/security/userSecurityProfiles/loc`);
    assert.equal(raw.headers.get("etag"), 'W/"1"');
  });
});

describe("get", () => {
  test("the whole entity", async () => {
    await client.api(COLLECTION).post(profile("alex"));
    const got = await client.api(item("alex")).get();
    assert.equal(got.userPrincipalName, "alex@contoso.com");
    assert.equal(got.vendorInformation.provider, "graphsec");
    assert.equal(got.accounts[1].displayName, "Alex (old)");
  });

  test("with $select", async () => {
    await client.api(COLLECTION).post(profile("alex"));
    const got = await client.api(item("alex")).select(["id", "displayName", "tags"]).get();
    assert.equal(got.id, "alex");
    assert.equal(got.displayName, "Alex Wilber");
    assert.deepEqual(got.tags, ["HVA", "VIP"]);
    assert.equal(got.userPrincipalName, undefined);
    assert.equal(got.accounts, undefined);
    assert.ok(wire.last().url.endsWith("/alex?$select=id,displayName,tags"), wire.last().url);
  });

  test("an id that needs escaping", async () => {
    const id = "with space@contoso.com";
    await client.api(COLLECTION).post(profile(id));
    const got = await client.api(item(id)).get();
    assert.equal(got.id, id);
  });
});

describe("update", () => {
  test("PATCH returns 200 and the updated entity", async () => {
    await client.api(COLLECTION).post(profile("alex"));
    const raw = await client.api(item("alex")).responseType(ResponseType.RAW).patch({ riskScore: "99" });
    assert.equal(raw.status, 200);
    const updated = await raw.json();
    assert.equal(updated.riskScore, "99");
    assert.equal(updated.displayName, "Alex Wilber");
    assert.equal(updated["@odata.etag"], 'W/"2"');
    assert.equal(raw.headers.get("etag"), 'W/"2"');
  });

  test("Prefer: return=minimal answers 204 without a body", async () => {
    await client.api(COLLECTION).post(profile("alex"));
    const none = await client.api(item("alex")).header("Prefer", "return=minimal").patch({ riskScore: "7" });
    assert.equal(none, undefined);
    const sent = wire.last();
    assert.equal(sent.status, 204);
    assert.equal(sent.response.headers.get("preference-applied"), "return=minimal");
    assert.equal((await client.api(item("alex")).get()).riskScore, "7");
  });

  test("If-Match: a matching etag updates, a stale one is a GraphError 412", async () => {
    await client.api(COLLECTION).post(profile("alex"));
    const ok = await client.api(item("alex")).header("If-Match", 'W/"1"').patch({ displayName: "v2" });
    assert.equal(ok["@odata.etag"], 'W/"2"');
    await assert.rejects(
      client.api(item("alex")).header("If-Match", 'W/"1"').patch({ displayName: "v3" }),
      (err) => {
        assert.ok(err instanceof GraphError, err);
        assert.equal(err.statusCode, 412);
        assert.equal(err.code, "resourceModified");
        assert.match(err.requestId, /^[0-9a-f-]{36}$/);
        return true;
      },
    );
    assert.equal((await client.api(item("alex")).get()).displayName, "v2");
  });
});

describe("delete", () => {
  test("answers 204, then the entity is gone", async () => {
    await client.api(COLLECTION).post(profile("alex"));
    assert.equal(await client.api(item("alex")).delete(), undefined);
    assert.equal(wire.last().status, 204);
    await assert.rejects(client.api(item("alex")).get(), (err) => err.statusCode === 404);
  });
});
