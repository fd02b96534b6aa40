// Issue "Everyday use", accessibility: axe-core runs in the real window on
// the dashboard, the new-stage dialog, the approval dialog and a stage window
// (light and dark themes): no serious or critical violation. Creating a stage,
// approving, rejecting and deleting a stage are done with the keyboard alone.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  axeFindings, byTestId, commit, deployedSha, invoke, makeHome, makeRepo, motoUrl, openApp, resetMoto, shot, stageView, startDriver,
  stopDriver, waitFor,
} from "./support.mjs";

const minute = 60000;
let home, driver, browser, repo;

before(async () => {
  await resetMoto();
  home = makeHome("a11y");
  repo = makeRepo(home);
  driver = await startDriver(home);
  browser = await openApp();
});

after(async () => {
  if (browser) await browser.deleteSession().catch(() => {});
  if (driver) await stopDriver(driver, home);
});

/** Fails on any serious or critical axe finding, light and dark. */
async function noSeriousViolations(what) {
  for (const theme of ["light", "dark"]) assert.deepEqual(await axeFindings(browser, theme), [], `${what}, ${theme} theme`);
}

/** What has the keyboard focus: its test id, else its id, else its label, else its text. */
async function focused() {
  return browser.execute(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return "";
    return el.getAttribute("data-testid") || el.id || el.getAttribute("aria-label") || el.textContent.trim().slice(0, 40);
  });
}

/** Presses Tab until the element `target` (as `focused` names it) has the focus. */
async function tabTo(target, most = 80) {
  const seen = [];
  for (let i = 0; i < most; i++) {
    const now = await focused();
    if (now === target) return;
    seen.push(now);
    await browser.keys(["Tab"]);
  }
  assert.fail(`Tab never reached ${target}; it went through: ${seen.join(" → ")}`);
}

const press = (...keys) => browser.keys(keys);

test("every screen passes axe, and a stage is created, approved, rejected and deleted with the keyboard alone", async () => {
  const account = await invoke(browser, "create_account", {
    input: { name: "Local sandbox", defaultRegion: "us-east-1", endpointUrl: motoUrl(), credentials: { kind: "keys", accessKeyId: "AKIDA11Y", secretAccessKey: "a11y-secret", sessionToken: null } },
  });
  await invoke(browser, "create_stack", { input: { name: "shop", repository: repo, branch: "main", accountId: account.id, pollIntervalSecs: 30 } });
  await waitFor(browser, "dev runs the first commit", async () => (await deployedSha(browser, "shop", "dev")) != null, 2 * minute);
  await noSeriousViolations("the dashboard");

  // A new stage, prod, with manual approval: Tab to "Add stage", Enter, type, Space, Enter.
  await browser.execute(() => document.activeElement?.blur());
  await tabTo("add-stage-shop");
  await press("Enter");
  await waitFor(browser, "the new-stage dialog opens", async () => (await byTestId(browser, "new-stage-dialog")).isDisplayed(), 10000);
  assert.equal(await focused(), "stage-name", "the dialog starts in its first field");
  await press("p", "r", "o", "d");
  await tabTo("requires-approval");
  await press(" ");
  await noSeriousViolations("the new-stage dialog");
  await tabTo("create-stage");
  await press("Enter");
  await waitFor(browser, "prod exists", async () => (await stageView(browser, "shop", "prod").catch(() => null))?.stage.settings.requiresApproval === true);

  // Approve: A opens the next release awaiting approval; type a comment, Tab to Approve, Enter.
  const first = commit(repo, "app.js", "// v2\n", "Second version");
  await waitFor(browser, "prod awaits approval", async () =>
    (await stageView(browser, "shop", "prod")).pendingApproval?.release.commit.sha === first, 2 * minute);
  // The window shows it too (its dashboard follows the pipeline's events), before A is pressed.
  await (await byTestId(browser, "approve-prod")).waitForExist({ timeout: 20000 });
  await browser.execute(() => document.activeElement?.blur());
  await press("a");
  await waitFor(browser, "the approval dialog opens", async () => (await byTestId(browser, "approval-dialog")).isDisplayed(), 10000);
  await (await byTestId(browser, "ship-commits")).waitForExist({ timeout: 20000 });
  await noSeriousViolations("the approval dialog");
  await shot(browser, "a11y-approval-dialog");
  assert.equal(await focused(), "approval-comment", "the dialog starts in the comment");
  // Typed into the focused field (WebKitWebDriver drops some of a fast run of separate key presses).
  await (await byTestId(browser, "approval-comment")).addValue("ok by keyboard");
  await tabTo("confirm-approve");
  await press("Enter");
  await waitFor(browser, "prod deploys the approved release", async () => (await deployedSha(browser, "shop", "prod")) === first, 2 * minute);
  const approvals = await invoke(browser, "approval_history", { stageId: (await stageView(browser, "shop", "prod")).stage.id });
  assert.equal(approvals[0].decision?.comment, "ok by keyboard", "the typed comment is recorded");

  // Reject: Tab to the stage card's Reject…, Enter, Tab to "Reject release", Enter.
  const second = commit(repo, "app.js", "// v3\n", "Third version");
  await waitFor(browser, "prod awaits approval of the third version", async () =>
    (await stageView(browser, "shop", "prod")).pendingApproval?.release.commit.sha === second, 2 * minute);
  await (await byTestId(browser, "reject-prod")).waitForExist({ timeout: 20000 });
  await browser.execute(() => document.activeElement?.blur());
  await tabTo("reject-prod");
  await press("Enter");
  await waitFor(browser, "the approval dialog opens", async () => (await byTestId(browser, "approval-dialog")).isDisplayed(), 10000);
  await tabTo("confirm-reject");
  await press("Enter");
  await waitFor(browser, "the release is rejected", async () => (await stageView(browser, "shop", "prod")).pendingApproval == null);
  assert.equal(await deployedSha(browser, "shop", "prod"), first, "prod still runs the approved release");

  // A stage window, opened from the keyboard.
  const before = await browser.getWindowHandles();
  await browser.execute(() => document.activeElement?.blur());
  await tabTo("window-prod");
  await press("Enter");
  await waitFor(browser, "the stage window opens", async () => (await browser.getWindowHandles()).length > before.length, 20000);
  const main = await browser.getWindowHandle();
  await browser.switchToWindow((await browser.getWindowHandles()).find((h) => !before.includes(h)));
  await (await byTestId(browser, "run-detail")).waitForExist({ timeout: 20000 });
  await noSeriousViolations("a stage window's runs");
  // Its other tabs, reached with the keyboard.
  for (const tab of ["tab-approvals", "tab-settings", "tab-template"]) {
    await tabTo(tab);
    await press("Enter");
    await waitFor(browser, `${tab} is shown`, async () => (await (await byTestId(browser, tab)).getAttribute("aria-selected")) === "true");
    await noSeriousViolations(`a stage window's ${tab.slice(4)} tab`);
  }
  await browser.closeWindow();
  await browser.switchToWindow(main);

  // Delete prod: Tab to its card, Enter opens its details; type "delete", Tab to Delete stage, Enter.
  await browser.execute(() => document.activeElement?.blur());
  await tabTo("open-prod");
  await press("Enter");
  await waitFor(browser, "the stage dialog opens", async () => (await byTestId(browser, "stage-dialog")).isDisplayed(), 10000);
  await tabTo("delete-confirmation", 120);
  await press(..."delete");
  await tabTo("delete-stage");
  await press("Enter");
  await waitFor(browser, "prod is deleted", async () => (await stageView(browser, "shop", "prod").catch(() => null)) == null, 2 * minute);
});
