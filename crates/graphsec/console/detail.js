// One profile: every property to read, an edit form saved with If-Match (a 412 shows both
// versions), delete with a confirmation, the raw JSON, and its history. Also the form that
// creates a profile.
import { $, el, clear, field, pretty } from "./dom.js";
import { call, COLLECTION, errorMessage, itemPath } from "./api.js";
import { canWrite, reportFailure } from "./session.js";
import { historySection } from "./history.js";

const READ_ONLY = new Set(["id", "createdDateTime", "lastModifiedDateTime"]);
const VENDOR = ["provider", "providerVersion", "subProvider", "vendor"];
let onChanged = () => {};
let current = null; // the profile as last read, with its @odata.etag

const panel = () => $("#detail");

function status(text, failed = true) {
  const box = $("#detail-status");
  if (!box) return;
  box.textContent = text;
  box.className = failed ? "error" : "note";
  box.hidden = !text;
}

function value(v) {
  if (v === null || v === undefined) return el("span", { className: "null" }, "null");
  if (typeof v === "object") return el("pre", {}, pretty(v));
  return String(v);
}

function accountsTable(accounts) {
  if (!accounts.length) return "none";
  const columns = ["displayName", "service", "signinName", "status", "riskScore", "lastSeenDateTime"];
  return el(
    "table",
    { className: "accounts" },
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col" }, c)))),
    el("tbody", {}, accounts.map((a) => el("tr", {}, columns.map((c) => el("td", {}, a[c] ?? ""))))),
  );
}

function properties(profile) {
  const list = el("dl", { className: "properties" });
  for (const [name, v] of Object.entries(profile)) {
    if (name.startsWith("@odata.")) continue;
    let shown = value(v);
    if (name === "tags") shown = v.length ? v.map((t) => el("span", { className: "tag" }, t)) : "none";
    if (name === "accounts") shown = accountsTable(v);
    list.append(el("dt", {}, name), el("dd", { dataset: { property: name } }, shown));
  }
  return list;
}

function input(id, v, props = {}) {
  return el("input", { id, value: v ?? "", autocomplete: "off", spellcheck: false, dataset: { testid: id }, ...props });
}

// The form's members, in the shape a PATCH (or POST) takes.
function formValues(creating) {
  const text = (id) => $(`#${id}`).value.trim();
  const body = {};
  if (creating) {
    if (text("edit-id")) body.id = text("edit-id");
    if (text("edit-userPrincipalName")) body.userPrincipalName = text("edit-userPrincipalName");
  }
  body.displayName = text("edit-displayName") || null;
  body.riskScore = text("edit-riskScore") || null;
  body.tags = text("edit-tags") ? text("edit-tags").split(",").map((t) => t.trim()).filter(Boolean) : [];
  body.accounts = JSON.parse(text("edit-accounts") || "[]");
  const vendor = Object.fromEntries(VENDOR.map((m) => [m, text(`edit-vendor-${m}`) || null]));
  body.vendorInformation = Object.values(vendor).some((v) => v !== null) ? vendor : null;
  return body;
}

// Only the members that differ from the profile as read: the audit trail then names just those.
function changes(edited, profile) {
  return Object.fromEntries(
    Object.entries(edited).filter(([name, v]) => JSON.stringify(v) !== JSON.stringify(profile[name] ?? null)),
  );
}

function editForm(profile, creating) {
  const vendor = profile.vendorInformation || {};
  const writable = canWrite();
  const form = el(
    "form",
    { className: "edit", "aria-label": creating ? "New profile" : "Edit profile" },
    creating ? field("Id (empty: the server makes one)", input("edit-id", "")) : null,
    creating ? field("User principal name", input("edit-userPrincipalName", "")) : null,
    field("Display name", input("edit-displayName", profile.displayName)),
    field("Risk score", input("edit-riskScore", profile.riskScore, { inputMode: "numeric" })),
    field("Tags (comma-separated)", input("edit-tags", (profile.tags || []).join(", "))),
    field(
      "Accounts (JSON array)",
      el("textarea", { id: "edit-accounts", rows: 5, spellcheck: false, dataset: { testid: "edit-accounts" }, value: pretty(profile.accounts || []) }),
    ),
    el(
      "fieldset",
      { className: "vendor" },
      el("legend", {}, "Vendor information"),
      VENDOR.map((m) => field(m, input(`edit-vendor-${m}`, vendor[m]))),
    ),
    el("button", { type: "submit", dataset: { testid: "save" }, disabled: !writable }, creating ? "Create" : "Save"),
    writable ? null : el("p", { className: "hint" }, "This token may only read."),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    let edited;
    try {
      edited = formValues(creating);
    } catch (error) {
      status(`Accounts: ${error.message}`);
      return;
    }
    if (creating) createProfile(edited);
    else save(changes(edited, profile), profile["@odata.etag"], edited);
  });
  return form;
}

function rawJson(profile) {
  const area = el("textarea", { id: "raw-json", rows: 16, spellcheck: false, dataset: { testid: "raw-json" }, value: pretty(profile) });
  const button = el("button", { type: "button", dataset: { testid: "save-json" }, disabled: !canWrite() }, "Save JSON");
  button.addEventListener("click", () => {
    let edited;
    try {
      edited = JSON.parse(area.value);
    } catch (error) {
      status(`Raw JSON: ${error.message}`);
      return;
    }
    const body = {};
    for (const [name, v] of Object.entries(edited)) {
      if (name.startsWith("@odata.") || READ_ONLY.has(name)) continue;
      if (JSON.stringify(v) !== JSON.stringify(profile[name])) body[name] = v;
    }
    for (const name of Object.keys(profile)) {
      if (!(name in edited) && !name.startsWith("@odata.") && !READ_ONLY.has(name)) body[name] = null;
    }
    save(body, profile["@odata.etag"], body);
  });
  return el(
    "details",
    { className: "raw" },
    el("summary", {}, "Raw JSON (view and edit)"),
    el("label", { htmlFor: "raw-json" }, "The profile as JSON; members left out are removed"),
    area,
    button,
  );
}

