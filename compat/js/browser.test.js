// A web page on another origin calls graphsec from headless Chromium (Debian's chromium, driven
// by playwright-core): the browser's own CORS rules decide what the page may send and read.
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const http = require("node:http");
const { after, before, test } = require("node:test");

const { COLLECTION, GraphsecServer, newTenant } = require("./harness");

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => fs.existsSync(p));
// Under CI the test must run; elsewhere a machine without Chromium skips it, saying why.
const skip = !CHROMIUM && !process.env.CI && "needs Debian's chromium (apt install chromium)";

const shared = {};

before(async () => {
  if (skip) return;
  // Plain HTTP on 127.0.0.1: the page's origin differs from the API's by its port.
  shared.server = await new GraphsecServer({ tlsDir: null, extraArgs: ["--rate-limit", "2", "--rate-limit-burst", "4"] }).start();
  // The page's origin serves Microsoft's browser bundle of the Graph client, as a web app would.
  const bundle = fs.readFileSync(require.resolve("@microsoft/microsoft-graph-client/lib/graph-js-sdk.js"));
  shared.page = http.createServer((req, res) => {
    if (req.url === "/graph-js-sdk.js") {
      res.setHeader("content-type", "text/javascript");
      return res.end(bundle);
    }
    res.setHeader("content-type", "text/html");
    res.end('<!doctype html><title>console</title><script src="/graph-js-sdk.js"></script>');
  });
  await new Promise((resolve) => shared.page.listen(0, "127.0.0.1", resolve));
  const { chromium } = require("playwright-core");
  shared.browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});

after(async () => {
  await shared.browser?.close();
  shared.page?.close();
  await shared.server?.close();
});

test("a page on another origin reads, patches with If-Match, and sees a 429's Retry-After", { skip }, async () => {
  const api = `${shared.server.origin}/beta${COLLECTION}`;
  const token = shared.server.token(newTenant());
  const created = await fetch(api, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ id: "p", displayName: "before" }),
  });
  assert.equal(created.status, 201);

  const context = await shared.browser.newContext();
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${shared.page.address().port}/`);
  const seen = await page.evaluate(
    async ({ api, token }) => {
      const auth = { Authorization: `Bearer ${token}` };
      const got = await fetch(`${api}/p`, { headers: auth });
      const etag = got.headers.get("ETag");
      const requestId = got.headers.get("request-id");
      const patched = await fetch(`${api}/p`, {
        method: "PATCH",
        headers: { ...auth, "Content-Type": "application/json", "If-Match": etag, Prefer: "return=representation" },
        body: JSON.stringify({ displayName: "after" }),
      });
      const body = await patched.json();
      let throttled = null;
      for (let i = 0; i < 20 && throttled === null; i++) {
        const r = await fetch(`${api}/p`, { headers: auth });
        if (r.status === 429) throttled = { retryAfter: r.headers.get("Retry-After"), code: (await r.json()).error.code };
      }
      return { status: got.status, etag, requestId, patched: patched.status, newEtag: patched.headers.get("ETag"), name: body.displayName, throttled };
    },
    { api, token },
  );
  await context.close();
  assert.equal(seen.status, 200);
  assert.equal(seen.etag, 'W/"1"');
  assert.match(seen.requestId ?? "", /^[0-9a-f-]{36}$/);
  assert.equal(seen.patched, 200);
  assert.equal(seen.newEtag, 'W/"2"');
  assert.equal(seen.name, "after");
  assert.ok(seen.throttled, "the rate limit answered 429");
  assert.equal(seen.throttled.code, "TooManyRequests");
  assert.ok(Number(seen.throttled.retryAfter) >= 1, `Retry-After ${seen.throttled.retryAfter}`);
});

// The client attaches the token only to https:// URLs, so this server speaks TLS with the
// development certificate, which the browser context is told to accept (Node verifies it).
test("Microsoft's Graph client in the page lists with paging, patches with If-Match and batches", { skip }, async (t) => {
  const server = await new GraphsecServer().start();
  t.after(() => server.close());
  const origin = server.origin;
  const token = server.token(newTenant());
  const context = await shared.browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${shared.page.address().port}/`);
  const seen = await page.evaluate(
    async ({ origin, token }) => {
      const { Client, BatchRequestContent, BatchResponseContent, PageIterator } = window.MicrosoftGraph;
      // As README "Clients" says: a host that is not Microsoft's must be named to get the token.
      const host = new URL(origin).hostname;
      const client = Client.init({ authProvider: (done) => done(null, token), baseUrl: origin, defaultVersion: "beta", customHosts: new Set([host]) });
      const profiles = client.api("/security/userSecurityProfiles");
      for (const id of ["a", "b", "c"]) {
        await profiles.post({ id, displayName: `name ${id}`, tags: ["HVA"] });
      }
      const ids = [];
      const first = await client.api("/security/userSecurityProfiles").top(2).count(true).get();
      await new PageIterator(client, first, (p) => {
        ids.push(p.id);
        return true;
      }).iterate();

      const got = await client.api("/security/userSecurityProfiles/a").get();
      const patched = await client
        .api("/security/userSecurityProfiles/a")
        .header("If-Match", got["@odata.etag"])
        .header("Prefer", "return=representation")
        .patch({ displayName: "renamed" });
      let stale = null;
      try {
        await client.api("/security/userSecurityProfiles/a").header("If-Match", got["@odata.etag"]).patch({ displayName: "lost" });
      } catch (e) {
        stale = { status: e.statusCode, code: e.code };
      }

      const step = (id, method, path, body) => ({
        id,
        request: new Request(`${origin}${path}`, {
          method,
          headers: body ? { "Content-Type": "application/json" } : {},
          body: body ? JSON.stringify(body) : undefined,
        }),
      });
      const content = new BatchRequestContent([
        step("read", "GET", "/security/userSecurityProfiles/b"),
        step("update", "PATCH", "/security/userSecurityProfiles/c", { displayName: "batched" }),
        step("missing", "GET", "/security/userSecurityProfiles/nobody"),
      ]);
      const batch = new BatchResponseContent(await client.api("/$batch").post(await content.getContent()));
      const statuses = Object.fromEntries([...batch.getResponses()].map(([id, r]) => [id, r.status]));
      const batched = await batch.getResponseById("update").json();
      return { count: first["@odata.count"], ids, patched: patched.displayName, etag: patched["@odata.etag"], stale, statuses, batched: batched.displayName };
    },
    { origin, token },
  );
  await context.close();
  assert.equal(seen.count, 3);
  assert.deepEqual(seen.ids, ["a", "b", "c"]);
  assert.equal(seen.patched, "renamed");
  assert.equal(seen.etag, 'W/"2"');
  assert.deepEqual(seen.stale, { status: 412, code: "resourceModified" });
  assert.deepEqual(seen.statuses, { read: 200, update: 200, missing: 404 });
  assert.equal(seen.batched, "batched");
});
