// Issue "Everyday use", delivery figures: a store seeded with a long history
// (the store's seed example, as `cargo test` builds it) opens in the real
// window; a stack's Insights show every stage's figures and the chosen
// stage's charts, for 7, 30 and 90 days, with the keyboard alone.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { byTestId, click, makeHome, openApp, shot, startDriver, stopDriver, waitFor } from "./support.mjs";

const root = join(import.meta.dirname, "../..");
const seed = process.env.STAGELINE_SEED_BINARY ?? join(root, "target/debug/examples/seed");
let home, driver, browser;

before(async () => {
  home = makeHome("insights");
  // 3 stacks × 4 stages × 1,500 runs over ~45 days; the app's data folder is
  // $XDG_DATA_HOME/<identifier>.
  execFileSync(seed, [join(home, "data/dev.stageline.app"), "3", "4", "1500"], { stdio: "pipe" });
  driver = await startDriver(home);
  browser = await openApp();
});

after(async () => {
  if (browser) await browser.deleteSession().catch(() => {});
  if (driver) await stopDriver(driver, home);
});

/** The figures table as text, one array per stage row. */
async function figureRows() {
  return browser.execute(() =>
    [...document.querySelectorAll('[data-testid="insights-table"] tbody tr')].map((tr) =>
      [...tr.querySelectorAll("th, td")].map((cell) => cell.textContent.trim().replace(/\s+/g, " ")),
    ),
  );
}

test("a stack's Insights show each stage's delivery figures and charts over 7, 30 and 90 days", async () => {
  await click(browser, "insights-service-00");
  await waitFor(browser, "the figures are read", async () => (await figureRows()).length === 4, 20000);
  const month = await figureRows();
  assert.deepEqual(month.map((row) => row[0]), ["dev", "test", "qa", "staging"], "every stage in pipeline order");
  for (const [stage, deployments, lead, failureRate, restore] of month) {
    assert.match(deployments, /^\d+ \d+(\.\d)? a day$/, `${stage}: deployments and how often`);
    assert.match(lead, /min|h/, `${stage}: a lead time`);
    assert.match(failureRate, /%$/, `${stage}: a change failure rate`);
    assert.notEqual(restore, "", `${stage}: a time to restore`);
  }
  // The last stage's charts show, each drawn on a canvas.
  for (const chart of ["chart-deployments", "chart-lead-time", "chart-durations"]) {
    await (await byTestId(browser, chart)).$("canvas").waitForExist({ timeout: 10000 });
  }
  await shot(browser, "insights-30-days");

  // A week holds fewer deployments than a month, and 90 days (the whole history) more.
  const count = (rows) => rows.reduce((n, row) => n + Number(row[1].split(" ")[0]), 0);
  await click(browser, "insights-days-7");
  await waitFor(browser, "a week's figures", async () => count(await figureRows()) < count(month));
  await click(browser, "insights-days-90");
  await waitFor(browser, "90 days' figures", async () => count(await figureRows()) > count(month));

  // Keyboard alone: arrows move through the periods, Enter on a stage shows its charts, Esc closes.
  await (await byTestId(browser, "insights-days-90")).click();
  await browser.keys(["ArrowLeft"]);
  await waitFor(browser, "the arrow key chose 30 days", async () =>
    (await (await byTestId(browser, "insights-days-30")).getAttribute("aria-checked")) === "true");
  await browser.execute(() => document.querySelector('[data-testid="insights-stage-dev"]').focus());
  await browser.keys(["Enter"]);
  await waitFor(browser, "dev's charts show", async () =>
    (await (await byTestId(browser, "insights-stage-dev")).getAttribute("aria-pressed")) === "true");
  await browser.keys(["Escape"]);
  await waitFor(browser, "the dialog closed", async () => !(await (await byTestId(browser, "insights-dialog")).isExisting()));
});
