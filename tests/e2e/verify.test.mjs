// Issue "Promote only what works": the canary recipe with verification.
// canary's health check fails → canary rolls back to its previous image by
// itself and prod is never offered the release; fixed, the next commit passes
// verify and prod is offered it. The stage URL is on the card; a frozen stack
// refuses an approval with the freeze reason.
//
// moto runs no service: its stand-in (.ci/moto_server.py, item 5) answers the
// health checks for the names moto gave the stages, 200 unless told otherwise.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  byTestId, click, commit, deployedSha, invoke, makeHome, makeRepo, motoUrl, openApp, PUSH_IMAGE, settingsInput, shot,
  stageView, startDriver, stopDriver, resetMoto, TAG_IMAGE, type, waitFor,
} from "./support.mjs";

const BUILD = `version: 0.2
phases:
  build:
    commands:
${PUSH_IMAGE}`;
const RELEASE = `version: 0.2
phases:
  build:
    commands:
${TAG_IMAGE}`;

let home, driver, browser, repo;
const minute = 60000;

/** Sets what the stand-in answers for the service whose URL contains `match`. */
async function serviceAnswers(match, status) {
  const response = await fetch(`${motoUrl()}/_stageline/service-health`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(status === null ? { reset: true } : { match, status }),
  });
  assert.equal(response.status, 200, "the stand-in took the control");
}

before(async () => {
  await resetMoto();
  home = makeHome("verify");
  repo = makeRepo(home, { "build.yml": BUILD, "release.yml": RELEASE });
  driver = await startDriver(home);
  browser = await openApp();
});

after(async () => {
  await serviceAnswers("", null).catch(() => {});
  if (browser) await browser.deleteSession().catch(() => {});
  if (driver) await stopDriver(driver, home);
});

test("canary fails its health check, rolls back by itself, and prod is only offered what passed", async () => {
  const account = await invoke(browser, "create_account", {
    input: { name: "Local sandbox", defaultRegion: "us-east-1", endpointUrl: motoUrl(), credentials: { kind: "keys", accessKeyId: "AKIDVERIFY", secretAccessKey: "verify-secret", sessionToken: null } },
  });
  const stack = await invoke(browser, "create_stack", {
    input: { name: "shop", repository: repo, branch: "main", accountId: account.id, pollIntervalSecs: 30 },
  });
  const dev = await stageView(browser, "shop", "dev");
  assert.equal(dev.stage.settings.verification.healthCheck, true, "a new stage checks its health by default");
  const verification = { ...dev.stage.settings.verification, healthTimeoutSecs: 10, rollBack: true };
  const canary = await invoke(browser, "create_stage", {
    stackId: stack.id,
    after: dev.stage.id,
    settings: settingsInput(dev.stage.settings, { name: "canary", region: "us-west-2", verification }),
  });
  await invoke(browser, "create_stage", {
    stackId: stack.id,
    after: canary.id,
    settings: settingsInput(dev.stage.settings, { name: "prod", requiresApproval: true, verification: undefined }),
  });

  const first = commit(repo, "app.js", "// v1\n", "First release");
  await waitFor(browser, "prod awaits approval of the first commit", async () =>
    (await stageView(browser, "shop", "prod")).pendingApproval?.release.commit.sha === first, 3 * minute);
  let view = await stageView(browser, "shop", "canary");
  assert.equal(view.latestRun.parts.find((p) => p.kind === "verify").status, "succeeded", "canary verified the first commit");
  await waitFor(browser, "the canary's URL is on its card", async () => (await byTestId(browser, "url-canary")).isDisplayed());
  const url = (await stageView(browser, "shop", "canary")).service.url;
  assert.match(url, /^https:\/\/[a-z0-9]+\.execute-api\.us-west-2\.amazonaws\.com\/canary$/, "the API Gateway invoke URL from the stack's outputs");
  assert.equal(await (await byTestId(browser, "url-canary")).$("a").getAttribute("href"), url, "the card links the address");
  await shot(browser, "verify-01-canary-url-on-its-card");

  // The canary's service breaks: the next release fails its health check there.
  await serviceAnswers(new URL(url).host, 500);
  const second = commit(repo, "app.js", "// v2, broken\n", "Break checkout");
  await waitFor(browser, "canary verifies the second commit", async () => {
    const c = await stageView(browser, "shop", "canary");
    return c.latestRelease?.commit.sha === second && c.latestRun.parts.find((p) => p.kind === "verify").status === "running";
  }, 3 * minute);
  await shot(browser, "verify-02-canary-verifying");
  await waitFor(browser, "canary rolls back by itself", async () => {
    const run = (await stageView(browser, "shop", "canary")).latestRun;
    return run.trigger.kind === "rollback" && run.status === "succeeded";
  }, 2 * minute);
  view = await stageView(browser, "shop", "canary");
  assert.match(view.latestRun.trigger.reason, /gave no 2xx answer within 10 s \(last: it answered 500\)/);
  assert.equal(view.deployed.commit.sha, first, "canary runs the first commit again");
  const history = await invoke(browser, "run_history", { stageId: canary.id });
  const failed = history.find((r) => r.release.commit.sha === second).run;
  assert.equal(failed.status, "failed");
  assert.equal(failed.parts.find((p) => p.kind === "verify").status, "failed");
  assert.equal(view.latestRun.image, history.find((r) => r.release.commit.sha === first && r.run.trigger.kind === "flow").run.image,
    "the rollback deployed the exact image canary ran before");
  assert.equal((await stageView(browser, "shop", "prod")).pendingApproval.release.commit.sha, first, "prod was never offered the broken release");
  await waitFor(browser, "the card says it rolled back", async () =>
    (await (await byTestId(browser, "status-canary")).getText()).includes("Rolled back"));
  await shot(browser, "verify-03-canary-rolled-back");

  // Fixed: the next commit passes verify at canary, and prod is offered it.
  await serviceAnswers("", null);
  const third = commit(repo, "app.js", "// v3, fixed\n", "Fix checkout");
  await waitFor(browser, "prod is offered the fixed commit", async () =>
    (await stageView(browser, "shop", "prod")).pendingApproval?.release.commit.sha === third, 3 * minute);
  assert.equal(await deployedSha(browser, "shop", "canary"), third);
});

