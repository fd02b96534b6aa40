// Drives the real Stageline window through tauri-driver (WebKitWebDriver).
// Each test file gets its own data folder (XDG dirs) and its own Git
// repository; the test command provides Xvfb, D-Bus, a keyring and moto.
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { remote } from "webdriverio";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const application = process.env.STAGELINE_BINARY ?? join(root, "target/debug/stageline");
export const screenshots = join(root, "tests/screenshots");
// The WebDriver port (tauri-driver), and the one it gives WebKitWebDriver next to it.
const port = Number(process.env.STAGELINE_WEBDRIVER_PORT ?? 4444);

/** The moto server the test command started. */
export function motoUrl() {
  const url = process.env.STAGELINE_MOTO_URL;
  if (!url) throw new Error("STAGELINE_MOTO_URL is not set: run the end-to-end tests through the README's test command.");
  return url;
}

/** Empties the AWS emulator, so stacks of an earlier test file (same names) are gone. */
export async function resetMoto() {
  const res = await fetch(`${motoUrl()}/moto-api/reset`, { method: "POST" });
  if (!res.ok) throw new Error(`could not reset moto: ${res.status}`);
}

/** A temporary home for one test file: app data, config, repositories. */
export function makeHome(name) {
  const home = mkdtempSync(join(tmpdir(), `stageline-e2e-${name}-`));
  for (const dir of ["data", "config", "cache", "home"]) mkdirSync(join(home, dir), { recursive: true });
  return home;
}

function git(cwd, ...args) {
  return execFileSync("git", args, {
    cwd,
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: "1", HOME: cwd, GIT_AUTHOR_NAME: "Ada", GIT_AUTHOR_EMAIL: "ada@example.com", GIT_COMMITTER_NAME: "Ada", GIT_COMMITTER_EMAIL: "ada@example.com" },
    encoding: "utf8",
  }).trim();
}

/**
 * build.yml commands that push the commit's image as TinyStacks' build.yml
 * does, and release.yml commands that tag it for the stage. `docker` is the
 * tests' stand-in (tests/tools/docker), `aws` the real AWS CLI: both talk to
 * moto through the variables Stageline gives every part.
 */
export const PUSH_IMAGE = `      - aws ecr get-login-password | docker login --username AWS --password-stdin $ECR_ENDPOINT
      - docker build -t builtimage .
      - docker tag builtimage:latest $ECR_IMAGE_URL:latest
      - docker tag builtimage:latest $ECR_IMAGE_URL:$(git rev-parse HEAD)
      - docker push $ECR_IMAGE_URL:latest
      - docker push $ECR_IMAGE_URL:$(git rev-parse HEAD)
`;
export const TAG_IMAGE = `      - aws ecr get-login-password | docker login --username AWS --password-stdin $ECR_ENDPOINT
      - docker pull $ECR_IMAGE_URL:$PREVIOUS_STAGE_NAME
      - docker tag $ECR_IMAGE_URL:$PREVIOUS_STAGE_NAME $ECR_IMAGE_URL:$STAGE_NAME
      - docker push $ECR_IMAGE_URL:$STAGE_NAME
`;

/** A real Git repository on `main` with a tiny web app and its buildspecs. */
export function makeRepo(home, files = {}) {
  const repo = join(home, "shop");
  mkdirSync(repo, { recursive: true });
  git(repo, "init", "-q", "-b", "main");
  const defaults = {
    "app.js": "require('http').createServer((q, s) => s.end('hello')).listen(process.env.PORT || 80);\n",
    "Dockerfile": "FROM public.ecr.aws/docker/library/node:20-alpine\nCOPY app.js .\nCMD [\"node\", \"app.js\"]\n",
    "build.yml": `version: 0.2\nphases:\n  build:\n    commands:\n      - echo building $(git rev-parse --short HEAD)\n${PUSH_IMAGE}`,
    "release.yml": `version: 0.2\nphases:\n  build:\n    commands:\n      - echo releasing to $STAGE_NAME in $STAGE_REGION\n${TAG_IMAGE}`,
  };
  for (const [name, text] of Object.entries({ ...defaults, ...files })) writeFileSync(join(repo, name), text);
  git(repo, "add", "-A");
  git(repo, "commit", "-q", "-m", "First version of the shop");
  return repo;
}

