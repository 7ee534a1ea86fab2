// Throttling: a server limited to 1 request/s (burst 1) answers 429 with Retry-After; the client's
// RetryHandler (default middleware) waits that long, retries with Retry-Attempt, and succeeds.
"use strict";

const assert = require("node:assert/strict");
const { beforeEach, test } = require("node:test");

const { GraphError, RetryHandlerOptions } = require("@microsoft/microsoft-graph-client");

const { COLLECTION, graphClient, newTenant, useServer, wire } = require("./harness");

const shared = useServer(["--rate-limit", "1", "--rate-limit-burst", "1"]);
let client;

beforeEach(() => {
  client = graphClient(shared.server, shared.server.token(newTenant()));
});

// attempts: the wire exchanges of one client call, in order.
async function assertRetriedAfter429(attempts) {
  const statuses = attempts.map((a) => a.status);
  assert.equal(statuses[0], 429, String(statuses));
  assert.ok([200, 201].includes(statuses.at(-1)), String(statuses));
  assert.ok(attempts.length <= 4 && statuses.slice(0, -1).every((s) => s === 429), String(statuses));
  assert.equal(attempts[0].headers.get("retry-attempt"), null);
  for (let n = 1; n < attempts.length; n++) {
    const [throttled, retry] = [attempts[n - 1], attempts[n]];
    const retryAfter = throttled.response.headers.get("retry-after");
    assert.match(retryAfter, /^[1-9][0-9]*$/);
    assert.equal((await throttled.response.json()).error.code, "TooManyRequests");
    const waited = retry.sentAt - throttled.answeredAt;
    assert.ok(waited >= Number(retryAfter) * 950, `retried after ${waited} ms, Retry-After: ${retryAfter}`);
    assert.equal(retry.headers.get("retry-attempt"), String(n));
  }
}

test("429, then the retry after Retry-After succeeds", async () => {
  await client.api(`${COLLECTION}/$count`).get(); // takes the only token
  const mark = wire.mark();
  const page = await client.api(COLLECTION).get();
  assert.deepEqual(page.value, []);
  await assertRetriedAfter429(wire.since(mark));
});

test("a create retried after 429 replays its body and creates once", async () => {
  await client.api(`${COLLECTION}/$count`).get();
  const mark = wire.mark();
  const created = await client.api(COLLECTION).post({ id: "once", displayName: "retried" });
  assert.equal(created.id, "once");
  const attempts = wire.since(mark);
  await assertRetriedAfter429(attempts);
  assert.ok(attempts.every((a) => a.body === attempts[0].body));
  assert.equal(String(await client.api(`${COLLECTION}/$count`).get()), "1");
});

test("without retries a 429 is a GraphError", async () => {
  await client.api(`${COLLECTION}/$count`).get();
  const noRetry = new RetryHandlerOptions(0, 0);
  await assert.rejects(client.api(COLLECTION).middlewareOptions([noRetry]).get(), (err) => {
    assert.ok(err instanceof GraphError, err);
    assert.equal(err.statusCode, 429);
    assert.equal(err.code, "TooManyRequests");
    return true;
  });
});
