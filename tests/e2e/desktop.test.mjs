// Issue "The desktop experience": a live pipeline against moto and a real
// Git repository — approving from a notification, the canary recipe, a
// failing build retried after a fix, and a restart in the middle of a run.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import {
  byTestId, click, closeApp, commit, deployedSha, dragNewStage, invoke, makeHome, makeRepo, motoUrl, openApp,
  pickNotificationAction, PUSH_IMAGE, settingsInput, shot, stageOrder, stageView, startDriver, startNotifications,
  stopDriver, resetMoto, TAG_IMAGE, type, waitFor,
} from "./support.mjs";

const BUILD = `version: 0.2
phases:
  build:
    commands:
      - echo "building $(git rev-parse --short HEAD)"
      - if [ -f needs-token ] && [ -z "$BUILD_TOKEN" ]; then echo "BUILD_TOKEN is not set for this stage"; exit 1; fi
${PUSH_IMAGE}`;
const RELEASE = `version: 0.2
phases:
  build:
    commands:
      - echo "releasing to $STAGE_NAME in $STAGE_REGION"
      - if [ "$STAGE_NAME" = canary ]; then sleep 12; fi
      - if [ -f slow-release ]; then sleep 10; fi
${TAG_IMAGE}`;

let home, driver, browser, repo, notifications;
const minute = 60000;

before(async () => {
  await resetMoto();
  home = makeHome("desktop");
  repo = makeRepo(home, { "build.yml": BUILD, "release.yml": RELEASE });
  notifications = startNotifications(home);
  driver = await startDriver(home);
  browser = await openApp();
});

after(async () => {
  notifications?.daemon.kill();
  if (browser) await browser.deleteSession().catch(() => {});
  if (driver) await stopDriver(driver, home);
});

test("a commit flows to dev, prod waits, and the notification's Approve action approves it", async () => {
  const account = await invoke(browser, "create_account", {
    input: { name: "Local sandbox", defaultRegion: "us-east-1", endpointUrl: motoUrl(), credentials: { kind: "keys", accessKeyId: "AKIDDESKTOP", secretAccessKey: "desktop-secret", sessionToken: null } },
  });
  const stack = await invoke(browser, "create_stack", {
    input: { name: "shop", repository: repo, branch: "main", accountId: account.id, pollIntervalSecs: 30 },
  });
  let dev = await stageView(browser, "shop", "dev");
  // Every stage keeps the dialog's defaults: API Gateway routing.
  assert.equal(dev.stage.settings.routing, "apiGateway");
  const prodSettings = settingsInput(dev.stage.settings, {
    name: "prod",
    requiresApproval: true,
    runtimeEnv: [
      { name: "GREETING", value: { kind: "plain", value: "hello" } },
      { name: "API_KEY", value: { kind: "newSecret", value: "prod-api-key-secret" } },
    ],
  });
  await invoke(browser, "create_stage", { stackId: stack.id, after: dev.stage.id, settings: prodSettings });

  // With every stage in place, a commit flows through them all.
  const first = commit(repo, "app.js", "// v1.1\n", "Show prices in euros");
  await waitFor(browser, "prod awaits approval of the commit", async () =>
    (await stageView(browser, "shop", "prod")).pendingApproval?.release.commit.sha === first, 2 * minute);
  assert.equal(await deployedSha(browser, "shop", "dev"), first, "dev runs the commit");
  await shot(browser, "desktop-01-prod-awaits-approval");

  // The notification is on screen: pick its Approve action, as a user would.
  await waitFor(browser, "the approval notification's Approve action is picked", async () => {
    try {
      pickNotificationAction();
    } catch {
      /* no notification yet */
    }
    return !(await stageView(browser, "shop", "prod")).pendingApproval;
  }, minute);
  await waitFor(browser, "prod runs the commit", async () => (await deployedSha(browser, "shop", "prod")) === first, 2 * minute);
  const prod = await stageView(browser, "shop", "prod");
  const [decided] = await invoke(browser, "approval_history", { stageId: prod.stage.id });
  assert.equal(decided.status, "approved");
  assert.equal(decided.decision.via, "notification", "recorded as approved through the notification");
  await shot(browser, "desktop-02-approved-from-notification");
});

