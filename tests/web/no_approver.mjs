// A user without the approver role: the API answers 403 to the approvals queue and to approve,
// and the pages show no Approvals link and no approve button anywhere.
// stdin: "LINK <user> <url>". argv: USER PENDING_GRANT_ID (a request someone else made).
import { browserFor, check, clean, readLink, say, scenario, shot, signIn } from "./lib.mjs";

const [user, pending] = process.argv.slice(2);

await scenario("no approver role", async (defer) => {
  const b = await browserFor({ viewport: { width: 390, height: 844 } });
  defer(b.close);
  const page = b.page;
  await signIn(page, await readLink(user), user);
  const statuses = await page.evaluate(async (id) => {
    const me = await (await fetch("/api/v1/me")).json();
    const list = await fetch("/api/v1/requests");
    const post = (path, body) =>
      fetch(path, { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": me.csrf }, body: JSON.stringify(body) });
    const approve = await post(`/api/v1/requests/${encodeURIComponent(id)}/approve`, { comment: "not mine to approve" });
    const deny = await post(`/api/v1/requests/${encodeURIComponent(id)}/deny`, { reason: "not mine to deny" });
    // And the same approve without the CSRF header is refused before anything else.
    const noCsrf = await fetch(`/api/v1/requests/${encodeURIComponent(id)}/approve`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    return { may: me.may, list: list.status, approve: approve.status, deny: deny.status, noCsrf: noCsrf.status };
  }, pending);
  check(statuses.may && statuses.may.approve === false, `/api/v1/me says may.approve=${statuses.may && statuses.may.approve}`);
  check(statuses.list === 403, `GET /api/v1/requests answered ${statuses.list}, not 403`);
  check(statuses.approve === 403, `POST approve answered ${statuses.approve}, not 403`);
  check(statuses.deny === 403, `POST deny answered ${statuses.deny}, not 403`);
  check(statuses.noCsrf === 403, `POST approve without X-CSRF-Token answered ${statuses.noCsrf}, not 403`);
  say("PASS API refuses with 403");

  check((await page.locator('#nav a[href="#/approvals"]').count()) === 0, "the nav shows Approvals to a user without the approver role");
  check((await page.locator("button.approve, button.deny").count()) === 0, "an approve/deny button on the grants page");
  await page.goto(`${new URL(page.url()).origin}/#/approvals`);
  await page.locator("#approvals .error").waitFor({ timeout: 10000 });
  check((await page.locator("button.approve, button.deny").count()) === 0, "an approve/deny button on the approvals page");
  await shot(page, "approvals-not-approver-phone");
  clean(b.watch, "approvals page");
  say("PASS no approve button");
});
