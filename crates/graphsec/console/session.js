// Signing in: the token is kept in sessionStorage only, and what the console shows of it (tenant,
// permissions, expiry) is read from its own claims; the server decides what it may really do.
import { $, el, clear } from "./dom.js";
import { call, COLLECTION, errorMessage, session, setToken } from "./api.js";

const WRITE = "SecurityEvents.ReadWrite.All";
const READ = "SecurityEvents.Read.All";

// The claims of a JWT, unverified: only shown to the user.
export function claims(token) {
  try {
    const part = token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/");
    const padded = part + "=".repeat((4 - (part.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

function permissions(claim) {
  const roles = Array.isArray(claim.roles) ? claim.roles : [];
  const scopes = typeof claim.scp === "string" ? claim.scp.split(" ") : [];
  return [...roles, ...scopes];
}

export function canWrite() {
  if (session.authOff) return true;
  const claim = claims(session.token);
  return Boolean(claim && permissions(claim).includes(WRITE));
}

function describe() {
  const status = $("#session-status");
  clear(status);
  if (session.authOff) {
    status.append(el("strong", {}, "Authentication is off"), " (--auth off): every tenant, read and write.");
    return;
  }
  const claim = claims(session.token);
  if (!claim) {
    status.append("Not signed in: paste a token (graphsec token --tenant T).");
    return;
  }
  const perms = permissions(claim);
  const access = perms.includes(WRITE) ? "read and write" : perms.includes(READ) ? "read only" : "no access";
  const expires = claim.exp ? new Date(claim.exp * 1000) : null;
  const left = expires ? Math.round((expires - Date.now()) / 60000) : null;
  status.append(
    "Tenant ",
    el("code", { dataset: { testid: "session-tenant" } }, claim.tid || "?"),
    " · ",
    el("span", { dataset: { testid: "session-access" } }, access),
    ` (${claim.roles ? "roles" : "scp"}: ${perms.join(" ") || "none"})`,
    expires
      ? el(
          "span",
          { dataset: { testid: "session-expiry" } },
          ` · expires ${expires.toISOString().replace(".000", "")}${left < 0 ? " (expired)" : ` (in ${left} min)`}`,
        )
      : "",
  );
}

// Finds out whether the server needs a token, then shows the session. Resolves true when the
// console can read profiles.
export async function start(onChange) {
  const form = $("#session");
  const input = $("#token");
  const signOut = $("#sign-out");
  const refresh = async () => {
    signOut.hidden = !session.token;
    describe();
    await onChange();
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    setToken(token);
    input.value = "";
    await refresh();
  });
  signOut.addEventListener("click", async () => {
    setToken("");
    await refresh();
  });
  if (!session.token) {
    const probe = await call("GET", `${COLLECTION}?$top=1`);
    session.authOff = probe.ok;
    if (session.authOff) form.classList.add("auth-off");
  }
  signOut.hidden = !session.token;
  describe();
}

export function reportFailure(result) {
  if (result.status !== 401) return;
  $("#session-status").textContent = session.token
    ? `Sign in again: ${errorMessage(result)}`
    : "Not signed in: paste a token (graphsec token --tenant T).";
}
