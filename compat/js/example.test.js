// The README's client configuration, run as written (example.js) in a process of its own with
// the environment a user sets: NODE_EXTRA_CA_CERTS, GRAPHSEC_URL, GRAPHSEC_TOKEN.
"use strict";

const assert = require("node:assert/strict");
const { execFile } = require("node:child_process");
const path = require("node:path");
const { test } = require("node:test");
const { promisify } = require("node:util");

const { newTenant, useServer } = require("./harness");

const shared = useServer();

test("example.js runs against graphsec", async () => {
  const env = {
    ...process.env,
    NODE_EXTRA_CA_CERTS: path.join(shared.server.tlsDir, "cert.pem"),
    GRAPHSEC_URL: shared.server.origin,
    GRAPHSEC_TOKEN: shared.server.token(newTenant()),
  };
  const { stdout } = await promisify(execFile)(process.execPath, [path.join(__dirname, "example.js")], {
    env,
    timeout: 30000,
  });
  assert.deepEqual(JSON.parse(stdout), { hva: ["alex"], batched: "Alex Wilber" });
});
