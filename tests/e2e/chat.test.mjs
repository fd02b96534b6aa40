// Issue "Everyday use", chat notifications: a stack's plain-JSON webhook set
// through its chat settings (a bad URL refused beside the field, nothing
// written), a test message, then a release waiting for approval at prod is
// posted to the webhook with its commit, and the decision after it.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import {
  axeFindings, byTestId, click, commit, invoke, makeHome, makeRepo, motoUrl, openApp, resetMoto, settingsInput, shot,
  stageView, startDriver, stopDriver, type, useTheme, waitFor,
} from "./support.mjs";

let home, driver, browser, repo, server, hookUrl;
/** Every body the webhook received, parsed. */
const received = [];
const minute = 60000;
const SECRET = "T000/B000/e2e-secret-token";

before(async () => {
  await resetMoto();
  home = makeHome("chat");
  repo = makeRepo(home);
  // The webhook: a real HTTP server on loopback that keeps what it is sent.
  server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      try {
        received.push({ path: request.url, type: request.headers["content-type"], body: JSON.parse(body) });
      } catch {
        received.push({ path: request.url, body: null });
      }
      response.writeHead(200, { "content-type": "text/plain" }).end("ok");
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  hookUrl = `http://127.0.0.1:${server.address().port}/hooks/${SECRET}`;
  driver = await startDriver(home);
  browser = await openApp();
});

after(async () => {
  server?.close();
  if (browser) await browser.deleteSession().catch(() => {});
  if (driver) await stopDriver(driver, home);
});

const events = (name) => received.filter((r) => r.body?.event === name);

test("a stack's JSON webhook hears of the release waiting for approval at prod, with its commit", async () => {
  const account = await invoke(browser, "create_account", {
    input: { name: "Local sandbox", defaultRegion: "us-east-1", endpointUrl: motoUrl(), credentials: { kind: "keys", accessKeyId: "AKIDCHAT", secretAccessKey: "chat-secret", sessionToken: null } },
  });
  const stack = await invoke(browser, "create_stack", {
    input: { name: "shop", repository: repo, branch: "main", accountId: account.id, pollIntervalSecs: 30 },
  });
  const dev = await stageView(browser, "shop", "dev");
  await invoke(browser, "create_stage", {
    stackId: stack.id,
    after: dev.stage.id,
    settings: settingsInput(dev.stage.settings, { name: "prod", requiresApproval: true }),
  });

  // The stack's chat settings: no webhook yet.
  await click(browser, "chat-shop");
  await waitFor(browser, "the chat settings show no webhook", async () =>
    (await (await byTestId(browser, "chat-status")).getText()).includes("No webhook is set"));
  await click(browser, "chat-kind-json");

  // Plain http to another machine is refused beside the field, and nothing is kept.
  await type(browser, "chat-url", "http://example.com/hook");
  await click(browser, "chat-save");
  await waitFor(browser, "the URL is refused beside its field", async () => (await byTestId(browser, "error-chat-url")).isExisting());
  assert.match(await (await byTestId(browser, "error-chat-url")).getText(), /https:\/\//);
  assert.deepEqual(await invoke(browser, "chat_webhook", { stackId: stack.id }), { kind: null, host: null });

  // The loopback server is accepted; the window shows its host, never the URL.
  await type(browser, "chat-url", hookUrl);
  await click(browser, "chat-save");
  await waitFor(browser, "the webhook is set", async () =>
    (await (await byTestId(browser, "chat-status")).getText()).includes(`127.0.0.1:${server.address().port}`));
  const view = await invoke(browser, "chat_webhook", { stackId: stack.id });
  assert.deepEqual(view, { kind: "json", host: `127.0.0.1:${server.address().port}` });
  assert.ok(!(await browser.getPageSource()).includes(SECRET), "the page never holds the URL");

  await click(browser, "chat-test");
  await waitFor(browser, "the test message arrived", async () => events("test").length === 1);
  assert.equal(events("test")[0].path, `/hooks/${SECRET}`);
  assert.equal(events("test")[0].type, "application/json");
  assert.equal(events("test")[0].body.stack, "shop");
  await waitFor(browser, "the window says it was sent", async () =>
    (await (await byTestId(browser, "chat-outcome")).getText()).startsWith("Sent to"));
  await shot(browser, "chat-01-settings");
  for (const theme of ["light", "dark"]) assert.deepEqual(await axeFindings(browser, theme), [], `the chat settings, ${theme} theme`);
  await useTheme(browser, "dark");
  await shot(browser, "chat-01-settings-dark");
  await useTheme(browser, "light");
  await browser.keys(["Escape"]);

  // A commit flows to dev and waits at prod: the webhook hears of it, with the commit.
  const sha = commit(repo, "app.js", "// v1.1\n", "Show prices in euros");
  await waitFor(browser, "prod awaits approval of the commit", async () =>
    (await stageView(browser, "shop", "prod"))?.pendingApproval?.release.commit.sha === sha, 2 * minute);
  await waitFor(browser, "the approval request reached the webhook", async () =>
    events("approval_requested").some((e) => e.body.release?.sha === sha), 30000);
  const asked = events("approval_requested").find((e) => e.body.release.sha === sha).body;
  assert.equal(asked.stack, "shop");
  assert.equal(asked.stage, "prod");
  assert.equal(asked.release.message, "Show prices in euros");
  assert.equal(asked.release.author, "Ada");
  assert.equal(asked.commits[0].sha, sha);

  // Approving it is posted too, with who decided and the comment.
  const approval = (await stageView(browser, "shop", "prod")).pendingApproval.approval;
  await invoke(browser, "decide", { approvalId: approval.id, approve: true, comment: "ship it" });
  await waitFor(browser, "the decision reached the webhook", async () => events("approval_decided").length === 1, 30000);
  const decided = events("approval_decided")[0].body;
  assert.equal(decided.decision, "approved");
  assert.equal(decided.comment, "ship it");
  assert.equal(decided.release.sha, sha);
  await shot(browser, "chat-02-approved");

  // The URL is in no file of the app's data folder (SQLite, logs): only in the keychain.
  const data = join(home, "data");
  const files = readdirSync(data, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
  for (const file of files) {
    const path = join(file.parentPath ?? file.path, file.name);
    assert.ok(!readFileSync(path).includes(SECRET), `${path} holds the webhook URL`);
  }
});
