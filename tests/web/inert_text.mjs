// A reason with <script>, an <img onerror>, and terminal escapes shows as inert text wherever it
// appears: no dialog, no injected element, no script run, and the text visible literally (escape
// characters in caret notation, ^[).
// stdin: "LINK <approver> <url>". argv: APPROVER GRANT_ID (a pending request with that reason).
//   The reason the test used must contain "<script>" and "\x1b[".
import { browserFor, check, clean, readLink, say, scenario, shot, signIn } from "./lib.mjs";

const [approver, grantId] = process.argv.slice(2);

await scenario("inert text", async (defer) => {
  const b = await browserFor();
  defer(b.close);
  const page = b.page;
  await signIn(page, await readLink(approver), approver);
  await page.goto(`${new URL(page.url()).origin}/#/approvals`);
  const card = page.locator(`#approvals article[data-grant="${grantId}"]`);
  await card.waitFor({ timeout: 15000 });
  await page.waitForTimeout(500); // time for an injected handler (onerror, script) to fire, if one could
  const probe = await page.evaluate((id) => {
    const card = document.querySelector(`article[data-grant="${id}"]`);
    return {
      text: card.innerText,
      injected: card.querySelectorAll("script, img, iframe, svg, object, embed").length,
      scripts: [...document.scripts].map((s) => s.src || "inline"),
      xss: window.__xss ?? null,
    };
  }, grantId);
  check(probe.xss === null, `injected script ran (window.__xss = ${probe.xss})`);
  check(probe.injected === 0, `the reason became ${probe.injected} element(s) in the page`);
  check(probe.scripts.every((s) => s !== "inline" && new URL(s).pathname.startsWith("/assets/")), `a script that is not one of ours: ${probe.scripts.join(", ")}`);
  check(probe.text.includes("<script>"), "the reason's <script> is not visible as text");
  check(probe.text.includes("^["), "the reason's escape character is not shown (as ^[)");
  check(!probe.text.includes("\x1b"), "a raw escape character reached the page");
  await shot(page, "inert-text");
  clean(b.watch, "approvals page with a hostile reason");
  say("PASS hostile reason is inert text");

  // The same text on the grant's sessions and in the audit log, where auditors see it.
  const me = await page.evaluate(async () => (await fetch("/api/v1/me")).json());
  if (me.may && me.may.audit) {
    await page.goto(`${new URL(page.url()).origin}/#/audit?object=${encodeURIComponent(grantId)}`);
    await page.locator("#audit table, #audit p").first().waitFor({ timeout: 15000 });
    await page.waitForTimeout(300);
    const audit = await page.evaluate(() => ({ injected: document.querySelectorAll("main script, main img, main iframe").length, xss: window.__xss ?? null }));
    check(audit.xss === null && audit.injected === 0, "the audit log page ran or built something from the reason");
    await shot(page, "inert-text-audit");
    clean(b.watch, "audit log with a hostile reason");
    say("PASS audit log shows it as text");
  }
});
