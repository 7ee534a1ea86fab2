// A profile's audit trail, newest first, from GET /_graphsec/profiles/{id}/history.
import { el, clear } from "./dom.js";
import { call, errorMessage, historyPath } from "./api.js";

function entry(record) {
  const changed = record.changed.length ? record.changed.join(", ") : "nothing";
  return el(
    "li",
    { dataset: { testid: "audit-entry" } },
    el("span", { className: `op op-${record.operation}` }, record.operation),
    " ",
    el("time", { dateTime: record.at }, record.at.slice(0, 23).replace("T", " ")),
    " by ",
    el("code", {}, record.caller),
    " via ",
    el("code", {}, record.app || "?"),
    el("div", { className: "changed" }, `Members: ${changed}`),
  );
}

export function historySection(id) {
  const list = el("ol", { className: "audit-list", dataset: { testid: "audit-list" } });
  const more = el("button", { type: "button", hidden: true, dataset: { testid: "audit-more" } }, "Older entries");
  const status = el("p", { className: "hint", "aria-live": "polite" });
  let next = null;
  const load = async (target, replace) => {
    const result = await call("GET", target);
    if (!result.ok) {
      status.textContent = errorMessage(result);
      return;
    }
    if (replace) clear(list);
    for (const record of result.json.value) list.append(entry(record));
    next = result.json["@odata.nextLink"] || null;
    more.hidden = !next;
    status.textContent = list.children.length ? "" : "No audit entries (or they were pruned).";
  };
  more.addEventListener("click", () => next && load(next, false));
  const section = el(
    "section",
    { className: "history", "aria-labelledby": "history-title" },
    el("h3", { id: "history-title" }, "History"),
    status,
    list,
    more,
  );
  return { section, reload: () => load(`${historyPath(id)}?$top=20`, true) };
}
