// Live logs at any volume: what a build printing N lines as fast as the shell
// can costs, with the stage window open and following (run by .ci/bench-logs).
// For each N it prints:
// - the build's own time to print its lines, with the stage window closed and
//   open (ratio; from the stored log's per-line times),
// - the window's round trip for a trivial script while it streams (WebDriver),
//   and how late the page's own timers fire (its event loop's stalls),
// - the time from the part's end until its last line is on screen,
// - the memory growth of the app's whole process tree (PSS: the app and
//   WebKit's web and network processes), idle before vs after the last line.
// Figures only: nothing here passes or fails.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import {
  application, byTestId, closeApp, commit, invoke, makeHome, makeRepo, motoUrl, openApp, resetMoto, settingsInput,
  stageView, startDriver, stopDriver, waitFor,
} from "../e2e/support.mjs";

const sizes = (process.env.STAGELINE_BENCH_LINES ?? "1000,100000,1000000").split(",").map(Number);
const repeats = Number(process.env.STAGELINE_BENCH_REPEATS ?? 1);
const minute = 60000;

/**
 * A build printing `n` lines as fast as the shell can; `tag` makes its lines its
 * own. It waits 3 s first, so that the window follows before the lines come.
 */
const buildYml = (n, tag) =>
  `version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 3\n      - seq -f 'line %.0f of build ${tag}' 1 ${n}\n`;

/** The PIDs of the app's process tree. */
function tree(pid) {
  let out = [pid];
  let children = "";
  try {
    children = execFileSync("sh", ["-c", `cat /proc/${pid}/task/*/children 2>/dev/null`], { encoding: "utf8" });
  } catch {
    /* gone */
  }
  for (const child of children.split(/\s+/).filter(Boolean)) out = out.concat(tree(Number(child)));
  return out;
}

const appPid = () => Number(execFileSync("pgrep", ["-o", "-f", application], { encoding: "utf8" }).trim().split("\n")[0]);

/** Each process of the app's tree: its name, CPU seconds used so far, PSS in MB. */
function processes() {
  const out = {};
  for (const p of tree(appPid())) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const pss = readFileSync(`/proc/${p}/smaps_rollup`, "utf8").match(/^Pss:\s+(\d+)/m);
      out[p] = { name, cpu: (Number(fields[11]) + Number(fields[12])) / 100, pss: pss ? Number(pss[1]) / 1024 : 0 };
    } catch {
      /* gone */
    }
  }
  return out;
}

/** PSS of the app's whole process tree, in MB. */
function treePss() {
  return Object.values(processes()).reduce((sum, p) => sum + p.pss, 0);
}

/** What each process gained from `before` to `after` (CPU seconds or MB). */
function gains(before, after, field, unit) {
  return Object.entries(after)
    .map(([pid, p]) => `${p.name} ${(p[field] - (before[pid]?.[field] ?? 0)).toFixed(field === "cpu" ? 2 : 1)} ${unit}`)
    .join(", ");
}

const percentile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN;
};
const median = (values) => percentile(values, 0.5);

/** The newest run of dev, once its build part has ended. */
async function builtRun(browser, sha) {
  let record;
  await waitFor(browser, "the build ends", async () => {
    const dev = await stageView(browser, "shop", "dev");
    const history = await invoke(browser, "run_history", { stageId: dev.stage.id });
    record = history.find((r) => r.release.commit.sha === sha);
    const build = record?.run.parts.find((p) => p.kind === "build");
    return build?.finishedAt != null;
  }, 20 * minute);
  return record;
}

/** Waits until dev runs nothing, so the next commit starts at once. */
async function idle(browser) {
  await waitFor(browser, "dev is idle", async () => (await stageView(browser, "shop", "dev")).latestRun?.status !== "running", 20 * minute);
}

/** How long the build took to print its lines: from the runner starting `seq` to its last line (the log's own times). */
async function printMs(browser, record, n, tag) {
  const at = async (query) => {
    const found = await invoke(browser, "find_in_log", { runId: record.run.id, part: "build", query });
    const page = await invoke(browser, "read_log", { runId: record.run.id, part: "build", from: found.lines[0], count: 1 });
    return page.times[0];
  };
  return (await at(`line ${n} of build ${tag}`)) - (await at("Running command seq"));
}

