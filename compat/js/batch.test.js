// JSON batching with the client's BatchRequestContent and BatchResponseContent.
//
// BatchRequestContent takes each step's fetch Request and keeps its URL minus scheme and host.
// In Node, Request accepts only absolute URLs, so "/beta/security/..." would stay in the item's
// path, and Graph resolves item URLs against the version: the item URL must be the server's
// origin followed by the path relative to the version, e.g.
//   new Request(`${origin}/security/userSecurityProfiles`)   (not `${origin}/beta/security/...`)
"use strict";

const assert = require("node:assert/strict");
const { beforeEach, test } = require("node:test");

const { BatchRequestContent, BatchResponseContent } = require("@microsoft/microsoft-graph-client");

const { COLLECTION, graphClient, newTenant, useServer, wire } = require("./harness");

const shared = useServer();
let client;

beforeEach(() => {
  client = graphClient(shared.server, shared.server.token(newTenant()));
});

// A batch step whose URL is `path` (relative to the version) on the server's origin.
function step(id, method, path, { body, dependsOn, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  return { id, request: new Request(`${shared.server.origin}${path}`, init), dependsOn };
}

async function send(steps) {
  const content = new BatchRequestContent(steps);
  const answer = await client.api("/$batch").post(await content.getContent());
  return new BatchResponseContent(answer);
}

test("dependsOn chain: every item answered in order, bodies readable", async () => {
  const item = `${COLLECTION}/b1`;
  const batch = await send([
    step("create", "POST", COLLECTION, { body: { id: "b1", displayName: "first" } }),
    step("update", "PATCH", item, { body: { displayName: "second" }, dependsOn: ["create"] }),
    step("read", "GET", `${item}?$select=id,displayName`, { dependsOn: ["update"] }),
    step("list", "GET", `${COLLECTION}?$count=true`, { dependsOn: ["read"] }),
  ]);

  assert.equal(wire.last().url, `${shared.server.origin}/beta/$batch`);
  assert.equal((await wire.last().response.json()).responses.length, 4);

  const statuses = Object.fromEntries([...batch.getResponses()].map(([id, r]) => [id, r.status]));
  assert.deepEqual(statuses, { create: 201, update: 200, read: 200, list: 200 });

  const create = batch.getResponseById("create");
  assert.equal(create.headers.get("Location"), `${shared.server.origin}/beta/security/userSecurityProfiles/b1`);
  assert.equal(create.headers.get("ETag"), 'W/"1"');
  const created = await create.json();
  assert.equal(created.id, "b1");
  assert.equal(created.displayName, "first");

  const updated = await batch.getResponseById("update").json();
  assert.equal(updated.displayName, "second");
  assert.equal(updated["@odata.etag"], 'W/"2"');

  const read = await batch.getResponseById("read").json();
  assert.deepEqual([read.id, read.displayName, read.userPrincipalName], ["b1", "second", undefined]);

  const list = await batch.getResponseById("list").json();
  assert.deepEqual(list.value.map((p) => p.id), ["b1"]);
  assert.equal(list["@odata.count"], 1);
});

test("a failing item, and the items that depend on it answered 424", async () => {
  const batch = await send([
    step("missing", "GET", `${COLLECTION}/nobody`),
    step("rename", "PATCH", `${COLLECTION}/nobody`, { body: { displayName: "x" }, dependsOn: ["missing"] }),
    step("create", "POST", COLLECTION, { body: { id: "never" }, dependsOn: ["missing"] }),
  ]);

  const missing = batch.getResponseById("missing");
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error.code, "itemNotFound");
  for (const id of ["rename", "create"]) {
    const dependent = batch.getResponseById(id);
    assert.equal(dependent.status, 424, id);
    assert.equal((await dependent.json()).error.code, "FailedDependency", id);
  }
  await assert.rejects(client.api(`${COLLECTION}/never`).get(), (err) => err.statusCode === 404);
});

test("Prefer: return=minimal on an item answers 204 without a body", async () => {
  await client.api(COLLECTION).post({ id: "m1" });
  const batch = await send([
    step("quiet", "PATCH", `${COLLECTION}/m1`, { body: { riskScore: "5" }, headers: { Prefer: "return=minimal" } }),
  ]);
  const quiet = batch.getResponseById("quiet");
  assert.equal(quiet.status, 204);
  assert.equal(await quiet.text(), "");
  assert.equal((await client.api(`${COLLECTION}/m1`).get()).riskScore, "5");
});

test("an item URL that keeps the version is answered 400, as Graph answers it", async () => {
  const batch = await send([step("versioned", "GET", `/beta${COLLECTION}`)]);
  assert.equal(wire.last().status, 200);
  const versioned = batch.getResponseById("versioned");
  assert.equal(versioned.status, 400);
  const body = await versioned.json();
  assert.equal(body.error.code, "BadRequest");
  assert.match(body.error.message, /segment 'beta'/);
});
