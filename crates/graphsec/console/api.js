// Every call the console makes goes through `call`: it adds the user's token, and shows the request
// and its answer in the request log.
import { record } from "./requestlog.js";

const STORAGE_KEY = "graphsec.token";

export const session = {
  token: sessionStorage.getItem(STORAGE_KEY) || "",
  // Learned from the first answer: true when the server asked for no token (--auth off).
  authOff: false,
};

export function setToken(token) {
  session.token = token;
  if (token) sessionStorage.setItem(STORAGE_KEY, token);
  else sessionStorage.removeItem(STORAGE_KEY);
}

export const COLLECTION = "/beta/security/userSecurityProfiles";

export function itemPath(id) {
  return `${COLLECTION}/${encodeURIComponent(id)}`;
}

export function historyPath(id) {
  return `/_graphsec/profiles/${encodeURIComponent(id)}/history`;
}

// Calls the API; `url` is a path or an absolute URL of this server (an @odata.nextLink).
export async function call(method, url, { body, headers = {} } = {}) {
  const sent = { ...headers };
  if (session.token) sent.Authorization = `Bearer ${session.token}`;
  let text;
  if (body !== undefined) {
    sent["Content-Type"] = "application/json";
    text = JSON.stringify(body);
  }
  const absolute = new URL(url, location.origin);
  const started = performance.now();
  let response;
  try {
    response = await fetch(absolute, { method, headers: sent, body: text, cache: "no-store" });
  } catch (error) {
    record({ method, url: absolute.href, headers: sent, body: text, status: 0, answer: String(error), ms: 0 });
    return { status: 0, ok: false, json: null, text: String(error), headers: new Headers() };
  }
  const answer = await response.text();
  let json = null;
  try {
    json = answer ? JSON.parse(answer) : null;
  } catch {
    json = null;
  }
  record({
    method,
    url: absolute.href,
    headers: sent,
    body: text,
    status: response.status,
    answer,
    etag: response.headers.get("ETag"),
    ms: Math.round(performance.now() - started),
  });
  return { status: response.status, ok: response.ok, json, text: answer, headers: response.headers };
}

// The message of a Graph error answer.
export function errorMessage(result) {
  const error = result.json && result.json.error;
  if (error && error.message) return `${result.status} ${error.code}: ${error.message}`;
  return `${result.status} ${result.text || "no answer"}`;
}
