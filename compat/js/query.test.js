// Listing with the client's OData query methods, /$count, and paging through @odata.nextLink
// with the client's PageIterator.
"use strict";

const assert = require("node:assert/strict");
const { before, describe, test } = require("node:test");

const { PageIterator } = require("@microsoft/microsoft-graph-client");

const { COLLECTION, graphClient, newTenant, useServer, wire } = require("./harness");

const shared = useServer();

// id, displayName, riskScore, tags, vendor provider, account statuses
const SEED = [
  ["p1", "Alpha", "10", ["HVA"], "graphsec", ["active"]],
  ["p2", "Bravo", "20", [], "other", ["suspended"]],
  ["p3", "Charlie", "30", ["HVA", "VIP"], "graphsec", ["active", "deleted"]],
  ["p4", "Delta", null, [], null, []],
  ["p5", "Echo", "50", ["VIP"], "graphsec", ["staged"]],
  ["p6", "alpha lower", "60", ["HVA"], "other", ["active"]],
];

// A client for a fresh tenant holding `count` profiles with ids prefix-00, prefix-01, ...
async function tenantWith(count, prefix) {
  const client = graphClient(shared.server, shared.server.token(newTenant()));
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(2, "0")}`);
  for (const id of ids) {
    await client.api(COLLECTION).post({ id });
  }
  return { client, ids };
}

describe("list", () => {
  let client;
  before(async () => {
    client = graphClient(shared.server, shared.server.token(newTenant()));
    for (const [id, displayName, riskScore, tags, provider, statuses] of SEED) {
      await client.api(COLLECTION).post({
        id,
        displayName,
        riskScore,
        tags,
        userPrincipalName: `${id}@contoso.com`,
        vendorInformation: provider ? { provider } : null,
        accounts: statuses.map((status, i) => ({ displayName: `${id}-${i}`, status })),
      });
    }
  });

  const ids = (page) => page.value.map((p) => p.id);

  for (const [expr, expected] of [
    ["displayName eq 'Bravo'", ["p2"]],
    ["startswith(displayName, 'Al')", ["p1"]],
    ["startswith(tolower(displayName), 'al')", ["p1", "p6"]],
    ["tags/any(t: t eq 'HVA')", ["p1", "p3", "p6"]],
    ["tags/any(t: t eq 'x')", []],
    ["accounts/any(a: a/status eq 'active')", ["p1", "p3", "p6"]],
    ["vendorInformation/provider eq 'graphsec' and riskScore ne '10'", ["p3", "p5"]],
    ["riskScore eq null", ["p4"]],
  ]) {
    test(`$filter=${expr}`, async () => {
      const page = await client.api(COLLECTION).filter(expr).orderby("id").get();
      assert.deepEqual(ids(page), expected);
    });
  }

  test("$orderby descending, $select", async () => {
    const page = await client.api(COLLECTION).orderby("displayName desc").select(["id", "displayName"]).get();
    assert.deepEqual(ids(page), ["p6", "p5", "p4", "p3", "p2", "p1"]);
    for (const p of page.value) {
      assert.deepEqual(Object.keys(p).filter((k) => !k.startsWith("@")).sort(), ["displayName", "id"]);
    }
    assert.match(page["@odata.context"], /\$metadata#security\/userSecurityProfiles\(id,displayName\)$/);
  });

  test("$filter, $orderby, $select, $top, $skip and $count together", async () => {
    const page = await client
      .api(COLLECTION)
      .filter("riskScore ne null")
      .orderby("riskScore desc")
      .select("id,riskScore")
      .top(2)
      .skip(1)
      .count(true)
      .get();
    assert.deepEqual(ids(page), ["p5", "p3"]);
    assert.equal(page["@odata.count"], 5); // $count ignores $top and $skip
    const query = new URL(wire.last().url).searchParams;
    assert.equal(query.get("$filter"), "riskScore ne null");
    assert.equal(query.get("$orderby"), "riskScore desc");
    assert.equal(query.get("$select"), "id,riskScore");
    assert.equal(query.get("$top"), "2");
    assert.equal(query.get("$skip"), "1");
    assert.equal(query.get("$count"), "true");
  });

  test("the same options through query()", async () => {
    const page = await client
      .api(COLLECTION)
      .query({ $filter: "tags/any(t: t eq 'VIP')", $orderby: "id", $top: "1", $count: "true" })
      .get();
    assert.deepEqual(ids(page), ["p3"]);
    assert.equal(page["@odata.count"], 2);
    assert.ok(page["@odata.nextLink"], "a $top smaller than the result links the next page");
  });

  test("/$count, alone and with $filter", async () => {
    assert.equal(String(await client.api(`${COLLECTION}/$count`).get()), "6");
    assert.equal(String(await client.api(`${COLLECTION}/$count`).filter("tags/any(t: t eq 'HVA')").get()), "3");
    assert.match(wire.last().response.headers.get("content-type"), /^text\/plain/);
  });
});

describe("PageIterator", () => {
  test("follows @odata.nextLink across pages with $top, keeping $select", async () => {
    const { client, ids } = await tenantWith(23, "page");
    const mark = wire.mark();
    const first = await client.api(COLLECTION).top(5).orderby("id").select("id,displayName").count(true).get();
    assert.equal(first.value.length, 5);
    assert.equal(first["@odata.count"], 23);
    assert.ok(first["@odata.nextLink"].startsWith(`${shared.server.origin}/beta/security/userSecurityProfiles?`));

    const seen = [];
    const iterator = new PageIterator(client, first, (p) => {
      seen.push(p);
      return true;
    });
    await iterator.iterate();

    assert.ok(iterator.isComplete());
    assert.deepEqual(seen.map((p) => p.id), ids);
    assert.ok(seen.every((p) => p.userPrincipalName === undefined)); // $select on every page
    const pages = wire.since(mark);
    assert.deepEqual(pages.map((e) => e.status), [200, 200, 200, 200, 200]);
    for (const e of pages.slice(1)) {
      assert.match(e.headers.get("authorization"), /^Bearer /);
      const query = new URL(e.url).searchParams;
      assert.ok(query.has("$skiptoken"), e.url);
      assert.equal(query.get("$orderby"), "id");
    }
    assert.equal((await pages[4].response.json())["@odata.nextLink"], undefined);
  });

  test("with Prefer: odata.maxpagesize on every request", async () => {
    const { client, ids } = await tenantWith(10, "m");
    const prefer = { Prefer: "odata.maxpagesize=4" };
    const mark = wire.mark();
    const first = await client.api(COLLECTION).headers(prefer).orderby("id").get();
    assert.deepEqual(first.value.map((p) => p.id), ids.slice(0, 4));
    assert.equal(wire.last().response.headers.get("preference-applied"), "odata.maxpagesize=4");

    const seen = [];
    const callback = (p) => {
      seen.push(p.id);
      return true;
    };
    await new PageIterator(client, first, callback, { headers: prefer }).iterate();

    assert.deepEqual(seen, ids);
    const pages = wire.since(mark);
    assert.ok(pages.every((e) => e.headers.get("prefer") === "odata.maxpagesize=4"));
    const sizes = await Promise.all(pages.map(async (e) => (await e.response.json()).value.length));
    assert.deepEqual(sizes, [4, 4, 2]);
  });

  test("stops when the callback returns false and resumes", async () => {
    const { client, ids } = await tenantWith(6, "r");
    const first = await client.api(COLLECTION).top(4).orderby("id").get();
    const seen = [];
    const iterator = new PageIterator(client, first, (p) => {
      seen.push(p.id);
      return seen.length !== 2;
    });
    await iterator.iterate();
    assert.deepEqual(seen, ids.slice(0, 2));
    assert.ok(!iterator.isComplete());
    await iterator.resume();
    assert.deepEqual(seen, ids.slice(0, 2).concat(ids.slice(2)));
  });
});
