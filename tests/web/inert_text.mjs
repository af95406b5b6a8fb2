// A reason with <script>, an <img onerror>, and terminal escapes, typed into the request form,
// shows as inert text wherever it appears: no dialog, no injected element, no script run, and
// the text visible literally (escape characters written out as \x1b, as the CLI shows them).
// stdin: "LINK <requester> <url>", then (after "REQUESTED <id>") "LINK <approver> <url>".
// argv: REQUESTER APPROVER TARGET.
import { browserFor, check, clean, readLink, say, scenario, shot, signIn } from "./lib.mjs";

const [requester, approver, target] = process.argv.slice(2);
const hostile = '<script>window.__xss=1;alert("xss")</script><img src=x onerror="window.__xss=2;alert(2)"> \x1b[31mred\x1b[0m \x1b]0;title\x07 \u009b31m end';

// What a card with the hostile reason shows and what it became.
async function probe(page, grantId) {
  await page.waitForTimeout(500); // time for an injected handler (onerror, script) to fire, if one could
  return page.evaluate((id) => {
    const card = document.querySelector(`article[data-grant="${id}"]`);
    return {
      text: card.innerText,
      injected: card.querySelectorAll("script, img, iframe, svg, object, embed").length,
      scripts: [...document.scripts].map((s) => s.src || "inline"),
      xss: window.__xss ?? null,
    };
  }, grantId);
}

function inert(p, where) {
  check(p.xss === null, `${where}: injected script ran (window.__xss = ${p.xss})`);
  check(p.injected === 0, `${where}: the reason became ${p.injected} element(s) in the page`);
  check(p.scripts.every((s) => s !== "inline" && new URL(s).pathname.startsWith("/assets/")), `${where}: a script that is not one of ours: ${p.scripts.join(", ")}`);
  check(p.text.includes('<script>window.__xss=1;alert("xss")</script>'), `${where}: the reason's <script> is not visible as text`);
  check(p.text.includes("\\x1b[31mred\\x1b[0m"), `${where}: the reason's escape sequence is not shown literally (as \\x1b[31m)`);
  check(p.text.includes("\\u009b31m end"), `${where}: the C1 control character is not shown literally (as \\u009b)`);
  check(!/[\x1b\x07\u009b]/.test(p.text), `${where}: a raw control character reached the page`);
}

await scenario("inert text", async (defer) => {
  const a = await browserFor();
  defer(a.close);
  await signIn(a.page, await readLink(requester), requester);
  await a.page.locator("#req-target").selectOption(target);
  await a.page.locator("#req-reason").fill(hostile);
  const answer = a.page.waitForResponse((r) => r.url().endsWith("/api/v1/requests") && r.request().method() === "POST");
  await a.page.locator("#req-submit").click();
  const response = await answer;
  const grant = await response.json();
  check(response.status() === 201, `POST /api/v1/requests answered ${response.status()}: ${JSON.stringify(grant)}`);
  check(grant.reason === hostile, "the API changed the reason instead of storing it as typed");
  await a.page.locator(`article[data-grant="${grant.id}"]`).waitFor({ timeout: 10000 });
  inert(await probe(a.page, grant.id), "requester's grants page");
  clean(a.watch, "grants page with a hostile reason");
  say(`REQUESTED ${grant.id}`);

  const b = await browserFor();
  defer(b.close);
  const page = b.page;
  await signIn(page, await readLink(approver), approver);
  await page.goto(`${new URL(page.url()).origin}/#/approvals`);
  await page.locator(`#approvals article[data-grant="${grant.id}"]`).waitFor({ timeout: 15000 });
  inert(await probe(page, grant.id), "approvals page");
  await shot(page, "inert-text");
  clean(b.watch, "approvals page with a hostile reason");
  say("PASS hostile reason is inert text");

  // Deny it: without a reason the page does not send; with one, the request is denied.
  const card = page.locator(`#approvals article[data-grant="${grant.id}"]`);
  let posts = 0;
  page.on("request", (r) => {
    if (r.method() === "POST" && r.url().endsWith(`/requests/${grant.id}/deny`)) posts++;
  });
  await card.locator("button.deny").click();
  await page.waitForTimeout(300);
  check(posts === 0, "Deny without a reason was sent");
  await card.locator(".deny-reason").fill("no <b>reason</b> given");
  await card.locator("button.deny").click();
  await card.locator(".decision-message .ok").waitFor({ timeout: 10000 });
  check((await card.locator("button.approve, button.deny").count()) === 0, "the decided request still offers approve/deny");
  say("PASS denied in the page");

  // The audit log, where auditors read the same reason in the event's details.
  const me = await page.evaluate(async () => (await fetch("/api/v1/me")).json());
  if (me.may && me.may.audit) {
    await page.goto(`${new URL(page.url()).origin}/#/audit`);
    await page.locator("#audit table, #audit p").first().waitFor({ timeout: 15000 });
    await page.waitForTimeout(300);
    const audit = await page.evaluate(() => ({ injected: document.querySelectorAll("main script, main img, main iframe").length, xss: window.__xss ?? null }));
    check(audit.xss === null && audit.injected === 0, "the audit log page ran or built something from the reason");
    await shot(page, "inert-text-audit");
    clean(b.watch, "audit log with a hostile reason");
    say("PASS audit log shows it as text");
  }
});
