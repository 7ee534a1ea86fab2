// The web console served by graphsec (docs/console.md), driven in Debian's Chromium through
// playwright-core against a real server: sign in with a token, list, filter, sort, page, open,
// edit and save, a 412 from a second tab, create, delete and the history. Screenshots of the
// main views go to target/ci-artifacts/console/.
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { after, before, test } = require("node:test");

const { COLLECTION, GraphsecServer, newTenant } = require("./harness");

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => fs.existsSync(p));
const skip = !CHROMIUM && !process.env.CI && "needs Debian's chromium (apt install chromium)";
const SHOTS = path.join(__dirname, "..", "..", "target", "ci-artifacts", "console");
const TAGS = ["HVA", "VIP", "Finance"];

const shared = {};

before(async () => {
  if (skip) return;
  shared.server = await new GraphsecServer({ tlsDir: null }).start();
  shared.tenant = newTenant();
  shared.token = shared.server.token(shared.tenant);
  for (let n = 1; n <= 25; n++) {
    const id = `p${String(n).padStart(2, "0")}`;
    const created = await api("POST", COLLECTION, {
      id,
      displayName: `User ${String.fromCharCode(64 + n)}`,
      userPrincipalName: `${id}@contoso.com`,
      riskScore: String((n * 7) % 101),
      tags: [TAGS[n % 3]],
      accounts: [{ displayName: id, service: "Azure Active Directory", status: n % 5 ? "active" : "suspended" }],
    });
    assert.equal(created.status, 201);
  }
  fs.mkdirSync(SHOTS, { recursive: true });
  const { chromium } = require("playwright-core");
  shared.browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});

after(async () => {
  await shared.browser?.close();
  await shared.server?.close();
});