test("the canary recipe: insert canary before prod while prod awaits approval", async () => {
  const second = commit(repo, "app.js", "// v2\n", "Faster checkout page");
  await waitFor(browser, "prod awaits approval of the second commit", async () =>
    (await stageView(browser, "shop", "prod")).pendingApproval?.release.commit.sha === second, 2 * minute);

  await click(browser, "add-stage-shop");
  await type(browser, "stage-name", "canary");
  await (await byTestId(browser, "stage-region")).selectByAttribute("value", "us-west-2");
  await (await byTestId(browser, "copy-from")).selectByVisibleText("prod");
  await dragNewStage(browser, "order-prod", "before");
  await shot(browser, "desktop-03-new-canary-copying-prod");
  await click(browser, "create-stage");
  await waitFor(browser, "canary sits before prod", async () =>
    JSON.stringify(await stageOrder(browser, "shop")) === JSON.stringify(["dev", "canary", "prod"]));
  const canary = await stageView(browser, "shop", "canary");
  assert.deepEqual(canary.stage.settings.runtimeEnv.map((v) => v.name).sort(), ["API_KEY", "GREETING"], "prod's variables copied");
  await waitFor(browser, "canary deploys at once", async () => (await stageView(browser, "shop", "canary")).latestRun?.status === "running");

  // Approve prod while canary is still running: prod starts at once (R8).
  await click(browser, "approve-prod");
  await byTestId(browser, "ship-commits").waitForDisplayed({ timeout: 30000 });
  await sleep(1500);
  await shot(browser, "desktop-04-approval-dialog");
  await click(browser, "confirm-approve");
  await waitFor(browser, "prod starts the second commit", async () => {
    const prod = await stageView(browser, "shop", "prod");
    return prod.latestRelease?.commit.sha === second;
  }, 30000);
  assert.equal((await stageView(browser, "shop", "canary")).latestRun.status, "running", "canary is still running");
  await shot(browser, "desktop-05-prod-runs-while-canary-runs");
  await waitFor(browser, "prod runs the second commit", async () => (await deployedSha(browser, "shop", "prod")) === second, 2 * minute);
  await waitFor(browser, "canary runs the second commit", async () => (await deployedSha(browser, "shop", "canary")) === second, 2 * minute);

  // Scale canary to zero, then delete it.
  await (await byTestId(browser, "open-canary")).click();
  await type(browser, "desired-count", "0");
  await click(browser, "save-stage");
  await waitFor(browser, "canary is stopped", async () => (await stageView(browser, "shop", "canary")).stage.settings.desiredCount === 0);
  await shot(browser, "desktop-06-canary-stopped");
  await (await byTestId(browser, "open-canary")).click();
  await type(browser, "delete-confirmation", "delete");
  await click(browser, "delete-stage");
  await waitFor(browser, "canary is gone", async () => !(await stageOrder(browser, "shop")).includes("canary"), 2 * minute);
  assert.deepEqual(await stageOrder(browser, "shop"), ["dev", "prod"]);
});

test("a failing build stops the flow; its log shows why; retry after the fix succeeds", async () => {
  const third = commit(repo, "needs-token", "yes\n", "Sign the bundle");
  await waitFor(browser, "dev's build failed", async () => {
    const dev = await stageView(browser, "shop", "dev");
    return dev.latestRelease?.commit.sha === third && dev.latestRun?.status === "failed";
  }, 2 * minute);
  await shot(browser, "desktop-07-build-failed");

  // The stage window shows the failed build's log.
  const before = await browser.getWindowHandles();
  await click(browser, "window-dev");
  await waitFor(browser, "the stage window opens", async () => (await browser.getWindowHandles()).length > before.length, 20000);
  const main = await browser.getWindowHandle();
  const stageWindow = (await browser.getWindowHandles()).find((h) => !before.includes(h));
  await browser.switchToWindow(stageWindow);
  const log = await byTestId(browser, "log-build");
  await waitFor(browser, "the build log shows the failure", async () => (await log.getText()).includes("BUILD_TOKEN is not set"), 20000);
  await shot(browser, "desktop-08-stage-window-failed-log");

  // The fix: give dev the missing secret build variable, then retry the run.
  const dev = await stageView(browser, "shop", "dev");
  await invoke(browser, "update_stage", {
    id: dev.stage.id,
    settings: settingsInput(dev.stage.settings, { buildEnv: [{ name: "BUILD_TOKEN", value: { kind: "newSecret", value: "build-token-secret" } }] }),
  });
  await click(browser, "retry-run");
  await waitFor(browser, "dev runs the third commit", async () => (await deployedSha(browser, "shop", "dev")) === third, 2 * minute);
  await click(browser, "part-build");
  const retried = await byTestId(browser, "log-build");
  await waitFor(browser, "the retried build's log is shown", async () => (await retried.getText()).includes("Phase complete: BUILD State: SUCCEEDED"), 20000);
  assert.equal((await retried.getText()).includes("build-token-secret"), false, "the secret is masked");
  await shot(browser, "desktop-09-retried-after-fix");
  await browser.closeWindow();
  await browser.switchToWindow(main);
  await waitFor(browser, "prod awaits approval of the third commit", async () =>
    (await stageView(browser, "shop", "prod")).pendingApproval?.release.commit.sha === third, 2 * minute);
});

test("quitting during a run and starting again ends the run and keeps the approval", async () => {
  const pending = (await stageView(browser, "shop", "prod")).pendingApproval;
  const fourth = commit(repo, "slow-release", "zzz\n", "Warm the cache on release");
  await waitFor(browser, "dev is releasing the fourth commit", async () => {
    const dev = await stageView(browser, "shop", "dev");
    return dev.latestRelease?.commit.sha === fourth && dev.latestRun?.parts.some((p) => p.kind === "release" && p.status === "running");
  }, 2 * minute);
  await shot(browser, "desktop-10-before-quit");
  await closeApp(browser);

  browser = await openApp();
  const kept = (await stageView(browser, "shop", "prod")).pendingApproval;
  assert.equal(kept?.approval.id, pending.approval.id, "the approval survived the restart");
  await waitFor(browser, "dev runs the fourth commit", async () => (await deployedSha(browser, "shop", "dev")) === fourth, 2 * minute);
  await waitFor(browser, "prod now awaits the fourth commit", async () =>
    (await stageView(browser, "shop", "prod")).pendingApproval?.release.commit.sha === fourth, minute);
  await shot(browser, "desktop-11-after-restart");
});
