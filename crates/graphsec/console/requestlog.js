// What went over the wire: each request the console made, its answer, and the same request as a
// curl command (with $TOKEN in place of the token, which never leaves the session storage).
import { el } from "./dom.js";

const MAX_ENTRIES = 50;
const MAX_SHOWN_BYTES = 20000;

function shell(text) {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

export function curl(entry) {
  const parts = ["curl", "-sS", "-X", entry.method, shell(entry.url)];
  for (const [name, value] of Object.entries(entry.headers)) {
    const shown = name === "Authorization" ? "Bearer $TOKEN" : value;
    parts.push("-H", name === "Authorization" ? `"Authorization: ${shown}"` : shell(`${name}: ${shown}`));
  }
  if (entry.body !== undefined) parts.push("--data-raw", shell(entry.body));
  return parts.join(" ");
}

function shown(text) {
  if (!text) return "(empty)";
  let out = text;
  try {
    out = JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    // not JSON: shown as it came
  }
  return out.length > MAX_SHOWN_BYTES ? `${out.slice(0, MAX_SHOWN_BYTES)}\n… (cut)` : out;
}

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Select the command below to copy it";
  }
  setTimeout(() => (button.textContent = "Copy as curl"), 2000);
}

export function record(entry) {
  const list = document.getElementById("request-log");
  if (!list) return;
  const url = new URL(entry.url);
  const command = curl(entry);
  const ok = entry.status >= 200 && entry.status < 400;
  const copyButton = el("button", { type: "button", className: "copy" }, "Copy as curl");
  copyButton.addEventListener("click", () => copy(command, copyButton));
  const item = el(
    "li",
    { className: ok ? "ok" : "failed", dataset: { testid: "request-entry" } },
    el(
      "details",
      {},
      el(
        "summary",
        {},
        el("span", { className: "method" }, entry.method),
        " ",
        el("span", { className: "path" }, decodeURIComponent(url.pathname + url.search)),
        " → ",
        el("span", { className: "status" }, entry.status || "failed"),
        ` (${entry.ms} ms)`,
      ),
      el("h3", {}, "Request"),
      el("pre", {}, `${entry.method} ${entry.url}`),
      entry.body !== undefined ? el("pre", {}, shown(entry.body)) : null,
      el("h3", {}, `Response ${entry.status}${entry.etag ? ` (ETag ${entry.etag})` : ""}`),
      el("pre", {}, shown(entry.answer)),
      copyButton,
      el("pre", { className: "curl", dataset: { testid: "curl" } }, command),
    ),
  );
  list.prepend(item);
  while (list.children.length > MAX_ENTRIES) list.lastElementChild.remove();
}