function deleteControls(profile) {
  const confirmBox = el(
    "div",
    { className: "confirm", role: "alertdialog", "aria-label": "Confirm delete", hidden: true },
    el("p", {}, `Delete ${profile.id}? This cannot be undone.`),
  );
  const yes = el("button", { type: "button", className: "danger", dataset: { testid: "confirm-delete" } }, "Delete it");
  const no = el("button", { type: "button" }, "Keep it");
  confirmBox.append(yes, " ", no);
  const ask = el("button", { type: "button", className: "danger", dataset: { testid: "delete" }, disabled: !canWrite() }, "Delete…");
  ask.addEventListener("click", () => {
    confirmBox.hidden = false;
    no.focus();
  });
  no.addEventListener("click", () => (confirmBox.hidden = true));
  yes.addEventListener("click", async () => {
    const result = await call("DELETE", itemPath(profile.id), { headers: { "If-Match": profile["@odata.etag"] } });
    if (result.status === 204) {
      close(`Deleted ${profile.id}.`);
      onChanged();
    } else if (result.status === 412) {
      confirmBox.hidden = true;
      status("The profile changed since it was read (412): it was not deleted. Reload it first.");
    } else {
      status(errorMessage(result));
    }
  });
  return el("div", { className: "actions" }, ask, confirmBox);
}

function render(profile) {
  current = profile;
  const box = clear(panel());
  box.hidden = false;
  const closeButton = el("button", { type: "button", className: "close", "aria-label": "Close the profile" }, "×");
  closeButton.addEventListener("click", () => close(""));
  const history = historySection(profile.id);
  box.append(
    el("div", { className: "panel-head" }, el("h2", { id: "detail-title", tabIndex: -1 }, profile.displayName || profile.id), closeButton),
    el("p", { className: "hint" }, `id ${profile.id} · version ${profile["@odata.etag"]}`),
    el("div", { id: "detail-status", role: "alert", hidden: true }),
    el("div", { id: "conflict-slot" }),
    el("h3", {}, "Properties"),
    properties(profile),
    el("h3", {}, "Edit"),
    editForm(profile, false),
    deleteControls(profile),
    rawJson(profile),
    history.section,
  );
  history.reload();
}

function close(message) {
  current = null;
  const box = clear(panel());
  box.hidden = !message;
  if (message) box.append(el("p", { className: "note", dataset: { testid: "detail-message" } }, message));
}

async function save(body, etag, mine) {
  if (!Object.keys(body).length) {
    status("Nothing changed.", false);
    return;
  }
  const result = await call("PATCH", itemPath(current.id), { body, headers: { "If-Match": etag } });
  if (result.ok) {
    render(result.json);
    status("Saved.", false);
    onChanged();
  } else if (result.status === 412) {
    await conflict(body, mine);
  } else {
    reportFailure(result);
    status(errorMessage(result));
  }
}

// Someone else changed the profile: show their version beside these changes, and let the user
// take theirs or write these over it.
async function conflict(body, mine) {
  const id = current.id;
  const latest = await call("GET", itemPath(id));
  if (!latest.ok) {
    status(errorMessage(latest));
    return;
  }
  const slot = clear($("#conflict-slot"));
  const reload = el("button", { type: "button", dataset: { testid: "conflict-reload" } }, "Reload (drop my changes)");
  const overwrite = el("button", { type: "button", className: "danger", dataset: { testid: "conflict-overwrite" } }, "Overwrite with my changes");
  reload.addEventListener("click", () => render(latest.json));
  overwrite.addEventListener("click", () => save(body, latest.json["@odata.etag"], mine));
  slot.append(
    el(
      "div",
      { className: "conflict", role: "alert", dataset: { testid: "conflict" } },
      el("h3", {}, "Changed by someone else (412)"),
      el("p", {}, `The profile is now at ${latest.json["@odata.etag"]}; these changes were made on ${current["@odata.etag"]}.`),
      el(
        "div",
        { className: "versions" },
        el("div", {}, el("h4", {}, "My changes"), el("pre", { dataset: { testid: "conflict-mine" } }, pretty(body))),
        el("div", {}, el("h4", {}, "On the server now"), el("pre", { dataset: { testid: "conflict-theirs" } }, pretty(latest.json))),
      ),
      reload,
      " ",
      overwrite,
    ),
  );
  reload.focus();
}

async function createProfile(body) {
  const result = await call("POST", COLLECTION, { body });
  if (result.status === 201) {
    render(result.json);
    status(`Created ${result.json.id}.`, false);
    onChanged();
  } else {
    reportFailure(result);
    status(errorMessage(result));
  }
}

export async function open(id) {
  const result = await call("GET", itemPath(id));
  if (!result.ok) {
    reportFailure(result);
    close(errorMessage(result));
    return;
  }
  render(result.json);
  $("#detail-title").focus?.();
}

export function create() {
  current = null;
  const box = clear(panel());
  box.hidden = false;
  const closeButton = el("button", { type: "button", className: "close", "aria-label": "Close" }, "×");
  closeButton.addEventListener("click", () => close(""));
  box.append(
    el("div", { className: "panel-head" }, el("h2", { id: "detail-title" }, "New profile"), closeButton),
    el("div", { id: "detail-status", role: "alert", hidden: true }),
    editForm({ tags: [], accounts: [] }, true),
  );
  $("#edit-id").focus();
}

export function start(options) {
  onChanged = options.onChanged;
}
