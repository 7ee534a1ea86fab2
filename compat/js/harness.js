// Test harness: a graphsec server process per test file, tokens, and Graph JavaScript clients.
//
// Everything talks to localhost only. The server serves HTTPS with the development certificate
// in $GRAPHSEC_COMPAT_TLS_DIR, which run.sh writes with `graphsec cert` and hands to Node through
// NODE_EXTRA_CA_CERTS: Node reads that variable once at start-up, so the certificate exists
// before any test process does. Certificate verification stays on.
"use strict";

const { spawn, execFileSync } = require("node:child_process");
const crypto = require("node:crypto");
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");

const { after, before } = require("node:test");

const { Client } = require("@microsoft/microsoft-graph-client");

const READ_WRITE = "SecurityEvents.ReadWrite.All";
const READ_ONLY = "SecurityEvents.Read.All";
const COLLECTION = "/security/userSecurityProfiles";

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the suite through compat/run.sh`);
  }
  return value;
}

// The server sees none of the caller's GRAPHSEC_* settings (auth, database, limits...).
function serverEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("GRAPHSEC_")));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

// setpriv (util-linux) makes the server die with this test process even if it is killed.
const SETPRIV = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => fs.existsSync(p));

class GraphsecServer {
  // tlsDir: where cert.pem and key.pem are, or null for plain HTTP; extraArgs: more
  // `graphsec serve` flags.
  constructor({ tlsDir = required("GRAPHSEC_COMPAT_TLS_DIR"), extraArgs = [] } = {}) {
    this.binary = required("GRAPHSEC_BIN");
    this.tlsDir = tlsDir;
    this.extraArgs = extraArgs;
    this.workdir = fs.mkdtempSync(path.join(os.tmpdir(), "graphsec-compat-js-"));
    this.dataDir = path.join(this.workdir, "data");
    this.logPath = path.join(this.workdir, "server.log");
    this.proc = null;
    this.port = 0;
  }

  get origin() {
    return this.tlsDir === null ? `http://127.0.0.1:${this.port}` : `https://localhost:${this.port}`;
  }

  async start(timeoutMs = 30000) {
    for (let attempt = 0; attempt < 3; attempt++) {
      // a free port can be taken between probing and binding
      await this.launch();
      if (await this.waitHealthy(timeoutMs)) {
        return this;
      }
      await this.stop();
    }
    throw new Error(`graphsec did not become healthy; log:\n${this.logTail()}`);
  }

  // Starts the process on a free port without waiting for it.
  async launch() {
    this.port = await freePort();
    this.spawn();
  }

  spawn() {
    const args = [
      "serve",
      "--listen", `127.0.0.1:${this.port}`,
      "--data-dir", this.dataDir,
      ...(this.tlsDir === null
        ? []
        : ["--tls-cert", path.join(this.tlsDir, "cert.pem"), "--tls-key", path.join(this.tlsDir, "key.pem")]),
      "--log-level", "warn",
      ...this.extraArgs,
    ];
    const [cmd, argv] = SETPRIV
      ? [SETPRIV, ["--pdeathsig", "TERM", "--", this.binary, ...args]]
      : [this.binary, args];
    const log = fs.openSync(this.logPath, "a");
    this.proc = spawn(cmd, argv, { stdio: ["ignore", log, log], env: serverEnv() });
    fs.closeSync(log);
    const proc = this.proc;
    proc.exited = new Promise((resolve) => proc.once("exit", resolve));
  }

  async waitHealthy(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.proc === null || this.proc.exitCode !== null) {
        return false;
      }
      try {
        const res = await fetch(`${this.origin}/healthz`, { signal: AbortSignal.timeout(2000) });
        if (res.status === 200) {
          return true;
        }
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  // Stops the server this object started, by its PID: SIGTERM (in-flight requests finish),
  // then SIGKILL after 10 seconds.
  async stop() {
    const proc = this.proc;
    this.proc = null;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) {
      return;
    }
    proc.kill("SIGTERM");
    const killer = setTimeout(() => proc.kill("SIGKILL"), 10000);
    await proc.exited;
    clearTimeout(killer);
  }

  // Stops the server and removes its data directory; a non-empty log (warnings and errors
  // only) is printed first, for the failure it may explain.
  async close() {
    await this.stop();
    const log = this.logTail();
    if (log.trim() !== "") {
      process.stderr.write(`graphsec log (${this.origin}):\n${log}\n`);
    }
    fs.rmSync(this.workdir, { recursive: true, force: true });
  }

  logTail(n = 40) {
    try {
      return fs.readFileSync(this.logPath, "utf8").split("\n").slice(-n).join("\n");
    } catch {
      return "(no log)";
    }
  }

  token(tenant, scopes = READ_WRITE) {
    const args = ["token", "--data-dir", this.dataDir, "--tenant", tenant, "--scopes", scopes, "--ttl", "1h"];
    return execFileSync(this.binary, args, { env: serverEnv(), timeout: 30000, encoding: "utf8" }).trim();
  }
}

// A Graph client configured as a user must configure it for a host that is not Microsoft's
// (README, "Clients"): the origin without the version, the beta version, and the host name
// (no scheme, no port) in customHosts, without which the client sends no Authorization header.
// `overrides` replaces options of that configuration, for the tests of what goes wrong without them.
function graphClient(server, token, overrides = {}) {
  return Client.init({
    authProvider: (done) => done(null, token),
    baseUrl: server.origin,
    defaultVersion: "beta",
    customHosts: new Set(["localhost"]),
    ...overrides,
  });
}

// One server for the test file that calls this (node --test runs each file in its own process):
// started before its first test, closed after its last.
function useServer(extraArgs = []) {
  const shared = {};
  before(async () => {
    shared.server = await new GraphsecServer({ extraArgs }).start();
  });
  after(async () => {
    await shared.server?.close();
  });
  return shared;
}

// What actually went over the wire (times in milliseconds of performance.now()): the client's innermost middleware (HTTPMessageHandler) calls
// the global fetch, so wrapping it sees every attempt exactly as sent, retries included.
class WireLog {
  constructor() {
    this.exchanges = [];
    const inner = globalThis.fetch;
    globalThis.fetch = async (input, init = {}) => {
      const url = typeof input === "string" ? input : input.url;
      const method = init.method ?? (typeof input === "string" ? "GET" : input.method);
      const headers = new Headers(init.headers ?? (typeof input === "string" ? undefined : input.headers));
      const body = typeof init.body === "string" ? init.body : undefined;
      const sentAt = performance.now();
      const response = await inner(input, init);
      const answeredAt = performance.now();
      const status = response.status;
      this.exchanges.push({ method, url, headers, body, status, response: response.clone(), sentAt, answeredAt });
      return response;
    };
  }

  last() {
    return this.exchanges[this.exchanges.length - 1];
  }

  // A position to pass to since(): the exchanges made after it.
  mark() {
    return this.exchanges.length;
  }

  since(mark) {
    return this.exchanges.slice(mark);
  }
}

const wire = new WireLog();

function newTenant() {
  return crypto.randomUUID();
}

module.exports = {
  COLLECTION,
  GraphsecServer,
  READ_ONLY,
  READ_WRITE,
  graphClient,
  newTenant,
  useServer,
  wire,
};
