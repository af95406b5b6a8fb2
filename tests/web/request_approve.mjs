// Request in the page as the requester, approve in the page as an approver (on a phone-sized
// screen, where approvers decide at night), and the requester's page shows the grant active.
// stdin: "LINK <requester> <url>", later "LINK <approver> <url>". argv: REQUESTER APPROVER TARGET.
// stdout: "REQUESTED <grant id>" (the test then sends the approver's link), "APPROVED <id>"
//   (the test then uses the grant over ssh and sends "USED"), "REVOKED <id>" (revoked in the
//   requester's page; the test checks ssh is refused).
import { browserFor, check, clean, expectLine, readLink, say, scenario, shot, signIn } from "./lib.mjs";

const [requester, approver, target] = process.argv.slice(2);
const phone = { width: 390, height: 844 };

await scenario("request and approve", async (defer) => {
  const alice = await browserFor();
  defer(alice.close);
  await signIn(alice.page, await readLink(requester), requester);
  const page = alice.page;
  await page.locator("#req-target").waitFor();
  await page.locator("#req-target").selectOption(target);
  await page.locator("#req-duration").fill("30m");
  await page.locator("#req-reason").fill("restart replication after the failover (web console test)");
  await page.locator("#req-ticket").fill("OPS-4242");
  const answer = page.waitForResponse((r) => r.url().endsWith("/api/v1/requests") && r.request().method() === "POST");
  await page.locator("#req-submit").click();
  const response = await answer;
  const grant = await response.json();
  check(response.status() === 201, `POST /api/v1/requests answered ${response.status()}: ${JSON.stringify(grant)}`);
  check(grant.state === "pending", `the request is ${grant.state}, not pending: the test's rule must need an approval`);
  await page.locator("#req-message .ok").waitFor();
  await page.locator(`article[data-grant="${grant.id}"]`).waitFor();
  await shot(page, "grants-requested");
  clean(alice.watch, "request form");
  say(`REQUESTED ${grant.id}`);

  const bob = await browserFor({ viewport: phone });
  defer(bob.close);
  await signIn(bob.page, await readLink(approver), approver);
  await bob.page.locator('#nav a[href="#/approvals"]').click();
  const card = bob.page.locator(`#approvals article[data-grant="${grant.id}"]`);
  await card.waitFor({ timeout: 15000 });
  const cardText = await card.textContent();
  for (const want of [requester, "restart replication after the failover", "OPS-4242"])
    check(cardText.includes(want), `the approval card does not show "${want}"`);
  // On a phone the Approve button is in view once scrolled to, and wide enough for a thumb.
  const approve = card.locator("button.approve");
  await approve.scrollIntoViewIfNeeded();
  const box = await approve.boundingBox();
  check(box && box.width >= 300 && box.height >= 40, `the Approve button is ${box && box.width}x${box && box.height} on a 390px screen`);
  const overflow = await bob.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `the approvals page is ${overflow}px wider than a 390px phone screen`);
  await shot(bob.page, "approvals-phone");
  await card.locator(".approve-comment").fill("ok from the web console test");
  await approve.click();
  await card.locator(".decision-message .ok").waitFor({ timeout: 15000 });
  await shot(bob.page, "approvals-approved-phone");
  clean(bob.watch, "approvals page");
  say(`APPROVED ${grant.id}`);

  await page.reload();
  const mine = page.locator(`article[data-grant="${grant.id}"]`);
  await mine.waitFor();
  await mine.locator(".badge-active").waitFor({ timeout: 10000 });
  await shot(page, "grants-active");
  say("PASS grant active in the requester's page");

  await expectLine("USED", 60000);
  await mine.locator(".revoke-reason").fill("done with the failover");
  await mine.locator("button.revoke").click();
  await mine.locator("p.ok").waitFor({ timeout: 10000 });
  await page.reload();
  await page.locator(`article[data-grant="${grant.id}"] .badge-revoked`).waitFor({ timeout: 10000 });
  await shot(page, "grants-revoked");
  clean(alice.watch, "grants page");
  say(`REVOKED ${grant.id}`);
});
