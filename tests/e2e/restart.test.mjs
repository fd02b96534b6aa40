// Issue "A deploy interrupted at any AWS call resumes after a restart": the
// app is killed (kill -9) while prod's first deploy has created its change
// set but not executed it; started again, prod ends deployed with the
// approved release, and its history shows one run.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { startAwsProxy } from "./aws-proxy.mjs";
import {
  application, commit, deployedSha, invoke, makeHome, makeRepo, motoUrl, openApp, resetMoto, settingsInput, shot,
  stageView, startDriver, stopDriver, waitFor,
} from "./support.mjs";

let home, driver, browser, repo, proxy;
const minute = 60000;

before(async () => {
  await resetMoto();
  home = makeHome("restart");
  repo = makeRepo(home);
  proxy = await startAwsProxy(motoUrl());
  driver = await startDriver(home);
  browser = await openApp();
});

after(async () => {
  if (browser) await browser.deleteSession().catch(() => {});
  if (driver) await stopDriver(driver, home);
  proxy?.close();
});

test("killed between creating prod's change set and executing it, the app finishes the approved deploy once", async () => {
  const account = await invoke(browser, "create_account", {
    input: { name: "Sandbox behind a proxy", defaultRegion: "us-east-1", endpointUrl: proxy.url, credentials: { kind: "keys", accessKeyId: "AKIDRESTART", secretAccessKey: "restart-secret", sessionToken: null } },
  });
  const stack = await invoke(browser, "create_stack", {
    input: { name: "shop", repository: repo, branch: "main", accountId: account.id, pollIntervalSecs: 30 },
  });
  const dev = await stageView(browser, "shop", "dev");
  await invoke(browser, "create_stage", {
    stackId: stack.id, after: dev.stage.id, settings: settingsInput(dev.stage.settings, { name: "prod", requiresApproval: true }),
  });
  const release = commit(repo, "app.js", "// v2\n", "Checkout in one step");
  await waitFor(browser, "prod awaits approval", async () =>
    (await stageView(browser, "shop", "prod")).pendingApproval?.release.commit.sha === release, 3 * minute);

  // Approve; the app dies right after prod's change set exists, before it runs.
  proxy.holdWhen((body) => body.includes("Action=ExecuteChangeSet") && body.includes("StackName=shop-prod"));
  const { pendingApproval } = await stageView(browser, "shop", "prod");
  await invoke(browser, "decide", { approvalId: pendingApproval.approval.id, approve: true, comment: "ship it" });
  await waitFor(browser, "prod's deploy reaches ExecuteChangeSet", async () => proxy.held > 0, 2 * minute);
  await shot(browser, "restart-01-before-the-crash");
  execFileSync("pkill", ["-KILL", "-f", application]);
  await browser.deleteSession().catch(() => {});
  proxy.release();

  browser = await openApp();
  try {
    await waitFor(browser, "prod runs the approved release", async () => (await deployedSha(browser, "shop", "prod")) === release, 3 * minute);
  } catch (error) {
    const prod = await stageView(browser, "shop", "prod");
    console.log(JSON.stringify(await invoke(browser, "run_history", { stageId: prod.stage.id }), null, 1));
    throw error;
  }
  const prod = await stageView(browser, "shop", "prod");
  const history = await invoke(browser, "run_history", { stageId: prod.stage.id });
  assert.equal(history.length, 1, "one run of prod");
  assert.equal(history[0].run.status, "succeeded");
  assert.equal(history[0].release.commit.sha, release);
  await shot(browser, "restart-02-prod-deployed-after-restart");
});
