// A real OpenID provider (npm oidc-provider) for the end-to-end tests of Portcullis's OIDC
// sign-in: discovery, JWKS, the device authorization grant (RFC 8628) and the authorization
// code flow with PKCE, over HTTPS on 127.0.0.1, with users and groups from a config file.
//
//   node provider.mjs CONFIG.json
//
// Everything comes from that one file (mode 0600: it holds the client secret and the users'
// passwords, which must not appear in argv or the environment):
//   { "port": 40123, "tls_cert": "server.pem", "tls_key": "server.key",
//     "jwks_file": "keys-1.json",         // a JWK set with private keys; made (RS256) if absent
//     "client": { "client_id": "...", "client_secret": "...", "grant_types": [...],
//                 "redirect_uris": [...], "token_endpoint_auth_method": "client_secret_basic" },
//     "users": { "alice": { "password": "...", "groups": ["sre"], "disabled": false } },
//     "claims": { "profile": ["preferred_username"], "groups": ["groups"] } }   // optional
// Prints "ready ISSUER" on stdout once it listens; SIGTERM ends it. The sign-in pages it serves
// are plain forms (no script), so tests/oidc/complete_device.mjs can drive them over HTTP.
import {
  createPrivateKey, generateKeyPairSync, randomBytes, randomUUID, timingSafeEqual,
} from 'node:crypto';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import https from 'node:https';
import { parse as parseQuery } from 'node:querystring';

import Provider from 'oidc-provider';

function fail(message) {
  process.stderr.write(`provider.mjs: ${message}\n`);
  process.exit(2);
}

function readConfig(path) {
  if (!path) fail('usage: node provider.mjs CONFIG.json (see the top of provider.mjs for its keys)');
  let config;
  try {
    config = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    fail(`cannot read the config ${path}: ${error.message}; write it as JSON`);
  }
  const isString = (v) => typeof v === 'string' && v.length > 0;
  if (!Number.isInteger(config.port) || config.port < 1 || config.port > 65535) {
    fail('"port" must be a TCP port number');
  }
  for (const key of ['tls_cert', 'tls_key', 'jwks_file']) {
    if (!isString(config[key])) fail(`"${key}" must be a file path`);
  }
  const client = config.client ?? {};
  if (!isString(client.client_id) || !isString(client.client_secret)) {
    fail('"client" needs "client_id" and "client_secret"');
  }
  if (typeof config.users !== 'object' || config.users === null) {
    fail('"users" must be an object: { "NAME": { "password": ..., "groups": [...] } }');
  }
  for (const [name, user] of Object.entries(config.users)) {
    if (!isString(user.password)) fail(`user ${name} has no "password"`);
    if (!Array.isArray(user.groups) || !user.groups.every(isString)) {
      fail(`user ${name}: "groups" must be an array of strings`);
    }
  }
  return config;
}

// The signing keys: the JWK set in jwks_file, or a new RS256 key written there (0600) when the
// file does not exist yet. A test rotates keys by restarting with another file.
function signingKeys(path) {
  if (existsSync(path)) {
    const jwks = JSON.parse(readFileSync(path, 'utf8'));
    if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) fail(`${path} holds no "keys"`);
    return jwks;
  }
  // The key comes out as PEM and is read back before the JWK export: exporting the KeyObject
  // that generateKeyPairSync returns can deadlock in Node 20 when a garbage collection finalizes
  // the key generation job during the export (seen as a provider that never printed "ready").
  const { privateKey: pem } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const jwk = {
    ...createPrivateKey(pem).export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig',
  };
  const jwks = { keys: [jwk] };
  // 'wx': never overwrite a key file another run made meanwhile.
  writeFileSync(path, JSON.stringify(jwks), { mode: 0o600, flag: 'wx' });
  return jwks;
}

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>`
    + `</head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

// Compares a typed password with the stored one without leaking, by timing, where they differ.
function samePassword(typed, stored) {
  const a = Buffer.from(String(typed ?? ''));
  const b = Buffer.from(stored);
  return a.length === b.length && timingSafeEqual(a, b);
}

const config = readConfig(process.argv[2]);
const issuer = `https://127.0.0.1:${config.port}`;
const users = config.users;
const activeUser = (name) => Object.hasOwn(users, name) && !users[name].disabled;

