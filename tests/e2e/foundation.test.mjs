// Issue "Foundation": accounts, stacks and stages in the real window.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  byTestId, click, closeApp, dragNewStage, makeHome, makeRepo, motoUrl, openApp, resetMoto, shot, stageOrder,
  startDriver, stopDriver, type, waitFor,
} from "./support.mjs";

let home, driver, browser, repo;

before(async () => {
  await resetMoto();
  home = makeHome("foundation");
  repo = makeRepo(home);
  driver = await startDriver(home);
  browser = await openApp();
});

after(async () => {
  if (browser) await browser.deleteSession().catch(() => {});
  if (driver) await stopDriver(driver, home);
});

async function openNewStage(name) {
  await click(browser, "add-stage-shop");
  await byTestId(browser, "new-stage-dialog").waitForDisplayed({ timeout: 10000 });
  await type(browser, "stage-name", name);
}

test("creates an account and a stack, and sees dev", async () => {
  await shot(browser, "foundation-01-empty");
  await click(browser, "add-first-account");
  await type(browser, "account-name", "Local sandbox");
  await type(browser, "access-key-id", "AKIDLOCALSANDBOX");
  await type(browser, "secret-access-key", "e2e-secret-never-stored");
  await type(browser, "endpoint-url", motoUrl());
  await shot(browser, "foundation-02-account-dialog");
  await click(browser, "create-account");
  await byTestId(browser, "account-dialog").waitForExist({ reverse: true, timeout: 10000 });
  await click(browser, "accounts");
  await byTestId(browser, "account-Local sandbox").waitForDisplayed({ timeout: 10000 });
  await shot(browser, "foundation-02b-accounts");
  await browser.keys("Escape");
  await byTestId(browser, "accounts-dialog").waitForExist({ reverse: true, timeout: 5000 });

  await click(browser, "new-stack");
  await type(browser, "stack-name", "shop");
  await type(browser, "repository", repo);
  await type(browser, "branch", "main");
  await shot(browser, "foundation-03-stack-dialog");
  await click(browser, "create-stack");
  await byTestId(browser, "stage-dev").waitForExist({ timeout: 15000 });
  assert.deepEqual(await stageOrder(browser, "shop"), ["dev"]);
  await shot(browser, "foundation-04-stack-with-dev");
});

test("drags a new prod stage after dev", async () => {
  await openNewStage("prod");
  // The card starts at the end; drag it before dev, then back after dev.
  await dragNewStage(browser, "order-dev", "before");
  let order = await browser.execute(() =>
    Array.from(document.querySelectorAll('[data-testid="stage-order"] > div')).map((e) => e.textContent.trim()),
  );
  assert.equal(order[0].endsWith("prod"), true, `prod first after dragging left, got ${order}`);
  await dragNewStage(browser, "order-dev", "after");
  order = await browser.execute(() =>
    Array.from(document.querySelectorAll('[data-testid="stage-order"] > div')).map((e) => e.textContent.trim()),
  );
  assert.equal(order[1].endsWith("prod"), true, `prod after dev, got ${order}`);
  await shot(browser, "foundation-05-new-stage-prod");
  await click(browser, "create-stage");
  await waitFor(browser, "prod is in the pipeline", async () => (await stageOrder(browser, "shop")).length === 2);
  assert.deepEqual(await stageOrder(browser, "shop"), ["dev", "prod"]);
});

test("drags canary between dev and prod", async () => {
  await openNewStage("canary");
  await dragNewStage(browser, "order-prod", "before");
  await shot(browser, "foundation-06-new-stage-canary");
  await click(browser, "create-stage");
  await waitFor(browser, "canary is in the pipeline", async () => (await stageOrder(browser, "shop")).length === 3);
  assert.deepEqual(await stageOrder(browser, "shop"), ["dev", "canary", "prod"]);
  await shot(browser, "foundation-07-dev-canary-prod");
});

