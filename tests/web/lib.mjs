// Shared by the browser scenarios in this folder. A scenario is a Node program that a gtest
// (tests/e2e/web_console_test.cpp) starts against a real portcullisd; the two talk in lines:
//   C++ -> script (stdin):  "LINK <user> <url>" (sign-in links are secrets, so never argv),
//                           and any word the scenario waits for ("TYPED", "GO"...);
//   script -> C++ (stdout): "READY", "SEEN <ms>", "SCREENSHOT <path>", "PASS <what>", and at
//                           the end "OK"; on failure "FAIL <why>" and exit status 1.
// The browser is Debian's chromium (no browser download is possible where this runs).

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";

const here = path.dirname(new URL(import.meta.url).pathname);
const uiDir = process.env.PORTCULLIS_UI_DIR || path.resolve(here, "../../web/ui");
const { chromium } = await import(path.join(uiDir, "node_modules/playwright-core/index.mjs"));

export const chromiumPath = process.env.PORTCULLIS_CHROMIUM || "/usr/bin/chromium";

export function say(line) {
  process.stdout.write(`${line}\n`);
}

export function fail(why) {
  say(`FAIL ${String(why).replace(/\s+/g, " ")}`);
  process.exit(1);
}

export function check(condition, why) {
  if (!condition) throw new Error(why);
}

// --- stdin, one line at a time ------------------------------------------------------------

const lines = [];
const waiters = [];
let stdinClosed = false;
const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const w = waiters.shift();
  if (w) w.resolve(line);
  else lines.push(line);
});
rl.on("close", () => {
  stdinClosed = true;
  for (const w of waiters.splice(0)) w.reject(new Error("stdin closed while waiting for the test's next line"));
});

export function nextLine(timeoutMs = 60000) {
  if (lines.length) return Promise.resolve(lines.shift());
  if (stdinClosed) return Promise.reject(new Error("stdin closed while waiting for the test's next line"));
  return new Promise((resolve, reject) => {
    const w = { resolve, reject };
    const timer = setTimeout(() => {
      const i = waiters.indexOf(w);
      if (i >= 0) waiters.splice(i, 1);
      reject(new Error(`no line from the test in ${timeoutMs} ms`));
    }, timeoutMs);
    w.resolve = (v) => {
      clearTimeout(timer);
      resolve(v);
    };
    w.reject = (e) => {
      clearTimeout(timer);
      reject(e);
    };
    waiters.push(w);
  });
}

// Waits for "WORD ..." on stdin and returns the rest of the line.
export async function expectLine(word, timeoutMs = 60000) {
  const line = await nextLine(timeoutMs);
  if (line !== word && !line.startsWith(`${word} `)) throw new Error(`expected "${word}" from the test, got "${line.slice(0, 40)}"`);
  return line.slice(word.length + 1);
}

// "LINK alice https://..." -> {user, url}
export async function readLink(user) {
  const rest = await expectLine("LINK");
  const [who, url] = rest.split(" ");
  check(who === user, `expected a sign-in link for ${user}, got one for ${who}`);
  check(/^https:\/\/[^ ]+\/login\?token=[^ ]+$/.test(url || ""), `the sign-in link for ${user} is not https://HOST:PORT/login?token=...`);
  return url;
}

// --- the browser --------------------------------------------------------------------------

export const outDir = process.env.PORTCULLIS_WEB_OUT || fs.mkdtempSync(path.join(os.tmpdir(), "portcullis-web-"));
fs.mkdirSync(outDir, { recursive: true });

export async function launch() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "portcullis-chromium-"));
  const args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"];
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args,
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 860 },
    timeout: 60000,
  });
  const close = async () => {
    await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

// A fresh, isolated browser (own cookies) for each user: launchPersistentContext has one
// context per profile, so a second user gets a second browser.
export async function browserFor(options = {}) {
  const { context, close } = await launch();
  if (options.viewport) await context.pages()[0]?.setViewportSize(options.viewport);
  const page = context.pages()[0] || (await context.newPage());
  if (options.viewport) await page.setViewportSize(options.viewport);
  const watch = watchPage(page);
  return { context, page, watch, close };
}

// Everything the page does that a test should notice: dialogs (an alert() from injected
// script), CSP violations, uncaught errors, failed requests.
export function watchPage(page) {
  const seen = { dialogs: [], errors: [], csp: [], console: [] };
  // Injected by the browser driver, not by the page, so the page's CSP does not apply to it.
  page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.error(`Content-Security-Policy violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`);
    });
  });
  page.on("dialog", async (d) => {
    seen.dialogs.push(`${d.type()}: ${d.message()}`);
    await d.dismiss().catch(() => {});
  });
  page.on("pageerror", (e) => seen.errors.push(String(e && e.message ? e.message : e)));
  page.on("console", (m) => {
    const t = m.text();
    if (m.type() === "error") seen.console.push(t);
    if (/Content Security Policy|Content-Security-Policy/i.test(t)) seen.csp.push(t);
  });
  return seen;
}

export function clean(seen, what) {
  check(seen.dialogs.length === 0, `${what}: a dialog opened: ${seen.dialogs.join(" | ")}`);
  check(seen.csp.length === 0, `${what}: the Content-Security-Policy refused something: ${seen.csp.join(" | ")}`);
  check(seen.errors.length === 0, `${what}: uncaught error in the page: ${seen.errors.join(" | ")}`);
}

export async function shot(page, name, options = {}) {
  const file = path.join(outDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: options.fullPage ?? true });
  say(`SCREENSHOT ${file}`);
  return file;
}

// Opens a sign-in link and waits until the app shows the signed-in user's name.
export async function signIn(page, url, user) {
  await page.goto(url, { waitUntil: "domcontentloaded" });
  await page.locator("#nav .who").filter({ hasText: user }).waitFor({ timeout: 15000 });
  check(!new URL(page.url()).search.includes("token="), "the sign-in token is still in the address bar after signing in");
}

// The origin of a sign-in link: https://HOST:PORT
export function originOf(url) {
  return new URL(url).origin;
}

// Runs `body` and turns any exception into FAIL + exit 1, and success into OK + exit 0.
export async function scenario(name, body) {
  const cleanups = [];
  try {
    await body((fn) => cleanups.push(fn));
    for (const fn of cleanups.splice(0).reverse()) await fn();
    say("OK");
    process.exit(0);
  } catch (e) {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {});
    fail(`${name}: ${e && e.message ? e.message : e}`);
  }
}
