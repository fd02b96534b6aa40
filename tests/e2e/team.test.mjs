// Issue "Team mode" (R22): two real app processes — separate data folders,
// separate D-Bus sessions and keyrings — run one team stack through moto's
// S3. One desktop shares the stack from its dialog, the other joins from
// its own; a commit is built and deployed once per stage; an approval
// decided in one window shows as decided in the other within seconds; the
// desktop holding prod's lease is killed (kill -9) mid-deploy, and the other
// takes prod over after the lease expires, reconciles, and ends with the
// release deployed once.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { startAwsProxy } from "./aws-proxy.mjs";
import {
  application, byTestId, click, commit, deployedSha, invoke, makeHome, makeRepo, motoUrl, openApp, resetMoto, settingsInput, shot,
  stageView, startDriver, stopDriver, type, waitFor,
} from "./support.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const minute = 60000;
const BUCKET = "stageline-team-e2e";
const PREFIX = "stageline/shop";
const secondPort = Number(process.env.STAGELINE_WEBDRIVER_PORT ?? 4444) + 2;

let proxy, repo;
const desks = {};

async function desktop(name, driverOptions) {
  const home = makeHome(`team-${name}`);
  const driver = await startDriver(home, driverOptions);
  const browser = await openApp(driverOptions ? driver : null);
  const account = await invoke(browser, "create_account", {
    input: {
      name: "Team sandbox", defaultRegion: "us-east-1", endpointUrl: proxy.url,
      credentials: { kind: "keys", accessKeyId: `AKIDTEAM${name.toUpperCase()}`, secretAccessKey: `team-${name}-secret`, sessionToken: null },
    },
  });
  // The window learns of an account made behind its back when it loads.
  await browser.refresh();
  await browser.$('[data-testid="new-stack"]').waitForExist({ timeout: 20000 });
  return { name, home, driver, browser, account };
}

/** What the AWS CLI says, against moto directly. */
function aws(...args) {
  const out = execFileSync(join(root, ".venv-moto/bin/aws"), ["--endpoint-url", motoUrl(), "--region", "us-east-1", "--output", "json", ...args], {
    env: { ...process.env, AWS_ACCESS_KEY_ID: "AKIDTEST", AWS_SECRET_ACCESS_KEY: "test", AWS_DEFAULT_REGION: "us-east-1" },
  });
  return out.length ? JSON.parse(out) : null;
}

/** How many change sets CloudFormation was given for `stack` (moto's list ignores StackName). */
function changeSetsOf(stack) {
  return (aws("cloudformation", "list-change-sets", "--stack-name", stack).Summaries ?? []).filter((s) => s.StackName === stack).length;
}

/** The desktop holding `stage`'s lease now, by the id in its data folder. */
function leaseHolder(stage) {
  const lease = JSON.parse(execFileSync(join(root, ".venv-moto/bin/aws"), ["--endpoint-url", motoUrl(), "--region", "us-east-1", "s3", "cp", `s3://${BUCKET}/${PREFIX}/stages/${stage}/lease.json`, "-"], {
    env: { ...process.env, AWS_ACCESS_KEY_ID: "AKIDTEST", AWS_SECRET_ACCESS_KEY: "test" },
  }).toString());
  return Object.values(desks).find((d) => desktopId(d) === lease.holder);
}

function desktopId(desk) {
  const find = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isFile() && entry.name === "desktop-id") return path;
      if (entry.isDirectory()) {
        const found = find(path);
        if (found) return found;
      }
    }
  };
  const file = find(join(desk.home, "data"));
  return file ? readFileSync(file, "utf8").trim() : null;
}

/** The app process of `desk` (its data folder is in its environment). */
function appPid(desk) {
  const pids = execFileSync("pgrep", ["-f", application]).toString().trim().split("\n");
  return pids.find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, "utf8").includes(`XDG_DATA_HOME=${join(desk.home, "data")}`);
    } catch {
      return false;
    }
  });
}

before(async () => {
  await resetMoto();
  proxy = await startAwsProxy(motoUrl());
  desks.ada = await desktop("ada");
  desks.bo = await desktop("bo", { port: secondPort, ownSession: true });
  repo = makeRepo(desks.ada.home);
});

after(async () => {
  for (const desk of Object.values(desks)) await desk.browser?.deleteSession().catch(() => {});
  for (const desk of Object.values(desks).reverse()) if (desk.driver) await stopDriver(desk.driver, desk.home);
  proxy?.close();
});

