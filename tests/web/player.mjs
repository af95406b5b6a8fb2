// An auditor finds a recorded session in the list, plays it (the typed command's output appears
// on the player's screen), clicks a command (the player seeks there), finds the session again
// through search (the result opens the player at that moment), and looks at the audit log and
// the break-glass review queue.
// stdin: "LINK <auditor> <url>". argv: AUDITOR USER SESSION_ID COMMAND1 OUTPUT1 OUTPUT2
//   COMMAND1 is typed first and prints OUTPUT1; a later command prints OUTPUT2.
import { browserFor, check, clean, readLink, say, scenario, shot, signIn } from "./lib.mjs";

const [auditor, user, sessionId, command1, output1, output2] = process.argv.slice(2);

const screenText = (page) => page.locator("#player pre.ap-term-text").textContent();
async function waitScreen(page, predicate, what, timeout = 30000) {
  const start = Date.now();
  let text = "";
  while (Date.now() - start < timeout) {
    text = (await screenText(page).catch(() => "")) || "";
    if (predicate(text)) return text;
    await page.waitForTimeout(100);
  }
  throw new Error(`${what}; the player's screen shows: ${text.replace(/\s+/g, " ").trim().slice(0, 300)}`);
}
// The player's elapsed time ("01:02") in seconds.
async function elapsed(page) {
  const t = ((await page.locator("#player .ap-time-elapsed").textContent()) || "").trim();
  return t.split(":").reduce((acc, part) => acc * 60 + Number(part), 0);
}

await scenario("player", async (defer) => {
  const b = await browserFor({ viewport: { width: 1280, height: 1100 } });
  defer(b.close);
  const page = b.page;
  await signIn(page, await readLink(auditor), auditor);

  await page.goto(`${new URL(page.url()).origin}/#/sessions?user=${encodeURIComponent(user)}`);
  const row = page.locator(`#sessions tr[data-session="${sessionId}"]`);
  await row.waitFor({ timeout: 15000 });
  const rowText = await row.textContent();
  check(rowText.includes(user), "the session row does not show its user");
  await shot(page, "sessions");
  say("PASS session listed");

  await row.locator("a").first().click();
  await page.locator('#player[data-ready="true"]').waitFor({ timeout: 15000 });
  await page.locator("#player .ap-overlay-start, #player .ap-playback-button").first().click();
  await waitScreen(page, (t) => t.includes(output1), `the output "${output1}" of the typed command never appeared on the player's screen`);
  await waitScreen(page, (t) => t.includes(output2), `the later output "${output2}" never appeared on the player's screen`);
  await shot(page, "session-played", { fullPage: false });
  say("PASS player shows the typed command's output");

  // Seek back to the first command: the later output is not on the screen at that moment.
  const button = page.locator("#commands button.command").filter({ hasText: command1 }).first();
  await button.waitFor();
  const at = Number(await button.getAttribute("data-at"));
  await page.locator("#player .ap-playback-button").first().click().catch(() => {});
  await button.click();
  await page.locator(`#player[data-seeked-to="${at}"]`).waitFor({ timeout: 5000 });
  await waitScreen(page, (t) => !t.includes(output2), `after clicking "${command1}" (at ${at}s) the screen still shows the later output "${output2}"`, 5000);
  const now = await elapsed(page);
  check(Math.abs(now - at) <= 1.5, `after clicking "${command1}" (at ${at}s) the player's clock shows ${now}s`);
  await shot(page, "session-seeked", { fullPage: false });
  say("PASS clicking a command seeks the player");

  // Markers (if the recording has any): each is a button that seeks too.
  const pins = page.locator("#timeline button.pin");
  if ((await pins.count()) > 0) {
    const pinAt = Number(await pins.first().getAttribute("data-at"));
    await pins.first().click();
    await page.locator(`#player[data-seeked-to="${pinAt}"]`).waitFor({ timeout: 5000 });
    say("PASS clicking a marker seeks the player");
  }
  clean(b.watch, "session page");

  // Search for the later output: the result links to the moment, and the player opens there.
  await page.goto(`${new URL(page.url()).origin}/#/search?q=${encodeURIComponent(output2)}`);
  const hit = page.locator("#results li.hit a").first();
  await hit.waitFor({ timeout: 15000 });
  const href = await hit.getAttribute("href");
  check(href.startsWith(`#/sessions/${sessionId}?t=`), `the search result links to ${href}, not to session ${sessionId} at a moment`);
  const t = Number(new URLSearchParams(href.split("?")[1]).get("t"));
  await shot(page, "search");
  await hit.click();
  await page.locator(`#player[data-seeked-to="${t}"]`).waitFor({ timeout: 15000 });
  const there = await elapsed(page);
  check(Math.abs(there - t) <= 1.5, `the search result opened the player at ${there}s, not ${t}s`);
  await shot(page, "session-from-search", { fullPage: false });
  say("PASS search result opens the player at the moment");

  await page.goto(`${new URL(page.url()).origin}/#/audit`);
  await page.locator("#audit table, #audit p").first().waitFor({ timeout: 15000 });
  check((await page.locator("#audit tbody tr").count()) > 0, "the audit log page shows no event");
  await shot(page, "audit");
  const me = await page.evaluate(async () => (await fetch("/api/v1/me")).json());
  if (me.may && me.may.review) {
    await page.goto(`${new URL(page.url()).origin}/#/reviews?all=true`);
    await page.locator("#reviews > *").first().waitFor({ timeout: 15000 });
    await shot(page, "reviews");
  }
  clean(b.watch, "search and audit pages");
  say("PASS audit log shown");
});
