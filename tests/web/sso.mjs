// "Sign in with SSO" in a real browser: the button on the sign-in page, the provider's pages,
// and back to the console signed in. Chromium applies the cookies' SameSite rules, which curl
// does not: the browser-binding cookie must survive the provider's cross-site redirect back.
// argv: ORIGIN USER. stdin: "PASSWORD <password>" (a secret: never argv).
import { browserFor, check, clean, nextLine, say, scenario, shot } from "./lib.mjs";

const origin = process.argv[2];
const user = process.argv[3];

await scenario("sso sign-in", async (defer) => {
  const line = await nextLine();
  check(line.startsWith("PASSWORD "), `expected PASSWORD, got "${line.split(" ")[0]}"`);
  const password = line.slice("PASSWORD ".length);

  const b = await browserFor();
  defer(b.close);
  await b.page.goto(`${origin}/`, { waitUntil: "domcontentloaded" });
  const button = b.page.locator("#sso-sign-in");
  await button.waitFor({ timeout: 15000 });
  await shot(b.page, "sign-in-with-sso");
  clean(b.watch, "sign-in page");
  say("PASS button shown");

  await button.click();
  await b.page.locator("form#login").waitFor({ timeout: 15000 });
  check(!b.page.url().startsWith(origin), `the button did not lead to the provider: ${b.page.url()}`);
  await b.page.locator("input[name=login]").fill(user);
  await b.page.locator("input[name=password]").fill(password);
  await b.page.locator("form#login button").click();
  await b.page.locator("form#consent").waitFor({ timeout: 15000 });
  await b.page.locator("form#consent button").click();

  await b.page.locator("#nav .who").filter({ hasText: user }).waitFor({ timeout: 20000 });
  check(new URL(b.page.url()).origin === origin, `not back at the console: ${b.page.url()}`);
  check(!b.page.url().includes("code="), "the code is still in the address bar");
  const me = await b.page.evaluate(async () => (await fetch("/api/v1/me")).json());
  check(me.user === user, `/api/v1/me says ${me.user}, not ${user}`);
  check(JSON.stringify(me.roles) === JSON.stringify(["dev"]), `roles ${JSON.stringify(me.roles)}, not ["dev"]`);
  const cookies = await b.context.cookies();
  check(!cookies.some((c) => c.name === "portcullis_sso"), "the SSO binding cookie outlived the sign-in");
  await shot(b.page, "signed-in-through-sso");
  say("PASS signed in through SSO");
});