test("a frozen stack refuses an approval with the freeze reason", async () => {
  await click(browser, "freeze-shop");
  await type(browser, "freeze-reason", "Incident 42: checkout errors");
  await click(browser, "freeze-confirm");
  await waitFor(browser, "the stack shows its freeze", async () =>
    (await (await byTestId(browser, "frozen-shop")).getText()).includes("Incident 42: checkout errors"));
  await click(browser, "approve-prod");
  await click(browser, "confirm-approve");
  const error = await byTestId(browser, "approval-error");
  await error.waitForExist({ timeout: 10000 });
  await error.scrollIntoView();
  assert.match(await error.getText(), /shop is frozen by .+: Incident 42: checkout errors\. Unfreeze it to approve\./);
  await shot(browser, "verify-04-frozen-stack-refuses-approval");
  assert.ok((await stageView(browser, "shop", "prod")).pendingApproval, "the approval still waits");
});

test("one stage can be frozen from its details, and unfrozen", async () => {
  await browser.keys("Escape");
  await click(browser, "unfreeze-shop");
  await waitFor(browser, "the stack's freeze is gone", async () => !(await (await byTestId(browser, "frozen-shop")).isExisting()));
  await click(browser, "open-canary");
  await type(browser, "stage-freeze-reason", "Canary region maintenance");
  await click(browser, "freeze-stage");
  await waitFor(browser, "canary shows its freeze", async () => (await byTestId(browser, "frozen-canary")).isExisting());
  await shot(browser, "verify-05-canary-frozen-from-its-details");
  const canary = await stageView(browser, "shop", "canary");
  assert.equal(canary.freeze.reason, "Canary region maintenance");
  assert.equal(canary.freeze.stageId, canary.stage.id);
  await (await byTestId(browser, "verification")).scrollIntoView();
  await shot(browser, "verify-06-verification-settings");
  await click(browser, "unfreeze-stage");
  await waitFor(browser, "canary's freeze is gone", async () => !(await stageView(browser, "shop", "canary")).freeze);
  await browser.keys("Escape");
});


test("outside its deploy window a stage holds the newest release and says why", async () => {
  const canary = await stageView(browser, "shop", "canary");
  // A window that is closed now: every day, but not this hour (UTC).
  const hour = new Date().getUTCHours();
  const [startHour, endHour] = hour < 22 ? [hour + 1, 24] : [0, hour];
  const days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
  await invoke(browser, "update_stage", {
    id: canary.stage.id,
    settings: settingsInput(canary.stage.settings, { deployWindow: { days, startHour, endHour, timeZone: "UTC" } }),
  });
  const held = commit(repo, "app.js", "// v4\n", "Outside the window");
  await waitFor(browser, "dev runs the commit", async () => (await deployedSha(browser, "shop", "dev")) === held, 3 * minute);
  await waitFor(browser, "canary says why it holds the release", async () =>
    (await (await byTestId(browser, "held-canary")).getText()).startsWith("Outside its deploy window"), minute);
  assert.equal((await stageView(browser, "shop", "canary")).waiting.commit.sha, held);
  await shot(browser, "verify-07-canary-outside-its-deploy-window");
  await click(browser, "open-canary");
  await (await byTestId(browser, "deploy-window")).scrollIntoView();
  await shot(browser, "verify-08-deploy-window-settings");
  await browser.keys("Escape");
  // Without the window the held release enters at once.
  await invoke(browser, "update_stage", {
    id: canary.stage.id,
    settings: settingsInput((await stageView(browser, "shop", "canary")).stage.settings, { deployWindow: null }),
  });
  await waitFor(browser, "canary takes the held release", async () => (await deployedSha(browser, "shop", "canary")) === held, 3 * minute);
});