/** Commits a change to the repository; returns the new sha. */
export function commit(repo, file, text, message) {
  writeFileSync(join(repo, file), text);
  git(repo, "add", "-A");
  git(repo, "commit", "-q", "-m", message);
  return git(repo, "rev-parse", "HEAD");
}

/**
 * tauri-driver for one test file, with the app's data in `home`. A second
 * desktop (`ownSession`) gets its own WebDriver port and its own D-Bus
 * session with its own keyring, so the app's single-instance check does not
 * join it to the first.
 */
export async function startDriver(home, { port: driverPort = port, ownSession = false } = {}) {
  const env = {
    ...process.env,
    HOME: join(home, "home"),
    XDG_DATA_HOME: join(home, "data"),
    XDG_CONFIG_HOME: join(home, "config"),
    XDG_CACHE_HOME: join(home, "cache"),
    // Builds find the real AWS CLI and the docker stand-in first.
    PATH: `${join(root, "tests/tools")}:${join(root, ".venv-moto/bin")}:${process.env.PATH}`,
    DOCKER_CONFIG: join(home, "docker"),
  };
  // Its own process group, so stopping it also stops the WebKitWebDriver it starts.
  const args = ["--port", String(driverPort), "--native-port", String(driverPort + 1)];
  const [command, argv] = ownSession ? [join(root, ".ci/with-keyring"), ["tauri-driver", ...args]] : ["tauri-driver", args];
  const driver = spawn(command, argv, { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  driver.stdout.on("data", (d) => (output += d));
  driver.stderr.on("data", (d) => (output += d));
  for (let i = 0; i < 100; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${driverPort}/status`);
      if (res.ok) return { driver, output: () => output, port: driverPort };
    } catch {
      /* not up yet */
    }
    await sleep(100);
  }
  process.kill(-driver.pid, "SIGTERM");
  throw new Error(`tauri-driver did not start: ${output}`);
}

/** Stops whatever is left of an earlier app process (one instance only may run). */
async function noAppRunning() {
  for (let i = 0; i < 50; i++) {
    try {
      execFileSync("pgrep", ["-f", application]);
    } catch {
      return; // none left
    }
    if (i === 20) execFileSync("pkill", ["-KILL", "-f", application]);
    await sleep(100);
  }
}

/**
 * A new session: starts the app (again, on the same data). A second desktop
 * passes its driver (`startDriver(…, { ownSession: true })`) and leaves the
 * first running.
 */
export async function openApp(secondDesktop = null) {
  if (!secondDesktop) await noAppRunning();
  const browser = await remote({
    hostname: "127.0.0.1",
    port: secondDesktop?.port ?? port,
    logLevel: "error",
    capabilities: {
      "wdio:enforceWebDriverClassic": true,
      "tauri:options": { application },
    },
  });
  await browser.setTimeout({ implicit: 0 });
  await browser.$('[data-testid="new-stack"]').waitForExist({ timeout: 20000 });
  return browser;
}

/** Closes the app (a restart follows with `openApp`). */
export async function closeApp(browser) {
  await browser.deleteSession();
  await noAppRunning();
}

export async function stopDriver(handle, home) {
  try {
    process.kill(-handle.driver.pid, "SIGTERM");
  } catch {
    /* already gone */
  }
  await noAppRunning();
  for (let i = 0; i < 50; i++) {
    try {
      execFileSync("pgrep", ["-x", "WebKitWebDriver"]);
    } catch {
      break; // none left
    }
    await sleep(100);
  }
  if (!process.env.STAGELINE_KEEP_E2E) rmSync(home, { recursive: true, force: true });
}

/** Saves what the window shows, for the developers to look at. */
export async function shot(browser, name) {
  mkdirSync(screenshots, { recursive: true });
  await sleep(250);
  // WebKitGTK without GPU compositing (the app's default) takes a snapshot on
  // its next paint; a still page never paints again. An invisible animated
  // pixel keeps it painting while the snapshot is taken.
  await browser.execute(() => {
    const style = document.createElement("style");
    style.id = "e2e-repaint-style";
    style.textContent =
      "@keyframes e2e-repaint{to{transform:translateX(1px)}}#e2e-repaint{position:fixed;left:0;top:0;width:1px;height:1px;opacity:.01;pointer-events:none;animation:e2e-repaint .1s infinite alternate}";
    const pixel = document.createElement("div");
    pixel.id = "e2e-repaint";
    document.head.append(style);
    document.body.append(pixel);
  });
  await browser.saveScreenshot(join(screenshots, `${name}.png`));
  await browser.execute(() => {
    document.getElementById("e2e-repaint")?.remove();
    document.getElementById("e2e-repaint-style")?.remove();
  });
}

export const byTestId = (browser, id) => browser.$(`[data-testid="${id}"]`);

/** Clicks an element once it is there and enabled. */
export async function click(browser, id) {
  const el = await byTestId(browser, id);
  await el.waitForClickable({ timeout: 15000 });
  await el.click();
}

/** Replaces an input's value. */
export async function type(browser, id, text) {
  const el = await byTestId(browser, id);
  await el.waitForExist({ timeout: 10000 });
  await el.clearValue();
  await el.setValue(text);
}

/** The stage names of a stack, left to right, as the dashboard shows them. */
export async function stageOrder(browser, stack) {
  return browser.execute((s) => {
    const pipeline = document.querySelector(`[data-testid="pipeline-${s}"]`);
    return pipeline ? Array.from(pipeline.querySelectorAll("[data-stage-name]")).map((e) => e.getAttribute("data-stage-name")) : [];
  }, stack);
}

/** Waits until `check` returns true (a bound for a hung test, not a speed check). */
export async function waitFor(browser, what, check, timeout = 30000) {
  try {
    await browser.waitUntil(check, { timeout, interval: 200, timeoutMsg: `timed out waiting until ${what}` });
  } catch (error) {
    // What the window showed when it went wrong, for whoever reads the failure.
    await shot(browser, `failed-${what.replace(/[^a-z0-9]+/gi, "-")}`).catch(() => {});
    throw error;
  }
}

/** Drags the new stage card with pointer events, in steps, to just right of (or left of) a stage in the order row. */
export async function dragNewStage(browser, targetTestId, side) {
  const card = await byTestId(browser, "new-stage-card");
  const target = await byTestId(browser, targetTestId);
  await card.scrollIntoView();
  const from = await card.getLocation();
  const fromSize = await card.getSize();
  const to = await target.getLocation();
  const toSize = await target.getSize();
  const startX = Math.round(from.x + fromSize.width / 2);
  const startY = Math.round(from.y + fromSize.height / 2);
  const endX = Math.round(side === "after" ? to.x + toSize.width - 4 : to.x + 4);
  const endY = Math.round(to.y + toSize.height / 2);
  const steps = 10;
  let action = browser.action("pointer", { parameters: { pointerType: "mouse" } }).move({ x: startX, y: startY }).down();
  for (let i = 1; i <= steps; i++) {
    action = action.move({
      x: Math.round(startX + ((endX - startX) * i) / steps),
      y: Math.round(startY + ((endY - startY) * i) / steps),
      duration: 50,
    });
  }
  await action.up().perform();
}

/** Calls a backend command from inside the window (as the UI does). */
export async function invoke(browser, command, args = {}) {
  const result = await browser.execute(
    async (c, a) => {
      try {
        return { ok: await window.__TAURI_INTERNALS__.invoke(c, a) };
      } catch (error) {
        return { error };
      }
    },
    command,
    args,
  );
  if (result.error) throw new Error(`${command}: ${JSON.stringify(result.error)}`);
  return result.ok;
}

/** The dashboard's view of one stage. */
export async function stageView(browser, stack, stage) {
  const stacks = await invoke(browser, "dashboard");
  return stacks.find((s) => s.stack.name === stack)?.stages.find((s) => s.stage.settings.name === stage);
}

/** The sha a stage runs now. */
export async function deployedSha(browser, stack, stage) {
  return (await stageView(browser, stack, stage))?.deployed?.commit.sha ?? null;
}

/** Settings input (as the backend takes it) from a stage's current settings. */
export function settingsInput(settings, changes = {}) {
  const env = (vars) =>
    vars.map((v) => ({
      name: v.name,
      value: v.value.kind === "plain" ? { kind: "plain", value: v.value.value } : { kind: "keepSecret", keychainRef: v.value.keychainRef },
    }));
  return { ...settings, buildEnv: env(settings.buildEnv), runtimeEnv: env(settings.runtimeEnv), ...changes };
}

/** Starts a notification daemon (dunst) whose context menu picks the "Approve" action. */
export function startNotifications(home) {
  const picker = join(home, "pick-approve.sh");
  writeFileSync(picker, "#!/bin/sh\n# dunst's dmenu: pick the notification's Approve action.\ntee -a \"$0.seen\" | grep -m1 -i '^#approve'\n", { mode: 0o755 });
  const config = join(home, "dunstrc");
  writeFileSync(config, `[global]\n    dmenu = ${picker}\n    timeout = 0\n`);
  const daemon = spawn("dunst", ["-config", config], { stdio: "ignore" });
  return { daemon, picker };
}

/** Opens dunst's context menu, as a user clicking the notification's action would. */
export function pickNotificationAction() {
  return execFileSync("dunstctl", ["context"], { encoding: "utf8", timeout: 10000 });
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/**
 * Shows the window in the light or the dark theme: the stylesheet's rules
 * inside `@media (prefers-color-scheme: dark)` applied unconditionally, as the
 * OS setting would (the test display's WebKit follows the light GTK theme).
 */
export async function useTheme(browser, theme) {
  await browser.execute((theme) => {
    document.getElementById("e2e-dark")?.remove();
    if (theme !== "dark") return;
    const rules = [...document.styleSheets].flatMap((sheet) => {
      try {
        return [...sheet.cssRules];
      } catch {
        return [];
      }
    });
    const dark = rules.filter((r) => r instanceof CSSMediaRule && r.conditionText.includes("prefers-color-scheme: dark"));
    const style = document.createElement("style");
    style.id = "e2e-dark";
    // No transitions: axe would read colours half way from light to dark.
    style.textContent = [
      "*, *::before, *::after { transition: none !important; }",
      ...dark.flatMap((r) => [...r.cssRules].map((inner) => inner.cssText)),
    ].join("\n");
    document.head.append(style);
  }, theme);
}

/** axe-core's serious and critical findings on what the window shows in `theme`, each naming where it is. */
export async function axeFindings(browser, theme) {
  // Given as the script itself: WebDriver runs it outside the page's CSP, which refuses eval.
  if (!(await browser.execute(() => Boolean(window.axe)))) await browser.execute(`${axeSource}\nwindow.axe = axe;`);
  await useTheme(browser, theme);
  const findings = await browser.executeAsync(async (done) => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    done(
      result.violations
        .filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => `${n.target.join(" ")}${n.any[0]?.message ? ` (${n.any[0].message})` : ""}`).slice(0, 5).join(", ")}`),
    );
  });
  await useTheme(browser, "light");
  return findings;
}
