// The live view of a running ssh session: what is typed there shows in the page within 2 s, and
// Terminate (reason required) ends that ssh session.
// stdin: "LINK <watcher> <url>", then "TYPED" once the test has typed TEXT into the session,
//   and "GONE" once the ssh client has exited after the terminate.
// argv: WATCHER SESSION_ID TEXT. stdout: "READY" (live view open), "SEEN <ms>", "TERMINATED".
import { browserFor, check, clean, expectLine, readLink, say, scenario, shot, signIn } from "./lib.mjs";

const [watcher, sessionId, text] = process.argv.slice(2);

await scenario("live view", async (defer) => {
  const b = await browserFor();
  defer(b.close);
  const page = b.page;
  await signIn(page, await readLink(watcher), watcher);
  await page.goto(`${new URL(page.url()).origin}/#/live/${encodeURIComponent(sessionId)}`);
  const screen = page.locator("#live-screen");
  // The first screen message arrives once the page has sent its CSRF token.
  await page.waitForFunction(() => (document.querySelector("#live-screen")?.textContent || "").trim().length > 0, null, { timeout: 15000 });
  const before = await screen.textContent();
  check(!before.includes(text), `the live view shows "${text}" before it was typed`);
  // Empty reason: the page refuses to send.
  check((await page.locator("#terminate").count()) === 1, "no Terminate button for a user whose roles may kill");
  say("READY");

  await expectLine("TYPED", 30000);
  const start = Date.now();
  await page.waitForFunction((t) => (document.querySelector("#live-screen")?.textContent || "").includes(t), text, { timeout: 5000, polling: 50 }).catch(() => {});
  const ms = Date.now() - start;
  const now = await screen.textContent();
  check(now.includes(text), `the live view did not show "${text}" within 5 s; it shows: ${now.replace(/\s+/g, " ").trim().slice(-200)}`);
  say(`SEEN ${ms}`);
  check(ms <= 2000, `the typed text took ${ms} ms to reach the live view (limit 2000 ms)`);
  // Terminal lines are text: nothing in them became an element.
  check((await screen.locator("*").count()) === 0, "the live screen contains elements, not only text");
  await shot(page, "live");

  let posts = 0;
  page.on("request", (r) => {
    if (r.method() === "POST" && r.url().endsWith(`/sessions/${sessionId}/terminate`)) posts++;
  });
  await page.locator("#terminate").click();
  await page.waitForTimeout(300);
  const invalid = await page.locator("#terminate-reason").evaluate((e) => !e.validity.valid);
  check(invalid && posts === 0, "Terminate without a reason was not refused in the page");
  await page.locator("#terminate-reason").fill("web console test: terminate from the live view");
  const answer = page.waitForResponse((r) => r.url().endsWith(`/sessions/${sessionId}/terminate`));
  await page.locator("#terminate").click();
  const response = await answer;
  check(response.status() === 200, `POST terminate answered ${response.status()}: ${await response.text()}`);
  await page.locator("#live-status.ended").waitFor({ timeout: 10000 });
  const status = await page.locator("#live-status").textContent();
  say("TERMINATED");
  await expectLine("GONE", 30000);
  check(status.trim().length > 0, "the live view's end notice is empty");
  await shot(page, "live-ended");
  clean(b.watch, "live view");
  say("PASS live view and terminate");
});