const provider = new Provider(issuer, {
  clients: [{
    client_id: config.client.client_id,
    client_secret: config.client.client_secret,
    grant_types: config.client.grant_types
      ?? ['urn:ietf:params:oauth:grant-type:device_code', 'authorization_code'],
    response_types: ['code'],
    redirect_uris: config.client.redirect_uris ?? [],
    token_endpoint_auth_method: config.client.token_endpoint_auth_method ?? 'client_secret_basic',
    // auth_time in every ID token: the relying party checks how fresh the sign-in is.
    require_auth_time: true,
  }],
  jwks: signingKeys(config.jwks_file),
  // A disabled (or removed) user has no account: an existing session or grant for them yields
  // nothing, whatever else the provider has cached.
  async findAccount(ctx, id) {
    if (!activeUser(id)) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, groups: [...users[id].groups] };
      },
    };
  },
  claims: config.claims ?? {
    openid: ['sub'],
    profile: ['preferred_username'],
    groups: ['groups'],
  },
  // The claims of the granted scopes go into the ID token itself, not only to userinfo: the
  // bastion reads username and groups from the ID token alone.
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    deviceFlow: {
      enabled: true,
      // Markers in the pages tell complete_device.mjs where it is without guessing at wording.
      async successSource(ctx) {
        ctx.body = page('Signed in', '<p id="device-signed-in">The device is signed in.</p>');
      },
      async userCodeInputSource(ctx, form, out, err) {
        const message = err
          ? `<p id="device-error">${escapeHtml(err.name)}: ${escapeHtml(err.message ?? '')}${
            err.cause?.error_description ? ` (${escapeHtml(err.cause.error_description)})` : ''}</p>`
          : '';
        ctx.body = page('Enter the code', `${message}${form}`);
      },
      async userCodeConfirmSource(ctx, form, client, deviceInfo, userCode) {
        ctx.body = page('Confirm the device', `<p>Code ${escapeHtml(userCode)}</p>${form}`);
      },
    },
    rpInitiatedLogout: { enabled: false },
  },
  pkce: { required: () => true },
  // Fixed lifetimes (seconds), long enough for a slow test run: the provider's defaults are
  // functions it asks to have replaced.
  ttl: {
    AccessToken: 3600, DeviceCode: 600, Grant: 3600, IdToken: 3600, Interaction: 600, Session: 3600,
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', `<p id="op-error">${escapeHtml(out.error)}: ${
      escapeHtml(out.error_description ?? '')}</p>`);
  },
});

// The interaction pages (sign-in and consent), ours because the provider's development ones
// take any login without a password.
async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16384) throw new Error('form too large');
    chunks.push(chunk);
  }
  return parseQuery(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

function loginForm(uid, message) {
  return page('Sign in', `${message ? `<p id="login-error">${escapeHtml(message)}</p>` : ''}`
    + `<form id="login" method="post" action="/interaction/${escapeHtml(uid)}/login">`
    + '<input name="login" autocomplete="username"><input name="password" type="password">'
    + '<button type="submit">Sign in</button></form>');
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (req.method === 'GET' && !action) {
    if (prompt.name === 'login') return send(res, 200, loginForm(uid));
    if (prompt.name === 'consent') {
      return send(res, 200, page('Allow access', `<p>${escapeHtml(params.client_id)} asks for `
        + `${escapeHtml(params.scope)}</p><form id="consent" method="post" `
        + `action="/interaction/${escapeHtml(uid)}/confirm"><button type="submit">Allow</button>`
        + '</form>'));
    }
    return send(res, 501, page('Error', `<p id="op-error">prompt ${escapeHtml(prompt.name)}</p>`));
  }
  if (req.method !== 'POST') return send(res, 405, page('Error', '<p>use POST</p>'));

  if (action === 'login' && prompt.name === 'login') {
    const form = await readForm(req);
    const login = String(form.login ?? '');
    const known = Object.hasOwn(users, login);
    if (!known || !samePassword(form.password, users[login].password)) {
      return send(res, 401, loginForm(uid, 'Wrong user name or password.'));
    }
    if (users[login].disabled) {
      // As an IdP does for a disabled account: the sign-in ends, refused, and the device's
      // token request answers access_denied instead of waiting until the code expires.
      return provider.interactionFinished(req, res, {
        error: 'access_denied', error_description: 'the account is disabled',
      }, { mergeWithLastSubmission: false });
    }
    return provider.interactionFinished(req, res, { login: { accountId: login } },
      { mergeWithLastSubmission: false });
  }
  if (action === 'confirm' && prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    if (missing.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } },
      { mergeWithLastSubmission: true });
  }
  return send(res, 400, page('Error', `<p id="op-error">${escapeHtml(action)} does not answer `
    + `the ${escapeHtml(prompt.name)} prompt</p>`));
}

const providerCallback = provider.callback();
const server = https.createServer({
  cert: readFileSync(config.tls_cert),
  key: readFileSync(config.tls_key),
}, (req, res) => {
  const match = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm))?\/?(?:\?.*)?$/.exec(req.url);
  if (!match) return providerCallback(req, res);
  return interaction(req, res, match[1], match[2]).catch((error) => {
    if (!res.headersSent) {
      send(res, 400, page('Error', `<p id="op-error">${escapeHtml(error.name)}: ${
        escapeHtml(error.error_description ?? error.message)}</p>`));
    }
  });
});

server.on('error', (error) => fail(`cannot listen on 127.0.0.1:${config.port}: ${error.message}`));
server.listen(config.port, '127.0.0.1', () => process.stdout.write(`ready ${issuer}\n`));
// SIGTERM ends the process by its default action: the provider keeps nothing worth saving (its
// state is in memory by design), and a JavaScript handler that called process.exit() let the
// signal kill it anyway now and then (Node 20), so the exit status was not predictable.
