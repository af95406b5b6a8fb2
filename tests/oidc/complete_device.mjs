// Completes an OAuth 2.0 device authorization (RFC 8628) at tests/oidc/provider.mjs as a user
// would in a browser, but over plain HTTPS: enter the user code, confirm the device, sign in,
// allow access.
//
//   echo '{"verification_uri": "...", "user_code": "ABCD-EFGH", "login": "alice",
//          "password": "..."}' | NODE_EXTRA_CA_CERTS=ca.pem node complete_device.mjs
//
// The JSON comes on stdin because it holds a password. Exits 0 once the provider says the device
// is signed in; otherwise 1 with what the provider answered (wrong password, disabled account,
// unknown or used code).
const MAX_STEPS = 20;

function fail(message) {
  process.stderr.write(`complete_device: ${message}\n`);
  process.exit(1);
}

async function readInput() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  let input;
  try {
    input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (error) {
    fail(`stdin is not JSON (${error.message}); send {"verification_uri", "user_code", "login", `
      + '"password"}');
  }
  for (const key of ['verification_uri', 'user_code', 'login', 'password']) {
    if (typeof input[key] !== 'string' || input[key] === '') fail(`stdin JSON lacks "${key}"`);
  }
  return input;
}

// The cookies a browser would keep for the one origin this talks to: name and path, honouring
// Max-Age/Expires deletion, sent to requests under their path.
class CookieJar {
  #cookies = new Map();

  store(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';').map((part) => part.trim());
      const at = pair.indexOf('=');
      if (at <= 0) continue;
      const name = pair.slice(0, at);
      const value = pair.slice(at + 1);
      let path = '/';
      let expired = value === '';
      for (const attribute of attributes) {
        const [key, val = ''] = attribute.split('=');
        const lower = key.toLowerCase();
        if (lower === 'path' && val.startsWith('/')) path = val;
        if (lower === 'max-age' && Number(val) <= 0) expired = true;
        if (lower === 'expires' && Date.parse(val) < Date.now()) expired = true;
      }
      const id = `${name};${path}`;
      if (expired) this.#cookies.delete(id);
      else this.#cookies.set(id, { name, value, path });
    }
  }

  header(url) {
    const { pathname } = new URL(url);
    const matches = [...this.#cookies.values()].filter(({ path }) => pathname === path
      || pathname.startsWith(path.endsWith('/') ? path : `${path}/`));
    return matches.map(({ name, value }) => `${name}=${value}`).join('; ');
  }
}

const decodeEntities = (text) => text.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(n))
  .replace(/&#x([0-9a-f]+);/gi, (_, n) => String.fromCharCode(parseInt(n, 16)))
  .replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

// The first form with id `id`: its action and its hidden inputs.
function findForm(html, id) {
  const form = new RegExp(`<form[^>]*id="${id.replace('.', '\\.')}"[^>]*>([\\s\\S]*?)</form>`)
    .exec(html);
  if (!form) return null;
  const action = /action="([^"]*)"/.exec(form[0].slice(0, form[0].indexOf('>') + 1));
  const fields = {};
  for (const input of form[1].matchAll(/<input[^>]*>/g)) {
    const tag = input[0];
    const name = /name="([^"]*)"/.exec(tag);
    const value = /value="([^"]*)"/.exec(tag);
    if (name && /type="hidden"/.test(tag)) {
      fields[decodeEntities(name[1])] = value ? decodeEntities(value[1]) : '';
    }
  }
  return { action: action ? decodeEntities(action[1]) : '', fields };
}

const textOf = (html, id) => {
  const match = new RegExp(`id="${id}"[^>]*>([\\s\\S]*?)</`).exec(html);
  return match ? decodeEntities(match[1]).trim() : null;
};

const input = await readInput();
const origin = new URL(input.verification_uri).origin;
const jar = new CookieJar();

// One request as a browser makes it, redirects followed by the loop below.
async function request(url, form) {
  const target = new URL(url, origin);
  if (target.origin !== origin) fail(`the provider sent us to another origin: ${target.origin}`);
  const headers = { cookie: jar.header(target) };
  let body;
  if (form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(form).toString();
  }
  let response;
  try {
    response = await fetch(target, {
      method: form ? 'POST' : 'GET', headers, body, redirect: 'manual',
    });
  } catch (error) {
    fail(`${form ? 'POST' : 'GET'} ${target.pathname}: ${error.cause?.message ?? error.message}`
      + ' (is the provider up, and NODE_EXTRA_CA_CERTS its CA?)');
  }
  jar.store(response);
  return { url: target.href, response, html: await response.text() };
}

let current = await request(input.verification_uri);
let sentCode = false;
let signedIn = false;
for (let step = 0; step < MAX_STEPS; step += 1) {
  const { response, html } = current;
  if (response.status >= 300 && response.status < 400) {
    const location = response.headers.get('location');
    if (!location) fail(`${response.status} without a Location from ${current.url}`);
    current = await request(new URL(location, current.url).href);
    continue;
  }
  if (html.includes('id="device-signed-in"')) {
    process.stdout.write(`the device is signed in as ${input.login}\n`);
    process.exit(0);
  }
  for (const id of ['device-error', 'op-error', 'login-error']) {
    const message = textOf(html, id);
    if (message !== null) fail(`the provider refused: ${message} (HTTP ${response.status})`);
  }
  const codeForm = findForm(html, 'op.deviceInputForm');
  const confirmForm = findForm(html, 'op.deviceConfirmForm');
  const loginForm = findForm(html, 'login');
  const consentForm = findForm(html, 'consent');
  if (codeForm && !sentCode) {
    sentCode = true;
    current = await request(codeForm.action, { ...codeForm.fields, user_code: input.user_code });
  } else if (confirmForm) {
    current = await request(confirmForm.action, confirmForm.fields);
  } else if (loginForm && !signedIn) {
    signedIn = true;
    current = await request(loginForm.action, { login: input.login, password: input.password });
  } else if (consentForm) {
    current = await request(consentForm.action, consentForm.fields);
  } else {
    fail(`unexpected page (HTTP ${response.status}) at ${new URL(current.url).pathname}: `
      + `${html.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').slice(0, 300)}`);
  }
}
fail(`no end after ${MAX_STEPS} pages; the last was ${new URL(current.url).pathname}`);
