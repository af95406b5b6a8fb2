// A user enrolled for TOTP: the sign-in link alone opens nothing but the code form; a wrong code
// is refused in the page; the right one signs in.
// stdin: "LINK <user> <url>", then "CODE <digits>" when the scenario prints "ASK".
// argv: USER.
import { browserFor, check, clean, expectLine, readLink, say, scenario, shot } from "./lib.mjs";

const user = process.argv[2];

await scenario("totp", async (defer) => {
  const b = await browserFor({ viewport: { width: 390, height: 844 } });
  defer(b.close);
  const page = b.page;
  await page.goto(await readLink(user), { waitUntil: "domcontentloaded" });
  await page.locator("#totp-code").waitFor({ timeout: 15000 });
  check((await page.locator("#nav a").count()) === 0, "the nav shows pages before the TOTP code");
  const grants = await page.evaluate(async () => (await fetch("/api/v1/grants")).status);
  check(grants === 401, `before the TOTP code GET /api/v1/grants answered ${grants}, not 401`);

  await page.locator("#totp-code").fill("000000");
  await page.locator("#totp-form button[type=submit]").click();
  await page.locator("#totp-form .error").waitFor({ timeout: 10000 });
  await shot(page, "totp-wrong-code-phone");
  say("PASS wrong code refused");

  say("ASK");
  const code = await expectLine("CODE", 30000);
  await page.locator("#totp-code").fill(code);
  await page.locator("#totp-form button[type=submit]").click();
  await page.locator("#nav .who").filter({ hasText: user }).waitFor({ timeout: 10000 });
  const me = await page.evaluate(async () => (await fetch("/api/v1/me")).json());
  check(me.mfa_verified === true, "after the right code /api/v1/me says mfa_verified is not true");
  await shot(page, "grants-after-totp-phone");
  clean(b.watch, "TOTP sign-in");
  say("PASS signed in with the code");
});
