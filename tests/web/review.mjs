// The break-glass review queue: a security reviewer sees the break-glass grant, follows it to its
// sessions (flagged break-glass), and acknowledges it with a note; it then leaves the queue.
// stdin: "LINK <reviewer> <url>". argv: REVIEWER GRANT_ID.
import { browserFor, check, clean, readLink, say, scenario, shot, signIn } from "./lib.mjs";

const [reviewer, grantId] = process.argv.slice(2);

await scenario("break-glass review", async (defer) => {
  const b = await browserFor();
  defer(b.close);
  const page = b.page;
  await signIn(page, await readLink(reviewer), reviewer);
  const origin = new URL(page.url()).origin;
  await page.locator('#nav a[href="#/reviews"]').click();
  const card = page.locator(`#reviews article[data-grant="${grantId}"]`);
  await card.waitFor({ timeout: 15000 });
  check((await card.locator(".badge-breakglass").count()) === 1, "the review card does not flag the grant break-glass");
  await shot(page, "reviews");

  // Its sessions, each flagged break-glass.
  await card.locator(`a[href="#/sessions?grant=${grantId}"]`).click();
  const row = page.locator("#sessions tbody tr").first();
  await row.waitFor({ timeout: 15000 });
  check((await row.locator(".badge-breakglass").count()) === 1, "the grant's session is not flagged break-glass in the sessions list");
  await shot(page, "sessions-of-break-glass-grant");
  say("PASS break-glass grant and its sessions shown");

  await page.goto(`${origin}/#/reviews`);
  await card.waitFor({ timeout: 15000 });
  await card.locator(".review-note").fill("checked the session: restarted the database only");
  const answer = page.waitForResponse((r) => r.url().endsWith(`/reviews/${grantId}/acknowledge`));
  await card.locator("button.acknowledge").click();
  const response = await answer;
  check(response.status() === 200, `POST acknowledge answered ${response.status()}: ${await response.text()}`);
  await card.locator("p.ok").waitFor({ timeout: 10000 });
  await page.reload();
  await page.locator("#reviews > *").first().waitFor({ timeout: 15000 });
  check((await page.locator(`#reviews article[data-grant="${grantId}"]`).count()) === 0, "the acknowledged grant is still in the queue");
  await page.goto(`${origin}/#/reviews?all=true`);
  const done = page.locator(`#reviews article[data-grant="${grantId}"]`);
  await done.waitFor({ timeout: 15000 });
  // reviewed_by is an actor ("user:bob"), as in the audit log.
  const doneText = await done.textContent();
  check(/Acknowledged by \S*/.test(doneText) && doneText.includes(reviewer), `the acknowledged grant does not say who acknowledged it: ${doneText}`);
  await shot(page, "reviews-acknowledged");
  clean(b.watch, "review pages");
  say("PASS acknowledged");
});