async function measure(n) {
  await resetMoto();
  const home = makeHome(`bench-${n}`);
  const repo = makeRepo(home);
  const driver = await startDriver(home);
  let browser = await openApp();
  try {
    const account = await invoke(browser, "create_account", {
      input: { name: "Bench", defaultRegion: "us-east-1", endpointUrl: motoUrl(), credentials: { kind: "keys", accessKeyId: "AKIDBENCH", secretAccessKey: "bench-secret", sessionToken: null } },
    });
    await invoke(browser, "create_stack", { input: { name: "shop", repository: repo, branch: "main", accountId: account.id, pollIntervalSecs: 30 } });
    const dev = await stageView(browser, "shop", "dev");
    await invoke(browser, "update_stage", { id: dev.stage.id, settings: settingsInput(dev.stage.settings, { routing: "loadBalancer", caching: false }) });
    await idle(browser);

    const closed = [];
    const open = [];
    const trips = [];
    const stalls = [];
    const visible = [];
    const growth = [];
    const peaks = [];
    const cpuClosed = [];
    const cpuOpen = [];
    const byProcess = [];
    const idleCpu = [];
    for (let round = 0; round < repeats; round++) {
      // Window closed: only the dashboard is open (it does not show logs).
      const shaClosed = commit(repo, "build.yml", buildYml(n, `closed-${round}`), `Verbose build, window closed (${round})`);
      const closedBefore = processes();
      closed.push(await printMs(browser, await builtRun(browser, shaClosed), n, `closed-${round}`));
      cpuClosed.push(gains(closedBefore, processes(), "cpu", "s"));
      await idle(browser);

      // Window open, following the build's log.
      const main = await browser.getWindowHandle();
      await invoke(browser, "open_stage_window", { stageId: dev.stage.id });
      // The stage window (a new one, or the one closed in the round before and shown again).
      let stageWindow = null;
      await waitFor(browser, "the stage window opens", async () => {
        for (const handle of await browser.getWindowHandles()) {
          if (handle === main) continue;
          await browser.switchToWindow(handle);
          if (await browser.execute(() => location.search.includes("stage="))) {
            stageWindow = handle;
            return true;
          }
        }
        await browser.switchToWindow(main);
        return false;
      }, 20000);
      await (await byTestId(browser, "tab-runs")).waitForExist({ timeout: 20000 });
      await sleep(2000);
      const idleProcesses = processes();
      await sleep(4000);
      idleCpu.push(gains(idleProcesses, processes(), "cpu", "s"));
      const idlePss = treePss();
      const last = `line ${n} of build open-${round}`;
      // In the page: how late a 16 ms timer fires, and when the last line is first on screen.
      await browser.execute((text) => {
        window.__bench = { lags: [], seenAt: null };
        let expected = performance.now() + 16;
        window.__benchTimer = setInterval(() => {
          const now = performance.now();
          window.__bench.lags.push(Math.max(0, now - expected));
          expected = now + 16;
        }, 16);
        const look = () => {
          const log = document.querySelector('[data-testid="log-build"]');
          if (log && log.textContent.includes(text)) window.__bench.seenAt = Date.now();
          else requestAnimationFrame(look);
        };
        requestAnimationFrame(look);
      }, last);
      const shaOpen = commit(repo, "build.yml", buildYml(n, `open-${round}`), `Verbose build, window open (${round})`);
      // As soon as the run is shown, stay on its build's log (the view moves on to the release otherwise).
      await waitFor(browser, "the new run is shown", async () =>
        browser.execute((sha) => document.querySelector('[data-testid="run-detail"]')?.textContent.includes(sha) ?? false, shaOpen.slice(0, 7)), 5 * minute);
      await (await byTestId(browser, "part-build")).click();
      let peak = idlePss;
      const openBefore = processes();
      for (let loops = 0; ; loops++) {
        const start = performance.now();
        const state = await browser.execute(() => {
          const view = document.querySelector('[data-testid="log-view-build"]');
          return { live: view?.dataset.live === "true", seen: window.__bench.seenAt !== null };
        });
        const trip = performance.now() - start;
        if (state.live) trips.push(trip);
        if (loops % 10 === 0) peak = Math.max(peak, treePss());
        if (state.seen) break;
        if (loops > 60000) throw new Error("the last line never appeared");
        await sleep(20);
      }
      const record = await builtRun(browser, shaOpen);
      cpuOpen.push(gains(openBefore, processes(), "cpu", "s"));
      open.push(await printMs(browser, record, n, `open-${round}`));
      const build = record.run.parts.find((p) => p.kind === "build");
      const page = await browser.execute(() => {
        clearInterval(window.__benchTimer);
        return window.__bench;
      });
      visible.push(page.seenAt - build.finishedAt);
      stalls.push(...page.lags);
      await sleep(3000);
      growth.push(treePss() - idlePss);
      byProcess.push(gains(idleProcesses, processes(), "pss", "MB"));
      peaks.push(Math.max(peak, treePss()) - idlePss);
      await browser.closeWindow();
      await browser.switchToWindow(main);
      await idle(browser);
    }
    return { n, closed, open, trips, stalls, visible, growth, peaks, cpuClosed, cpuOpen, byProcess, idleCpu };
  } finally {
    await closeApp(browser).catch(() => {});
    await stopDriver(driver, home);
  }
}

const results = [];
for (const n of sizes) {
  const r = await measure(n);
  results.push(r);
  const ratio = median(r.open) / median(r.closed);
  console.log(
    `${n.toLocaleString("en-US")} lines: build ${(median(r.closed) / 1000).toFixed(2)} s closed vs ${(median(r.open) / 1000).toFixed(2)} s open (ratio ${ratio.toFixed(2)});` +
      ` round trip while streaming p50 ${percentile(r.trips, 0.5).toFixed(0)} ms, p99 ${percentile(r.trips, 0.99).toFixed(0)} ms (${r.trips.length} trips);` +
      ` page timer late p99 ${percentile(r.stalls, 0.99).toFixed(0)} ms, max ${percentile(r.stalls, 1).toFixed(0)} ms;` +
      ` last line on screen ${median(r.visible).toFixed(0)} ms after the part ended;` +
      ` memory growth ${median(r.growth).toFixed(1)} MB after (peak ${Math.max(...r.peaks).toFixed(1)} MB while streaming)`,
  );
  console.log(`  CPU for the build, window closed: ${r.cpuClosed.join(" | ")}`);
  console.log(`  CPU for the build, window open:   ${r.cpuOpen.join(" | ")}`);
  console.log(`  memory growth by process: ${r.byProcess.join(" | ")}`);
  console.log(`  CPU in 4 s idle with the stage window open: ${r.idleCpu.join(" | ")}`);
}
if (process.env.STAGELINE_BENCH_JSON) writeFileSync(process.env.STAGELINE_BENCH_JSON, JSON.stringify(results, null, 1));
