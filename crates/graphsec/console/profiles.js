// The collection: a page of profiles with $filter, $orderby (column headers), $count and paging
// through @odata.nextLink, as a Graph client does it.
import { $, el, clear } from "./dom.js";
import { call, COLLECTION, errorMessage } from "./api.js";
import { reportFailure } from "./session.js";

const PAGE_SIZE = 20;
const COLUMNS = [
  { name: "id", label: "Id", sortable: true },
  { name: "displayName", label: "Display name", sortable: true },
  { name: "userPrincipalName", label: "User principal name", sortable: true },
  { name: "riskScore", label: "Risk", sortable: true },
  { name: "tags", label: "Tags", sortable: false },
  { name: "accounts", label: "Accounts", sortable: false },
  { name: "lastModifiedDateTime", label: "Modified", sortable: true },
];

const state = { filter: "", order: null, descending: false, nextLink: null, page: 1, onOpen: () => {} };

function quote(text) {
  return `'${text.replaceAll("'", "''")}'`;
}

// riskScore is a string: a range of whole scores is matched exactly by listing them.
export function quickFilter({ tag, min, max, status }) {
  const terms = [];
  if (tag) terms.push(`tags/any(t: t eq ${quote(tag)})`);
  if (min !== "" || max !== "") {
    const low = Math.max(0, Number(min === "" ? 0 : min));
    const high = Math.min(100, Number(max === "" ? 100 : max));
    const scores = [];
    for (let n = Math.ceil(low); n <= high; n++) scores.push(quote(String(n)));
    terms.push(scores.length ? `riskScore in (${scores.join(", ")})` : "riskScore eq null and riskScore ne null");
  }
  if (status) terms.push(`accounts/any(a: a/status eq '${status}')`);
  return terms.join(" and ");
}

function url() {
  const params = new URLSearchParams();
  params.set("$count", "true");
  params.set("$top", String(PAGE_SIZE));
  if (state.filter) params.set("$filter", state.filter);
  if (state.order) params.set("$orderby", `${state.order} ${state.descending ? "desc" : "asc"}`);
  return `${COLLECTION}?${params.toString().replaceAll("+", "%20").replaceAll("%24", "$")}`;
}

// The server's message, and the filter with the position it names marked.
function showFilterError(message) {
  const box = $("#filter-error");
  clear(box);
  box.hidden = false;
  box.append(el("p", {}, message));
  const match = /at position (\d+)/.exec(message);
  if (!match) return;
  // The position counts UTF-8 bytes of the filter.
  const bytes = new TextEncoder().encode(state.filter);
  const at = new TextDecoder().decode(bytes.slice(0, Number(match[1]))).length;
  const before = state.filter.slice(0, at);
  const mark = state.filter.slice(at, at + 1) || " ";
  box.append(
    el(
      "pre",
      { className: "filter-text", dataset: { testid: "filter-error-position" } },
      before,
      el("mark", { title: `position ${match[1]}` }, mark),
      state.filter.slice(at + 1),
      "\n",
      " ".repeat(at) + "^",
    ),
  );
}

function header() {
  const row = clear($("#profiles-head"));
  for (const column of COLUMNS) {
    const sorted = state.order === column.name;
    const aria = sorted ? (state.descending ? "descending" : "ascending") : "none";
    if (!column.sortable) {
      row.append(el("th", { scope: "col" }, column.label));
      continue;
    }
    const arrow = sorted ? (state.descending ? " ▼" : " ▲") : "";
    const button = el(
      "button",
      { type: "button", className: "sort", dataset: { testid: `sort-${column.name}` } },
      column.label + arrow,
    );
    button.addEventListener("click", () => {
      state.descending = sorted ? !state.descending : false;
      state.order = column.name;
      load();
    });
    row.append(el("th", { scope: "col", "aria-sort": aria }, button));
  }
}

function cell(profile, name) {
  const value = profile[name];
  if (name === "tags") return (value || []).map((t) => el("span", { className: "tag" }, t));
  if (name === "accounts") return String((value || []).length);
  if (name === "lastModifiedDateTime") return value ? value.slice(0, 19).replace("T", " ") : "";
  return value === null || value === undefined ? "" : String(value);
}

function rows(profiles) {
  const body = clear($("#profiles-body"));
  if (!profiles.length) {
    body.append(el("tr", {}, el("td", { colSpan: COLUMNS.length, className: "empty" }, "No profiles.")));
  }
  for (const profile of profiles) {
    const open = el("button", { type: "button", className: "link", title: "Open" }, profile.id);
    open.addEventListener("click", () => state.onOpen(profile.id));
    const cells = COLUMNS.map((c) => el("td", { dataset: { column: c.name } }, c.name === "id" ? open : cell(profile, c.name)));
    body.append(el("tr", { dataset: { testid: `row-${profile.id}` } }, cells));
  }
}

async function show(target) {
  const result = await call("GET", target);
  if (!result.ok) {
    reportFailure(result);
    if (result.status === 400 && state.filter) showFilterError(result.json?.error?.message || errorMessage(result));
    else $("#page-info").textContent = errorMessage(result);
    return;
  }
  $("#filter-error").hidden = true;
  const page = result.json;
  if (page["@odata.count"] !== undefined) $("#total-count").textContent = `${page["@odata.count"]} in all`;
  state.nextLink = page["@odata.nextLink"] || null;
  $("#next-page").disabled = !state.nextLink;
  $("#first-page").disabled = state.page === 1;
  $("#page-info").textContent = `Page ${state.page}`;
  rows(page.value);
}

export async function load() {
  state.page = 1;
  header();
  await show(url());
}

export function start(onOpen) {
  state.onOpen = onOpen;
  $("#filter-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.filter = $("#filter").value.trim();
    load();
  });
  $("#quick").addEventListener("submit", (event) => {
    event.preventDefault();
    const filter = quickFilter({
      tag: $("#quick-tag").value.trim(),
      min: $("#quick-risk-min").value,
      max: $("#quick-risk-max").value,
      status: $("#quick-status").value,
    });
    $("#filter").value = filter;
    state.filter = filter;
    load();
  });
  $("#quick-clear").addEventListener("click", () => {
    $("#quick").reset();
    $("#filter").value = "";
    state.filter = "";
    load();
  });
  $("#next-page").addEventListener("click", () => {
    if (!state.nextLink) return;
    state.page += 1;
    show(state.nextLink);
  });
  $("#first-page").addEventListener("click", load);
  header();
}