test("two desktops run one team stack: a stage change followed, deployed once per stage, one approval, a killed lease holder taken over", async () => {
  const { ada, bo } = desks;
  const stack = await invoke(ada.browser, "create_stack", {
    input: { name: "shop", repository: repo, branch: "main", accountId: ada.account.id, pollIntervalSecs: 30 },
  });
  const dev = await stageView(ada.browser, "shop", "dev");
  await invoke(ada.browser, "create_stage", {
    stackId: stack.id, after: dev.stage.id, settings: settingsInput(dev.stage.settings, { name: "prod", requiresApproval: true }),
  });
  await waitFor(ada.browser, "dev deploys the branch head on Ada's desktop", async () => (await deployedSha(ada.browser, "shop", "dev")) !== null, 3 * minute);

  // Ada shares from the dialog; a malformed bucket is refused beside its field first.
  await click(ada.browser, "team-shop");
  await type(ada.browser, "team-bucket", "Team Bucket");
  await click(ada.browser, "share-stack");
  await waitFor(ada.browser, "the bucket's rule is shown beside it", async () =>
    (await ada.browser.$('[data-testid="team-dialog"]').getText()).includes("A bucket name has 3 to 63 characters"), 10000);
  await type(ada.browser, "team-bucket", BUCKET);
  await shot(ada.browser, "team-01-share-dialog");
  await click(ada.browser, "share-stack");
  await ada.browser.$('[data-testid="team-place"]').waitForExist({ timeout: 30000 });
  await shot(ada.browser, "team-02-shared");
  await ada.browser.keys("Escape");

  // Bo joins from their own dialog, with their own credentials.
  await click(bo.browser, "join-team-stack");
  await type(bo.browser, "team-bucket", BUCKET);
  await type(bo.browser, "team-prefix", PREFIX);
  await shot(bo.browser, "team-03-join-dialog");
  await click(bo.browser, "join-stack");
  await bo.browser.$('[data-testid="team-badge-shop"]').waitForExist({ timeout: 30000 });

  // A stage setting Ada changes is the team's: Bo's desktop follows it (the definition, polled).
  const prodOnAda = (await stageView(ada.browser, "shop", "prod")).stage;
  await invoke(ada.browser, "update_stage", {
    id: prodOnAda.id, settings: settingsInput(prodOnAda.settings, { approvalExpiryHours: 48 }),
  });
  await waitFor(bo.browser, "Bo's desktop follows the change Ada made to prod", async () =>
    (await stageView(bo.browser, "shop", "prod")).stage.settings.approvalExpiryHours === 48, 45000);

  // A commit flows: dev is built and deployed once across both desktops.
  const changeSetsBefore = changeSetsOf("shop-dev");
  const release = commit(repo, "app.js", "// v2\n", "Checkout in one step");
  for (const desk of [ada, bo]) {
    await waitFor(desk.browser, `prod awaits approval on ${desk.name}'s desktop`, async () =>
      (await stageView(desk.browser, "shop", "prod"))?.pendingApproval?.release.commit.sha === release, 4 * minute);
  }
  for (const desk of [ada, bo]) assert.equal(await deployedSha(desk.browser, "shop", "dev"), release, `dev runs the release on ${desk.name}'s`);
  assert.equal(changeSetsOf("shop-dev") - changeSetsBefore, 1, "dev deployed once for the release");
  await shot(bo.browser, "team-04-both-await-approval");

  // A redeploy Ada asks for on her desktop alone is in the team's history: Bo's dev window lists it.
  const devOnAda = await stageView(ada.browser, "shop", "dev");
  await invoke(ada.browser, "redeploy", { stageId: devOnAda.stage.id, releaseId: devOnAda.deployed.id, comment: "again" });
  await waitFor(ada.browser, "Ada's redeploy of dev ends", async () => {
    const run = (await stageView(ada.browser, "shop", "dev")).latestRun;
    return run?.trigger.kind === "redeploy" && run.status === "succeeded";
  }, 3 * minute);
  const devOnBo = (await stageView(bo.browser, "shop", "dev")).stage;
  // Bo's desktop lists it from the team's history — or, once its 2-minute look at the
  // team's runs came, has followed it into its own (marked as a teammate's).
  const followedOnBo = async () =>
    (await invoke(bo.browser, "run_history", { stageId: devOnBo.id })).some((r) => r.run.followedFrom !== null);
  await waitFor(bo.browser, "Bo's desktop reads Ada's redeploy from the team's history", async () =>
    (await invoke(bo.browser, "teammates_runs", { stageId: devOnBo.id })).some((r) => r.trigger.kind === "redeploy") ||
    (await followedOnBo()), 30000);
  const boMain = await bo.browser.getWindowHandle();
  const boWindows = await bo.browser.getWindowHandles();
  await invoke(bo.browser, "open_stage_window", { stageId: devOnBo.id });
  await waitFor(bo.browser, "Bo's dev window opens", async () => (await bo.browser.getWindowHandles()).length > boWindows.length, 20000);
  await bo.browser.switchToWindow((await bo.browser.getWindowHandles()).find((h) => !boWindows.includes(h)));
  await byTestId(bo.browser, "tab-runs").then((el) => el.waitForExist({ timeout: 20000 }));
  // WebKit's driver leaves out text cut with an ellipsis: the sha and the outcome are whole.
  await waitFor(bo.browser, "Bo's dev window shows Ada's redeploy", async () => {
    const listed = await bo.browser.$('[data-testid="teammates-runs"]');
    if (await listed.isExisting()) return new RegExp(`On teammates' desktops[\\s\\S]*${release.slice(0, 7)}`).test(await listed.getText());
    return followedOnBo();
  }, 20000);
  await shot(bo.browser, "team-04b-a-teammates-redeploy-in-history");
  await bo.browser.closeWindow();
  await bo.browser.switchToWindow(boMain);

  // Prod's deploy will hang at ExecuteChangeSet on whichever desktop holds its lease.
  proxy.holdWhen((body) => body.includes("Action=ExecuteChangeSet") && body.includes("StackName=shop-prod"));
  const { pendingApproval } = await stageView(ada.browser, "shop", "prod");
  const decidedAt = Date.now();
  await invoke(ada.browser, "decide", { approvalId: pendingApproval.approval.id, approve: true, comment: "ship it" });
  await waitFor(bo.browser, "Bo's window shows the approval decided", async () =>
    !(await stageView(bo.browser, "shop", "prod")).pendingApproval, 30000);
  const seenAfter = Date.now() - decidedAt;
  assert.ok(seenAfter < 15000, `decided in the other window within seconds (${seenAfter} ms)`);
  await shot(bo.browser, "team-05-decided-on-the-other-desktop");

  await waitFor(ada.browser, "prod's deploy reaches ExecuteChangeSet", async () => proxy.held > 0, 3 * minute);
  const holder = leaseHolder("prod");
  assert.ok(holder, "one desktop holds prod's lease");
  const survivor = holder === ada ? bo : ada;
  // The other desktop's card says who deploys prod while it waits for the result.
  await waitFor(survivor.browser, `${survivor.name}'s window shows that a teammate's desktop deploys prod`, async () =>
    (await stageView(survivor.browser, "shop", "prod"))?.teammateRuns === "deploy", 30000);
  const note = await survivor.browser.$('[data-testid="teammate-runs-prod"]');
  await note.waitForDisplayed({ timeout: 10000 });
  // The dashboard applies the backend's updates, gathered for 100 ms: the card follows shortly after.
  await waitFor(survivor.browser, "the card says a teammate's desktop deploys prod", async () =>
    /Deploy runs on a teammate's desktop/.test(await note.getText()), 10000);
  await shot(survivor.browser, "team-05b-a-teammate-deploys");
  execFileSync("kill", ["-KILL", appPid(holder)]);
  await holder.browser.deleteSession().catch(() => {});
  holder.browser = null;
  proxy.release();

  try {
    await waitFor(survivor.browser, `${survivor.name}'s desktop takes prod over and deploys the release`, async () =>
      (await deployedSha(survivor.browser, "shop", "prod")) === release, 4 * minute);
  } catch (error) {
    const prod = await stageView(survivor.browser, "shop", "prod");
    console.log(JSON.stringify(await invoke(survivor.browser, "run_history", { stageId: prod.stage.id }), null, 1));
    console.log(execFileSync("bash", ["-c", `find ${survivor.home}/data -path '*logs*' -type f | sort | tail -4 | xargs tail -n 30`]).toString());
    throw error;
  }
  const prod = await stageView(survivor.browser, "shop", "prod");
  const history = await invoke(survivor.browser, "run_history", { stageId: prod.stage.id });
  assert.equal(history.length, 1, "one run of prod");
  assert.equal(history[0].run.status, "succeeded");
  const described = aws("cloudformation", "describe-stacks", "--stack-name", "shop-prod").Stacks[0];
  assert.match(described.StackStatus, /^(CREATE|UPDATE)_COMPLETE$/);
  await shot(survivor.browser, "team-06-taken-over-and-deployed");
});
