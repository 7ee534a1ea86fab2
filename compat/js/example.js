// Microsoft's JavaScript Graph client (@microsoft/microsoft-graph-client) against graphsec over
// HTTPS, as the README's "Clients" section shows it. Run with:
//
//   graphsec cert                 # writes graphsec-data/tls/cert.pem and key.pem
//   graphsec serve --listen 127.0.0.1:8443 \
//     --tls-cert graphsec-data/tls/cert.pem --tls-key graphsec-data/tls/key.pem
//   NODE_EXTRA_CA_CERTS=graphsec-data/tls/cert.pem \
//   GRAPHSEC_URL=https://localhost:8443 GRAPHSEC_TOKEN=$(graphsec token --tenant contoso) node example.js
//
// compat/js/example.test.js runs this file as written against the suite's server.
"use strict";

const { BatchRequestContent, BatchResponseContent, Client } = require("@microsoft/microsoft-graph-client");

const origin = process.env.GRAPHSEC_URL; // e.g. https://localhost:8443: no /beta
const client = Client.init({
  authProvider: (done) => done(null, process.env.GRAPHSEC_TOKEN),
  baseUrl: origin,
  defaultVersion: "beta",
  // The client sends the token only to Graph's own hosts and these: host names, no port.
  customHosts: new Set([new URL(origin).hostname]),
});

async function main() {
  const profiles = "/security/userSecurityProfiles";
  await client.api(profiles).post({ id: "alex", displayName: "Alex Wilber", tags: ["HVA"] });
  const hva = await client.api(profiles).filter("tags/any(t: t eq 'HVA')").select("id,displayName").get();

  // Batch item URLs: the origin, then the path relative to the version (no /beta).
  const batch = new BatchRequestContent([
    { id: "1", request: new Request(`${origin}${profiles}/alex`, { method: "GET" }) },
  ]);
  const answer = new BatchResponseContent(await client.api("/$batch").post(await batch.getContent()));
  const alex = await answer.getResponseById("1").json();

  console.log(JSON.stringify({ hva: hva.value.map((p) => p.id), batched: alex.displayName }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