test("the order survives an app restart", async () => {
  await closeApp(browser);
  browser = await openApp();
  await byTestId(browser, "stage-prod").waitForExist({ timeout: 15000 });
  assert.deepEqual(await stageOrder(browser, "shop"), ["dev", "canary", "prod"]);
  await shot(browser, "foundation-08-after-restart");
});

test("a duplicate name and caching with a load balancer are both refused", async () => {
  await openNewStage("prod");
  await click(browser, "caching");
  await click(browser, "routing-loadBalancer");
  await click(browser, "create-stage");
  const nameError = await byTestId(browser, "error-stage-name");
  await nameError.waitForDisplayed({ timeout: 10000 });
  assert.match(await nameError.getText(), /already has a stage named "prod"/);
  const cachingError = await byTestId(browser, "error-caching");
  assert.match(await cachingError.getText(), /only available with Amazon API Gateway/);
  assert.equal(await (await byTestId(browser, "caching")).isEnabled(), false, "caching is disabled with the load balancer");
  await shot(browser, "foundation-09-errors");

  // The backend refuses the combination too, whatever the UI does.
  const refusal = await browser.execute(async () => {
    const stacks = await window.__TAURI_INTERNALS__.invoke("dashboard");
    const stackId = stacks[0].stack.id;
    const settings = {
      name: "edge", region: "us-east-1", database: { kind: "none" }, requiresApproval: false,
      routing: "loadBalancer", caching: true, buildEnv: [], runtimeEnv: [], desiredCount: 1,
      containerPort: 80, healthPath: "/ping", cpuArchitecture: "x86_64",
    };
    try {
      await window.__TAURI_INTERNALS__.invoke("create_stage", { stackId, after: null, settings });
      return null;
    } catch (error) {
      return error;
    }
  });
  assert.equal(refusal.code, "invalid");
  assert.equal(refusal.fields[0].field, "caching");
  await browser.keys("Escape");
  await byTestId(browser, "new-stage-dialog").waitForExist({ reverse: true, timeout: 5000 });
  assert.deepEqual(await stageOrder(browser, "shop"), ["dev", "canary", "prod"], "nothing was created");
});

test("an approver that is not an AWS ARN is refused beside its box, and nothing is created", async () => {
  await openNewStage("qa");
  await click(browser, "requires-approval");
  await type(browser, "approvers", "alice");
  await click(browser, "no-self-approval");
  await click(browser, "create-stage");
  const error = await byTestId(browser, "error-approvers");
  await error.waitForDisplayed({ timeout: 10000 });
  // The rule is the backend's (engine validation), shown beside the box.
  assert.match(await error.getText(), /An approver is an AWS principal ARN/);
  await shot(browser, "foundation-09b-approver-refused");
  await browser.keys("Escape");
  await byTestId(browser, "new-stage-dialog").waitForExist({ reverse: true, timeout: 5000 });
  assert.deepEqual(await stageOrder(browser, "shop"), ["dev", "canary", "prod"], "nothing was created");
});

test("canary is deleted only after typing delete", async () => {
  await (await byTestId(browser, "open-canary")).click();
  await byTestId(browser, "stage-dialog").waitForDisplayed({ timeout: 10000 });
  const remove = await byTestId(browser, "delete-stage");
  assert.equal(await remove.isEnabled(), false, "disabled before typing");
  await type(browser, "delete-confirmation", "delet");
  assert.equal(await remove.isEnabled(), false, "disabled for a wrong word");
  await type(browser, "delete-confirmation", "delete");
  assert.equal(await remove.isEnabled(), true, "enabled once delete is typed");
  await shot(browser, "foundation-10-delete-canary");
  await remove.click();
  await waitFor(browser, "canary is gone", async () => !(await stageOrder(browser, "shop")).includes("canary"), 60000);
  assert.deepEqual(await stageOrder(browser, "shop"), ["dev", "prod"]);
  await shot(browser, "foundation-11-canary-deleted");
});