async function api(method, target, body, token = shared.token) {
  const response = await fetch(`${shared.server.origin}/beta${target}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null };
}

const by = (page, id) => page.getByTestId(id);

async function signedIn(context) {
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(String(error)));
  // Answers such as the 412 provoked here are logged by the browser as failed loads: expected.
  page.on("console", (message) => {
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) problems.push(message.text());
  });
  page.problems = problems;
  await page.goto(`${shared.server.origin}/`);
  await by(page, "token-input").fill(shared.token);
  await by(page, "token-input").press("Enter");
  await page.waitForFunction(() => document.querySelector("[data-testid=total-count]").textContent.includes("in all"));
  return page;
}

async function ids(page) {
  return page.$$eval("[data-testid=profiles-table] tbody tr[data-testid^=row-]", (rows) =>
    rows.map((r) => r.dataset.testid.slice(4)),
  );
}

async function waitForText(page, testid, text) {
  await page.waitForFunction(
    ([id, wanted]) => document.querySelector(`[data-testid=${id}]`)?.textContent.includes(wanted),
    [testid, text],
  );
}

test("the console signs in, lists, filters, sorts, pages, edits, resolves a 412, creates, deletes and shows the history", { skip, timeout: 60000 }, async () => {
  const context = await shared.browser.newContext({ viewport: { width: 1280, height: 800 } });
  // Before signing in: a 401 tells the user what to do.
  const page = await signedIn(context);
  await waitForText(page, "session-tenant", shared.tenant);
  await waitForText(page, "session-access", "read and write");
  assert.match(await by(page, "session-expiry").textContent(), /expires \d{4}-\d\d-\d\dT/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem("graphsec.token")), shared.token);
  assert.equal(await page.evaluate(() => localStorage.length), 0, "the token is kept in sessionStorage only");

  await waitForText(page, "total-count", "25 in all");
  assert.equal((await ids(page)).length, 20);
  await page.screenshot({ path: path.join(SHOTS, "list.png") });

  // Paging follows @odata.nextLink.
  await by(page, "next-page").click();
  await page.waitForFunction(() => document.querySelectorAll("tr[data-testid^=row-]").length === 5);
  assert.deepEqual(await ids(page), ["p21", "p22", "p23", "p24", "p25"]);
  assert.equal(await by(page, "next-page").isDisabled(), true);

  // Sorting by a column header; a second click reverses it.
  await by(page, "sort-displayName").click();
  await page.waitForFunction(() => document.querySelector("tr[data-testid^=row-]")?.dataset.testid === "row-p01");
  await by(page, "sort-displayName").click();
  await page.waitForFunction(() => document.querySelector("tr[data-testid^=row-]")?.dataset.testid === "row-p25");
  assert.equal(await page.getAttribute("th[aria-sort=descending] button", "data-testid"), "sort-displayName");

  // A filter runs on Enter; a bad one shows the server's message with the position marked.
  await by(page, "filter-input").fill("startswith(id, 'p0')");
  await by(page, "filter-input").press("Enter");
  await waitForText(page, "total-count", "9 in all");
  await by(page, "filter-input").fill("displayName eq 'x' and");
  await by(page, "filter-input").press("Enter");
  await page.waitForSelector("[data-testid=filter-error]:not([hidden])");
  const error = await by(page, "filter-error").textContent();
  assert.match(error, /Invalid \$filter: .* at position \d+/);
  assert.equal(await page.locator("[data-testid=filter-error] mark").count(), 1);
  await page.screenshot({ path: path.join(SHOTS, "filter-error.png") });

  // Quick filters build the $filter: a tag and a risk range.
  await page.fill("#quick-tag", "HVA");
  await page.fill("#quick-risk-min", "0");
  await page.fill("#quick-risk-max", "50");
  await page.click("#quick button[type=submit]");
  await page.waitForSelector("[data-testid=filter-error][hidden]", { state: "attached" });
  const quick = await ids(page);
  const expected = [];
  for (let n = 1; n <= 25; n++) if (n % 3 === 0 && (n * 7) % 101 <= 50) expected.push(`p${String(n).padStart(2, "0")}`);
  await page.waitForFunction((count) => document.querySelectorAll("tr[data-testid^=row-]").length === count, expected.length);
  assert.deepEqual((await ids(page)).sort(), expected.sort(), `quick filter: ${quick}`);
  await page.click("#quick-clear");
  await waitForText(page, "total-count", "25 in all");
  await by(page, "sort-id").click();
  await page.waitForFunction(() => document.querySelector("tr[data-testid^=row-]")?.dataset.testid === "row-p01");

  // Open, edit and save with If-Match.
  await page.click("[data-testid=row-p03] button");
  await page.waitForSelector("[data-testid=profile-detail]:not([hidden]) [data-testid=edit-displayName]");
  await by(page, "edit-displayName").fill("Renamed in the console");
  await by(page, "edit-riskScore").fill("88");
  await by(page, "edit-tags").fill("HVA, Watchlist");
  await by(page, "save").click();
  await page.waitForSelector("#detail-title:text('Renamed in the console')");
  const saved = await api("GET", `${COLLECTION}/p03`);
  assert.equal(saved.json.displayName, "Renamed in the console");
  assert.equal(saved.json.riskScore, "88");
  assert.deepEqual(saved.json.tags, ["HVA", "Watchlist"]);
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=audit-entry]").length >= 2);
  const audit = await page.$$eval("[data-testid=audit-entry] .op", (ops) => ops.map((o) => o.textContent));
  assert.deepEqual(audit, ["update", "create"], "newest first");
  assert.match(await by(page, "audit-list").textContent(), /displayName, riskScore, tags/);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(SHOTS, "detail.png") });

  // A second tab saves first: this tab's save is a 412, showing both versions.
  const other = await signedIn(context);
  await other.click("[data-testid=row-p03] button");
  await other.waitForSelector("[data-testid=edit-displayName]");
  await by(other, "edit-displayName").fill("Changed in another tab");
  await by(other, "save").click();
  await other.waitForSelector("#detail-title:text('Changed in another tab')");
  await by(page, "edit-displayName").fill("My late change");
  await by(page, "save").click();
  await page.waitForSelector("[data-testid=conflict]");
  assert.match(await by(page, "conflict-theirs").textContent(), /Changed in another tab/);
  assert.match(await by(page, "conflict-mine").textContent(), /My late change/);
  await by(page, "conflict").screenshot({ path: path.join(SHOTS, "conflict.png") });
  await by(page, "conflict-overwrite").click();
  await page.waitForSelector("#detail-title:text('My late change')");
  assert.equal((await api("GET", `${COLLECTION}/p03`)).json.displayName, "My late change");
  await other.close();

  // Create, then delete with a confirmation.
  await by(page, "create").click();
  await by(page, "edit-id").fill("made-here");
  await by(page, "edit-displayName").fill("Made in the console");
  await by(page, "edit-tags").fill("VIP");
  await by(page, "save").click();
  await page.waitForSelector("#detail-title:text('Made in the console')");
  assert.equal((await api("GET", `${COLLECTION}/made-here`)).status, 200);
  await by(page, "delete").click();
  await by(page, "confirm-delete").click();
  await waitForText(page, "profile-detail", "Deleted made-here");
  assert.equal((await api("GET", `${COLLECTION}/made-here`)).status, 404);

  // What went over the wire, with a curl command that names $TOKEN, never the token itself.
  const log = await by(page, "request-log").textContent();
  assert.match(log, /DELETE \/beta\/security\/userSecurityProfiles\/made-here → 204/);
  const curl = await page.locator("[data-testid=curl]", { hasText: "-X DELETE" }).first().textContent();
  assert.match(curl, /^curl -sS -X DELETE 'http:\/\/127\.0\.0\.1:\d+\/beta\/security\/userSecurityProfiles\/made-here'/);
  assert.ok(curl.includes("Bearer $TOKEN") && curl.includes("If-Match") && !curl.includes(shared.token), curl);

  // A narrow window still shows the table and the panel, one above the other.
  await page.click("[data-testid=row-p01] button");
  await page.waitForSelector("#detail-title:text('User A')");
  await page.setViewportSize({ width: 420, height: 800 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(SHOTS, "narrow.png"), fullPage: false });
  assert.deepEqual(page.problems, [], "no script errors and no policy violations");
  await context.close();
});

test("a read-only token sees the profiles but may not save", { skip, timeout: 30000 }, async () => {
  const context = await shared.browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${shared.server.origin}/console/`);
  await waitForText(page, "session-status", "Not signed in");
  await by(page, "token-input").fill(shared.server.token(shared.tenant, "SecurityEvents.Read.All"));
  await by(page, "token-input").press("Enter");
  await waitForText(page, "session-access", "read only");
  await waitForText(page, "total-count", "in all");
  await page.click("[data-testid=row-p02] button");
  await page.waitForSelector("[data-testid=save]");
  assert.equal(await by(page, "save").isDisabled(), true);
  assert.equal(await by(page, "delete").isDisabled(), true);
  await context.close();
});
