// Sign in through a web-login link; the same link a second time is refused.
// stdin: "LINK <user> <url>". argv: USER.
import { browserFor, check, clean, readLink, say, scenario, shot, signIn } from "./lib.mjs";

const user = process.argv[2];

await scenario("sign in", async (defer) => {
  const url = await readLink(user);
  const first = await browserFor();
  defer(first.close);
  await signIn(first.page, url, user);
  await first.page.locator("#request, #grants").first().waitFor();
  const me = await first.page.evaluate(async () => (await fetch("/api/v1/me")).json());
  check(me.user === user, `/api/v1/me says ${me.user}, not ${user}`);
  // The session cookie is HttpOnly: the page's script must not see it.
  const cookieText = await first.page.evaluate(() => document.cookie);
  check(!cookieText.includes("portcullis_session"), "the session cookie is readable from script (not HttpOnly)");
  const cookies = await first.context.cookies();
  const session = cookies.find((c) => c.name === "portcullis_session");
  check(session && session.httpOnly && session.secure && session.sameSite === "Strict", `the session cookie is not HttpOnly+Secure+SameSite=Strict: ${JSON.stringify(session)}`);
  await shot(first.page, "grants");
  clean(first.watch, "grants page");
  say("PASS signed in");

  // A second browser (no cookie) opens the same link: refused, with the message that says what to do.
  const second = await browserFor();
  defer(second.close);
  await second.page.goto(url, { waitUntil: "domcontentloaded" });
  const error = second.page.locator(".error");
  await error.waitFor({ timeout: 15000 });
  const text = await error.textContent();
  check(/already used|expired/i.test(text), `the reused link showed "${text}" instead of a refusal`);
  check((await second.page.locator("#nav .who").count()) === 0, "the reused link signed someone in");
  const me2 = await second.page.evaluate(async () => (await fetch("/api/v1/me")).status);
  check(me2 === 401, `after the refused link /api/v1/me answered ${me2}, not 401`);
  await shot(second.page, "login-refused");
  say("PASS reused link refused");

  // Sign out: the cookie no longer works.
  await first.page.locator("#signout").click();
  await first.page.locator("text=You are signed out").waitFor();
  const after = await first.page.evaluate(async () => (await fetch("/api/v1/me")).status);
  check(after === 401, `after signing out /api/v1/me answered ${after}, not 401`);
  say("PASS signed out");
});
