// Testing your code against graphsec: one in-memory server for the test file, emptied before
// each test, and its request journal to assert on. Only Node.js itself (20 or later).
"use strict";

const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const { once } = require("node:events");
const readline = require("node:readline");
const { after, before, beforeEach, test } = require("node:test");

let server;
let graphsec; // { url, token, tenant }: give url and token to the code under test

async function call(method, path, body) {
  const response = await fetch(graphsec.url.replace(/\/beta$/, "") + path, {
    method,
    headers: { Authorization: `Bearer ${graphsec.token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(response.ok, `${method} ${path}: ${response.status}`);
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

const journal = async () => (await call("GET", "/_graphsec/requests")).value;

before(async () => {
  const args = ["serve", "--in-memory", "--listen", "127.0.0.1:0", "--log-level", "warn"];
  server = spawn(process.env.GRAPHSEC_BIN || "graphsec", args, { stdio: ["ignore", "pipe", "inherit"] });
  const [line] = await once(readline.createInterface({ input: server.stdout }), "line");
  graphsec = JSON.parse(line); // printed once the server is ready
});

after(() => server.kill());

beforeEach(() => call("POST", "/_graphsec/reset")); // profiles, audit trail and journal

test("a profile is created with one POST", async () => {
  // Your code under test would make this call, given graphsec.url and graphsec.token.
  await call("POST", "/beta/security/userSecurityProfiles", { id: "alex", displayName: "Alex" });

  const [request] = await journal();
  assert.deepEqual([request.method, request.path, request.status], ["POST", "/beta/security/userSecurityProfiles", 201]);
  assert.deepEqual(JSON.parse(request.body), { id: "alex", displayName: "Alex" });
});

test("every test starts empty", async () => {
  await call("POST", "/_graphsec/seed?generate=3");
  const profiles = (await call("GET", "/beta/security/userSecurityProfiles")).value;
  assert.equal(profiles.length, 3);
  assert.deepEqual((await journal()).map((r) => r.path), ["/beta/security/userSecurityProfiles"]);
});
