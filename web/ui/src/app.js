// Portcullis web console: one page, routed by location.hash, talking to /api/v1/ (docs/api.md).
//
// Every string that comes from the server (user names, reasons, tickets, terminal lines,
// audit details) reaches the page through textContent or a text node, never through innerHTML:
// a reason is typed by whoever asked for access, and a terminal line by whoever was on the
// target. The page runs under a Content-Security-Policy with script-src 'self', so there is no
// inline script and no inline event handler anywhere either.

const API = "/api/v1";

// ---------------------------------------------------------------------------------------------
// Small DOM helpers

// Control characters (ESC of a terminal sequence, BEL, NUL, the C1 CSI...) would be invisible
// in text; they are shown escaped the way the CLI and the ssh commands show them (\x1b, \x07,
// \u009b), so a reason carrying an escape sequence reads literally and the same everywhere.
function visible(value) {
  if (value === null || value === undefined) return "";
  return String(value).replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => {
    const code = c.charCodeAt(0);
    const hex = code.toString(16).padStart(2, "0");
    return code < 0x80 ? `\\x${hex}` : `\\u00${hex}`;
  });
}

// el("a", {href: "#/x", className: "c"}, "text", child...): properties are assigned (never
// innerHTML), `dataset` and `on*` handled specially, strings become text nodes.
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function")
      node.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key === "innerHTML") throw new Error("innerHTML is not used in this app");
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(visible(child)));
  }
  return node;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

// "2026-12-02T18:40:00Z" -> "2026-12-02 18:40:00 UTC": every time on the page is UTC, like the
// audit log and the CLI, so two people comparing notes see the same figures.
function when(rfc3339) {
  if (!rfc3339) return "—";
  const d = new Date(rfc3339);
  if (Number.isNaN(d.getTime())) return visible(rfc3339);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

// Seconds into a recording -> "1:02:03" / "2:03".
function clock(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

function bytes(n) {
  const v = Number(n) || 0;
  if (v < 1024) return `${v} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let x = v / 1024;
  let i = 0;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${x.toFixed(x < 10 ? 1 : 0)} ${units[i]}`;
}

// A <input type="datetime-local"> value is in the browser's zone; the API wants RFC 3339 UTC.
function localToRfc3339(value) {
  if (!value) return "";
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString().replace(/\.\d+Z$/, "Z");
}
function rfc3339ToLocal(value) {
  if (!value) return "";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function badge(text, kind) {
  return el("span", { className: `badge badge-${kind || String(text).replace(/[^a-z_-]/gi, "")}` }, text);
}

function errorBox(message) {
  return el("p", { className: "error", role: "alert" }, message);
}

function field(label, input, hint) {
  return el("label", { className: "field" }, el("span", { className: "label" }, label), input, hint ? el("small", { className: "muted" }, hint) : null);
}

// ---------------------------------------------------------------------------------------------
// The API

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const state = { me: null, csrf: "", cleanup: [] };

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    headers["X-CSRF-Token"] = state.csrf;
    init.body = JSON.stringify(body || {});
  }
  let response;
  try {
    response = await fetch(API + path, init);
  } catch (e) {
    throw new ApiError(0, "the bastion did not answer; check your connection and reload the page");
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (e) {
      data = null;
    }
  }
  if (!response.ok) {
    const message = data && typeof data.error === "string" ? data.error : `the bastion answered HTTP ${response.status}`;
    // /me answers 401 to anyone not signed in yet; elsewhere 401 means the session ended.
    if (response.status === 401 && path !== "/me" && !path.startsWith("/login")) {
      state.me = null;
      showSignedOut("Your web session has ended (signed out or expired).");
    }
    throw new ApiError(response.status, message);
  }
  return data;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== undefined && v !== null && v !== false) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

// ---------------------------------------------------------------------------------------------
// Layout

const main = () => document.getElementById("main");

function setPage(title, ...content) {
  for (const undo of state.cleanup.splice(0)) {
    try {
      undo();
    } catch (e) {
      /* a page that is gone has nothing left to stop */
    }
  }
  document.title = title ? `${title} · Portcullis` : "Portcullis";
  const m = clear(main());
  append(m, [title ? el("h1", {}, title) : null, ...content]);
  return m;
}

function renderNav() {
  const nav = clear(document.getElementById("nav"));
  if (!state.me) return;
  const may = state.me.may || {};
  const links = [["#/grants", "My grants"]];
  if (may.approve) links.push(["#/approvals", "Approvals"]);
  if (may.audit) links.push(["#/sessions", "Sessions"], ["#/search", "Search"], ["#/audit", "Audit log"]);
  if (may.review) links.push(["#/reviews", "Break-glass review"]);
  const current = parseHash().page;
  for (const [href, text] of links) {
    const page = href.slice(2);
    nav.append(el("a", { href, className: page === current || (page === "sessions" && current === "live") ? "current" : "" }, text));
  }
  nav.append(
    el("span", { className: "who" }, state.me.user),
    el("button", { type: "button", className: "link", id: "signout", onclick: signOut }, "Sign out"),
  );
}

function showSignedOut(message) {
  renderNavEmpty();
  setPage(
    "Sign in",
    message ? el("p", {}, message) : null,
    el("p", {}, "Sign in with the SSH key you already use: run ", el("code", {}, "ssh YOUR_NAME@BASTION web-login"), " and open the link it prints within 60 seconds. Each link works once."),
  );
  offerSso();
}

// The button shows only when the bastion has an identity provider ([identity.oidc]). It is a
// plain link: the bastion answers it by sending the browser to the provider.
async function offerSso() {
  let sso = null;
  try {
    sso = await api("GET", "/sso");
  } catch (e) {
    return; /* no button: the link sign-in above still works */
  }
  if (!sso || sso.enabled !== true || state.me) return;
  const page = main();
  if (!page || document.getElementById("sso-sign-in")) return;
  page.append(el("p", {}, el("a", { href: "/api/v1/sso/start", className: "button", id: "sso-sign-in" }, "Sign in with SSO")));
}

function renderNavEmpty() {
  clear(document.getElementById("nav"));
}

async function signOut() {
  try {
    await api("POST", "/logout", {});
  } catch (e) {
    /* already signed out on the server: the page says so either way */
  }
  state.me = null;
  state.csrf = "";
  showSignedOut("You are signed out.");
}

// ---------------------------------------------------------------------------------------------
// Sign-in

async function signInWithToken(token) {
  // The token must not stay in the address bar or the history: it is a credential until used.
  history.replaceState(null, "", "/#/grants");
  setPage("Signing in…");
  let answer;
  try {
    answer = await api("POST", "/login", { token });
  } catch (e) {
    renderNavEmpty();
    setPage("Sign in", errorBox(e.message), el("p", {}, "Run ", el("code", {}, "ssh YOUR_NAME@BASTION web-login"), " for a new link."));
    return;
  }
  state.csrf = answer.csrf || "";
  if (answer.mfa_required) {
    showTotpForm();
    return;
  }
  await loadMe();
}

function showTotpForm() {
  renderNavEmpty();
  const code = el("input", { name: "code", inputMode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6,8}", required: true, maxLength: 8, id: "totp-code" });
  const message = el("div", {});
  const form = el(
    "form",
    { className: "card narrow", id: "totp-form" },
    el("p", {}, "Your account uses a one-time code. Enter the code your authenticator app shows now."),
    field("Code", code),
    el("button", { type: "submit" }, "Verify"),
    message,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(message);
    try {
      const answer = await api("POST", "/login/totp", { code: code.value.trim() });
      state.csrf = answer.csrf || state.csrf;
      await loadMe();
    } catch (e) {
      message.append(errorBox(e.message));
      code.select();
    }
  });
  setPage("One-time code", form);
  code.focus();
}

async function loadMe() {
  let me;
  try {
    me = await api("GET", "/me");
  } catch (e) {
    if (e.status === 401) showSignedOut("");
    else setPage("Portcullis", errorBox(e.message));
    return false;
  }
  state.me = me;
  state.csrf = me.csrf || state.csrf;
  if (me.mfa_required && !me.mfa_verified) {
    showTotpForm();
    return false;
  }
  route();
  return true;
}

// ---------------------------------------------------------------------------------------------
// Routing: #/page/ID?key=value

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, q = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || "grants", id: parts[1] || "", params: new URLSearchParams(q) };
}

const pages = {
  grants: pageGrants,
  approvals: pageApprovals,
  sessions: (r) => (r.id ? pageSession(r) : pageSessions(r)),
  live: pageLive,
  search: pageSearch,
  audit: pageAudit,
  reviews: pageReviews,
};

function route() {
  if (!state.me) return;
  renderNav();
  const r = parseHash();
  const page = pages[r.page];
  if (!page) {
    setPage("Not found", el("p", {}, "There is no such page. "), el("a", { href: "#/grants" }, "Back to my grants"));
    return;
  }
  page(r).catch((e) => {
    if (e instanceof ApiError && e.status === 401) return;
    const m = main();
    m.append(errorBox(e.message || String(e)));
  });
}

// ---------------------------------------------------------------------------------------------
// My grants + request form

function grantLine(g) {
  return `${g.target}${g.login ? ":" + g.login : ""}`;
}

async function pageGrants() {
  const formArea = el("section", { className: "card", id: "request" });
  const listArea = el("section", { id: "grants" });
  setPage("My grants", formArea, el("h2", {}, "Grants and requests"), listArea);
  const [targets, grants] = await Promise.all([api("GET", "/targets").catch((e) => e), api("GET", "/grants")]);
  renderRequestForm(formArea, targets, () => pageGrants());
  renderGrantList(listArea, grants);
}

function renderRequestForm(area, targets, reload) {
  clear(area).append(el("h2", {}, "Request access"));
  if (targets instanceof Error) {
    area.append(errorBox(targets.message));
    return;
  }
  const usable = (targets || []).filter((t) => t.requestable);
  if (usable.length === 0) {
    area.append(el("p", { className: "muted" }, "No target accepts requests from you."));
    return;
  }
  const target = el("select", { name: "target", id: "req-target", required: true });
  for (const t of usable) target.append(el("option", { value: t.target }, t.target));
  const login = el("select", { name: "login", id: "req-login" });
  const fillLogins = () => {
    clear(login).append(el("option", { value: "" }, "(default)"));
    const t = usable.find((x) => x.target === target.value);
    for (const a of (t && t.accounts) || []) login.append(el("option", { value: a }, a));
  };
  target.addEventListener("change", fillLogins);
  fillLogins();
  const duration = el("input", { name: "duration", id: "req-duration", value: "1h", required: true, pattern: "[0-9]+[smhd]([0-9]+[smhd])*", size: 6 });
  const reason = el("textarea", { name: "reason", id: "req-reason", required: true, rows: 2, maxLength: 1000 });
  const ticket = el("input", { name: "ticket", id: "req-ticket", maxLength: 200 });
  const message = el("div", { id: "req-message" });
  const submit = el("button", { type: "submit", id: "req-submit" }, "Request");
  const form = el(
    "form",
    { className: "grid-form" },
    field("Target", target),
    field("Login", login),
    field("Duration", duration, "e.g. 30m, 2h, 1d"),
    field("Ticket", ticket),
    el("div", { className: "wide" }, field("Reason", reason)),
    el("div", { className: "wide" }, submit, message),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(message);
    submit.disabled = true;
    try {
      const g = await api("POST", "/requests", {
        target: target.value,
        login: login.value,
        duration: duration.value.trim(),
        reason: reason.value,
        ticket: ticket.value.trim(),
      });
      message.append(
        el("p", { className: "ok", role: "status" }, g.state === "active" ? `Granted: ${grantLine(g)} until ${when(g.expires_at)}.` : `Requested ${grantLine(g)} (${g.id}): ${g.state}, waiting for ${Math.max(0, (g.approvals_needed || 0) - (g.approvals_given || 0))} approval(s).`),
      );
      reason.value = "";
      ticket.value = "";
      setTimeout(reload, 800);
    } catch (e) {
      message.append(errorBox(e.message));
    } finally {
      submit.disabled = false;
    }
  });
  area.append(form);
}

function renderGrantList(area, grants) {
  clear(area);
  if (!grants || grants.length === 0) {
    area.append(el("p", { className: "muted" }, "You have no grants or requests yet."));
    return;
  }
  for (const g of grants) area.append(grantCard(g, true));
}

function grantCard(g, own) {
  const card = el("article", { className: `card grant state-${g.state}`, dataset: { grant: g.id } });
  card.append(
    el(
      "div",
      { className: "card-head" },
      el("strong", {}, grantLine(g)),
      badge(g.state),
      g.break_glass ? badge("break-glass", "breakglass") : null,
      el("span", { className: "muted id" }, g.id),
    ),
    el(
      "dl",
      { className: "facts" },
      fact("Reason", g.reason),
      fact("Ticket", g.ticket || "—"),
      fact("Duration", g.duration),
      fact("Rule", g.policy || "—"),
      fact("Approvals", `${g.approvals_given ?? 0} of ${g.approvals_needed ?? 0}`),
      fact("Requested", when(g.requested_at)),
      g.state === "pending" ? fact("Decide by", when(g.pending_until)) : null,
      g.starts_at ? fact("Starts", when(g.starts_at)) : null,
      g.expires_at ? fact("Expires", when(g.expires_at)) : null,
      g.denied_by ? fact("Denied by", `${g.denied_by}: ${g.deny_reason || ""}`) : null,
      g.revoked_at ? fact("Revoked", `${when(g.revoked_at)}: ${g.revoke_reason || ""}`) : null,
    ),
  );
  if (own && (g.state === "active" || g.state === "pending")) card.append(revokeForm(g));
  return card;
}

function fact(name, value) {
  return [el("dt", {}, name), el("dd", {}, value instanceof Node ? value : visible(value ?? "—"))];
}

function revokeForm(g) {
  const word = g.state === "pending" ? "Withdraw" : "Revoke";
  const reason = el("input", { name: "reason", placeholder: "why (optional)", className: "revoke-reason", maxLength: 500 });
  const message = el("span", {});
  const button = el("button", { type: "submit", className: "danger revoke" }, word);
  const form = el("form", { className: "inline" }, reason, button, message);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    clear(message);
    try {
      const updated = await api("POST", `/grants/${encodeURIComponent(g.id)}/revoke`, { reason: reason.value });
      form.replaceWith(el("p", { className: "ok" }, `${word === "Revoke" ? "Revoked" : "Withdrawn"}: now ${updated.state}.`));
    } catch (e) {
      message.append(errorBox(e.message));
      button.disabled = false;
    }
  });
  return form;
}

// ---------------------------------------------------------------------------------------------
// Approvals

async function pageApprovals() {
  const list = el("section", { id: "approvals" });
  setPage("Approvals", list);
  let requests;
  try {
    requests = await api("GET", "/requests");
  } catch (e) {
    list.append(errorBox(e.message));
    return;
  }
  if (requests.length === 0) {
    list.append(el("p", { className: "muted", id: "no-requests" }, "Nothing waits for your decision."));
    return;
  }
  for (const r of requests) list.append(approvalCard(r));
}

function approvalCard({ grant: g, history }) {
  const card = grantCard(g, false);
  card.classList.add("approval");
  const hist = el("details", { className: "history" }, el("summary", {}, `${g.user}'s last grants (${(history || []).length})`));
  const ul = el("ul", {});
  for (const h of history || []) {
    ul.append(el("li", {}, badge(h.state), " ", el("strong", {}, grantLine(h)), " ", el("span", { className: "muted" }, when(h.requested_at)), " — ", h.reason));
  }
  if (!history || history.length === 0) ul.append(el("li", { className: "muted" }, "no earlier grants"));
  hist.append(ul);
  // The requester is the headline: who wants what, for how long, and why.
  card.querySelector(".card-head").prepend(el("span", { className: "requester" }, g.user), " → ");
  card.append(hist);

  const message = el("div", { className: "decision-message" });
  const comment = el("input", { name: "comment", placeholder: "comment (optional)", className: "approve-comment", maxLength: 500 });
  const approve = el("button", { type: "submit", className: "approve" }, "Approve");
  const approveForm = el("form", { className: "inline" }, comment, approve);
  const denyReason = el("input", { name: "reason", placeholder: "reason (required)", className: "deny-reason", required: true, maxLength: 500 });
  const deny = el("button", { type: "submit", className: "danger deny" }, "Deny");
  const denyForm = el("form", { className: "inline" }, denyReason, deny);
  const decide = async (ev, verb, body) => {
    ev.preventDefault();
    approve.disabled = deny.disabled = true;
    clear(message);
    try {
      const updated = await api("POST", `/requests/${encodeURIComponent(g.id)}/${verb}`, body);
      approveForm.remove();
      denyForm.remove();
      message.append(el("p", { className: "ok", role: "status" }, verb === "approve" ? `Approved: the grant is now ${updated.state} (${updated.approvals_given} of ${updated.approvals_needed}).` : `Denied: the request is now ${updated.state}.`));
    } catch (e) {
      message.append(errorBox(e.message));
      approve.disabled = deny.disabled = false;
    }
  };
  approveForm.addEventListener("submit", (ev) => decide(ev, "approve", { comment: comment.value }));
  denyForm.addEventListener("submit", (ev) => decide(ev, "deny", { reason: denyReason.value }));
  card.append(el("div", { className: "decide" }, approveForm, denyForm), message);
  return card;
}

// ---------------------------------------------------------------------------------------------
// Sessions list

function filterForm(fields, params, onSubmit, extra = []) {
  const inputs = {};
  const form = el("form", { className: "filters", role: "search" });
  for (const [name, label, type] of fields) {
    let input;
    if (type === "checkbox") {
      input = el("input", { type: "checkbox", name, id: `f-${name}`, checked: params.get(name) === "true" });
      form.append(el("label", { className: "check" }, input, label));
    } else if (type === "datetime") {
      input = el("input", { type: "datetime-local", name, id: `f-${name}`, value: rfc3339ToLocal(params.get(name)) });
      form.append(field(label, input));
    } else {
      input = el("input", { type: type || "text", name, id: `f-${name}`, value: params.get(name) || "" });
      form.append(field(label, input));
    }
    inputs[name] = [input, type];
  }
  form.append(...extra, el("button", { type: "submit" }, "Apply"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const values = {};
    for (const [name, [input, type]] of Object.entries(inputs)) {
      if (type === "checkbox") values[name] = input.checked ? "true" : "";
      else if (type === "datetime") values[name] = localToRfc3339(input.value);
      else values[name] = input.value.trim();
    }
    onSubmit(values);
  });
  return form;
}

function setHashQuery(page, values) {
  const target = `#/${page}${query(values)}`;
  if (location.hash === target) route();
  else location.hash = target;
}

const verificationLabels = { verified: "recording verified", failed: "recording FAILED verification", incomplete: "recording incomplete", unverified: "not yet verified (open the session)", recording: "still recording", none: "no recording" };
const verificationKinds = { verified: "ok", failed: "bad", incomplete: "warn", unverified: "info", recording: "info", none: "muted" };

async function pageSessions(r) {
  const p = r.params;
  const form = filterForm(
    [
      ["user", "User"],
      ["target", "Target"],
      ["grant", "Grant"],
      ["since", "Since", "datetime"],
      ["until", "Until", "datetime"],
      ["active", "Active only", "checkbox"],
    ],
    p,
    (v) => setHashQuery("sessions", v),
  );
  const area = el("section", { id: "sessions" });
  setPage("Sessions", form, area);
  const rows = await api("GET", `/sessions${query({ user: p.get("user"), target: p.get("target"), grant: p.get("grant"), active: p.get("active"), since: p.get("since"), until: p.get("until"), limit: 100 })}`);
  if (rows.length === 0) {
    area.append(el("p", { className: "muted" }, "No session matches."));
    return;
  }
  const head = ["Started", "User", "Target", "State", "Grant", "Reason", "Approvers", "End", "Size", "Verification", ""];
  const table = el("table", { className: "rows" }, el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))));
  const body = el("tbody", {});
  for (const row of rows) {
    const s = row.session;
    const cells = [
      el("a", { href: `#/sessions/${encodeURIComponent(s.id)}` }, when(s.started_at)),
      s.user,
      `${s.target}:${s.login}`,
      [badge(s.state), row.break_glass ? badge("break-glass", "breakglass") : null],
      s.grant_id ? el("a", { href: `#/sessions?grant=${encodeURIComponent(s.grant_id)}` }, s.grant_id) : "—",
      [row.reason, row.ticket ? el("span", { className: "muted" }, ` [${visible(row.ticket)}]`) : null],
      (row.approvers || []).join(", ") || "—",
      s.end_reason || (s.state === "running" ? "" : "—"),
      bytes(row.size),
      badge(row.verification, verificationKinds[row.verification] || "muted"),
      s.state === "running" && state.me.may.audit ? el("a", { href: `#/live/${encodeURIComponent(s.id)}`, className: "button small" }, "Watch live") : el("a", { href: `#/sessions/${encodeURIComponent(s.id)}`, className: "button small" }, "Play"),
    ];
    body.append(el("tr", { dataset: { session: s.id } }, cells.map((c, i) => el("td", { dataset: { label: head[i] } }, c))));
  }
  table.append(body);
  area.append(el("div", { className: "scroll" }, table));
}

// ---------------------------------------------------------------------------------------------
// One session: header, player, commands, markers

let playerScript = null;
function loadPlayer() {
  if (window.AsciinemaPlayer) return Promise.resolve(window.AsciinemaPlayer);
  if (!playerScript) {
    playerScript = new Promise((resolve, reject) => {
      const s = el("script", { src: "/assets/asciinema-player.min.js" });
      s.addEventListener("load", () => resolve(window.AsciinemaPlayer));
      s.addEventListener("error", () => {
        playerScript = null;
        reject(new Error("the player did not load (/assets/asciinema-player.min.js); reload the page"));
      });
      document.head.append(s);
    });
  }
  return playerScript;
}

function sessionHeader(d) {
  const s = d.session;
  const g = d.grant || {};
  const v = d.verification || {};
  const approvals = el("ul", { className: "plain approvals" });
  for (const a of d.approvals || []) approvals.append(el("li", {}, el("strong", {}, a.approver), " ", el("span", { className: "muted" }, when(a.at)), a.comment ? ` — ${visible(a.comment)}` : ""));
  if (!d.approvals || d.approvals.length === 0) approvals.append(el("li", { className: "muted" }, g.created_by ? `none (granted by ${visible(g.created_by)})` : "none"));
  return el(
    "section",
    { className: "card", id: "session-header" },
    el(
      "div",
      { className: "card-head" },
      el("strong", {}, `${s.user} → ${s.target}:${s.login}`),
      badge(s.state),
      g.break_glass ? badge("break-glass", "breakglass") : null,
      badge(verificationLabels[v.state] || "no recording", verificationKinds[v.state] || "muted"),
    ),
    el(
      "dl",
      { className: "facts" },
      fact("Session", s.id),
      fact("Grant", g.id ? el("a", { href: `#/sessions?grant=${encodeURIComponent(g.id)}` }, `${g.id} (${visible(g.state)}, ${visible(g.policy || "no rule")})`) : "—"),
      fact("Reason", g.reason ?? "—"),
      fact("Ticket", g.ticket || "—"),
      fact("Approvals", approvals),
      fact("Break-glass", g.break_glass ? `yes${g.reviewed_at ? `, reviewed by ${visible(g.reviewed_by)}` : ", not yet reviewed"}` : "no"),
      fact("Verification", `${v.state || "none"}${v.message ? ": " + visible(v.message) : ""}`),
      fact("Started", when(s.started_at)),
      fact("Ended", s.ended_at ? `${when(s.ended_at)} (${visible(s.end_reason || "")})` : "—"),
      fact("Node / client", `${s.node || "—"} / ${s.client || "—"}`),
    ),
  );
}

async function pageSession(r) {
  const id = r.id;
  const t = Number(r.params.get("t"));
  setPage("Session");
  const d = await api("GET", `/sessions/${encodeURIComponent(id)}`);
  const s = d.session;
  const playerBox = el("div", { id: "player", className: "player" });
  const timeline = el("div", { id: "timeline", className: "timeline", role: "group", "aria-label": "Markers" });
  const commands = el("ol", { id: "commands", className: "commands" });
  const markerList = el("ul", { id: "markers", className: "plain markers" });
  const side = el("aside", { className: "side" }, el("h2", {}, "Commands"), commands, el("h2", {}, "Markers"), markerList);
  setPage(
    `Session ${s.id}`,
    sessionHeader(d),
    s.state === "running" ? el("p", {}, el("a", { href: `#/live/${encodeURIComponent(s.id)}`, className: "button" }, "Watch live")) : null,
    el("div", { className: "session-body" }, el("div", { className: "stage" }, playerBox, timeline), side),
  );

  const AP = await loadPlayer();
  const duration = Number(d.duration) || 0;
  const markers = (d.markers || []).map((m) => [Number(m.at) || 0, visible(`${m.kind}: ${m.text}`)]);
  const player = AP.create({ url: `${API}/sessions/${encodeURIComponent(id)}/asciicast` }, playerBox, {
    fit: "width",
    preload: true,
    controls: true,
    markers,
    terminalFontFamily: "monospace",
  });
  state.cleanup.push(() => player.dispose());
  playerBox.dataset.ready = "false";
  const seek = async (at) => {
    await player.seek(Number(at) || 0);
    playerBox.dataset.seekedTo = String(at);
  };

  for (const c of d.commands || []) {
    commands.append(el("li", {}, el("button", { type: "button", className: "command", dataset: { at: String(c.at) }, onclick: () => seek(c.at) }, el("span", { className: "at" }, clock(c.at)), el("code", {}, c.text))));
  }
  if (!d.commands || d.commands.length === 0) commands.append(el("li", { className: "muted" }, "No command was recognised in this session."));

  for (const m of d.markers || []) {
    const left = duration > 0 ? Math.min(100, Math.max(0, (Number(m.at) / duration) * 100)) : 0;
    const pin = el("button", { type: "button", className: `pin pin-${m.kind}`, title: `${clock(m.at)} ${m.kind}: ${visible(m.text)}`, "aria-label": `${m.kind} at ${clock(m.at)}`, dataset: { at: String(m.at) }, onclick: () => seek(m.at) });
    // CSSOM from script is allowed by style-src 'self'; an inline style attribute would not be.
    pin.style.left = `${left}%`;
    timeline.append(pin);
    markerList.append(el("li", {}, el("button", { type: "button", className: `marker kind-${m.kind}`, dataset: { at: String(m.at) }, onclick: () => seek(m.at) }, el("span", { className: "at" }, clock(m.at)), " ", badge(m.kind), " ", m.text)));
  }
  if (!d.markers || d.markers.length === 0) {
    timeline.classList.add("empty");
    markerList.append(el("li", { className: "muted" }, "No markers."));
  }

  if (Number.isFinite(t) && r.params.has("t")) await seek(t);
  playerBox.dataset.ready = "true";
}

// ---------------------------------------------------------------------------------------------
// Live view

async function pageLive(r) {
  const id = r.id;
  const screen = el("pre", { id: "live-screen", className: "screen", "aria-live": "off" });
  const status = el("p", { id: "live-status", className: "muted" }, "Connecting…");
  const header = el("div", {});
  const parts = [header, status, el("div", { className: "scroll" }, screen)];
  let terminateForm = null;
  if (state.me.may.kill) {
    const reason = el("input", { name: "reason", id: "terminate-reason", required: true, placeholder: "reason (required)", maxLength: 500 });
    const button = el("button", { type: "submit", className: "danger", id: "terminate" }, "Terminate session");
    const message = el("div", {});
    terminateForm = el("form", { className: "inline card", id: "terminate-form" }, field("Terminate", reason), button, message);
    terminateForm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!reason.value.trim()) {
        clear(message).append(errorBox("A reason is required: it goes to the audit log and to the user."));
        return;
      }
      button.disabled = true;
      clear(message);
      try {
        await api("POST", `/sessions/${encodeURIComponent(id)}/terminate`, { reason: reason.value });
        message.append(el("p", { className: "ok", role: "status" }, "Terminate sent."));
      } catch (e) {
        message.append(errorBox(e.message));
        button.disabled = false;
      }
    });
    parts.push(terminateForm);
  }
  setPage(`Live: session ${id}`, ...parts);
  api("GET", `/sessions/${encodeURIComponent(id)}`)
    .then((d) => header.append(sessionHeader(d)))
    .catch(() => {});

  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${API}/sessions/${encodeURIComponent(id)}/live`);
  let ended = false;
  state.cleanup.push(() => {
    ended = true;
    ws.close();
  });
  ws.addEventListener("open", () => {
    ws.send(JSON.stringify({ csrf: state.csrf }));
    status.textContent = "Connected: waiting for the screen…";
  });
  ws.addEventListener("message", (ev) => {
    let m;
    try {
      m = JSON.parse(ev.data);
    } catch (e) {
      return;
    }
    if (m.type === "screen" && Array.isArray(m.lines)) {
      screen.textContent = m.lines.map((l) => visible(l)).join("\n");
      screen.dataset.cols = String(m.cols || "");
      // After "end" the last screen may still arrive; the end notice stays in view.
      if (!ended) status.textContent = `Live · ${Number(m.cols) || "?"}×${Number(m.rows) || "?"}`;
    } else if (m.type === "status" && !ended) {
      status.textContent = visible(m.text);
    } else if (m.type === "end") {
      ended = true;
      status.textContent = visible(m.text || "session ended");
      status.className = "ended";
      if (terminateForm) terminateForm.remove();
    }
  });
  ws.addEventListener("close", () => {
    if (!ended) status.textContent = "The live connection closed; reload the page to reconnect.";
  });
}

// ---------------------------------------------------------------------------------------------
// Search

async function pageSearch(r) {
  const p = r.params;
  const form = filterForm(
    [
      ["q", "Text", "search"],
      ["user", "User"],
      ["target", "Target"],
      ["since", "Since", "datetime"],
    ],
    p,
    (v) => setHashQuery("search", v),
  );
  const area = el("section", { id: "results" });
  setPage("Search recordings", form, area);
  const q = p.get("q");
  if (!q) {
    area.append(el("p", { className: "muted" }, "Type what you look for: a command, a file name, an error."));
    form.querySelector("#f-q").focus();
    return;
  }
  const hits = await api("GET", `/search${query({ q, user: p.get("user"), target: p.get("target"), since: p.get("since"), limit: 50 })}`);
  if (hits.length === 0) {
    area.append(el("p", { className: "muted" }, "Nothing found."));
    return;
  }
  const ul = el("ul", { className: "plain hits" });
  for (const h of hits) {
    ul.append(
      el(
        "li",
        { className: "card hit" },
        el("a", { href: `#/sessions/${encodeURIComponent(h.session_id)}?t=${encodeURIComponent(h.at)}` }, `${visible(h.user)} → ${visible(h.target)} · ${h.session_id} at ${clock(h.at)}`),
        el("pre", { className: "line" }, visible(h.line)),
      ),
    );
  }
  area.append(ul);
}

// ---------------------------------------------------------------------------------------------
// Audit log

async function pageAudit(r) {
  const p = r.params;
  const form = filterForm(
    [
      ["actor", "Actor"],
      ["action", "Action"],
      ["object", "Object"],
      ["since", "Since", "datetime"],
      ["until", "Until", "datetime"],
    ],
    p,
    (v) => setHashQuery("audit", v),
  );
  const area = el("section", { id: "audit" });
  setPage("Audit log", form, area);
  const events = await api("GET", `/audit${query({ actor: p.get("actor"), action: p.get("action"), object: p.get("object"), since: p.get("since"), until: p.get("until"), limit: 200 })}`);
  if (events.length === 0) {
    area.append(el("p", { className: "muted" }, "No event matches."));
    return;
  }
  const head = ["#", "At", "Actor", "Action", "Object", "Details", "Hash"];
  const body = el("tbody", {});
  for (const e of events) {
    const details = typeof e.details === "string" ? e.details : JSON.stringify(e.details);
    const hash = String(e.hash || "");
    const cells = [String(e.id), when(e.at), e.actor, e.action, e.object, el("code", { className: "details" }, visible(details)), el("code", { title: hash }, hash.slice(0, 12))];
    body.append(el("tr", {}, cells.map((c, i) => el("td", { dataset: { label: head[i] } }, c))));
  }
  area.append(el("div", { className: "scroll" }, el("table", { className: "rows" }, el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))), body)));
}

// ---------------------------------------------------------------------------------------------
// Break-glass review

async function pageReviews(r) {
  const all = r.params.get("all") === "true";
  const toggle = el("a", { href: all ? "#/reviews" : "#/reviews?all=true" }, all ? "Show only those awaiting review" : "Show acknowledged too");
  const list = el("section", { id: "reviews" });
  setPage("Break-glass review", el("p", {}, toggle), list);
  const grants = await api("GET", `/reviews${query({ all: all ? "true" : "" })}`);
  if (grants.length === 0) {
    list.append(el("p", { className: "muted" }, "No break-glass grant awaits review."));
    return;
  }
  for (const g of grants) {
    const card = grantCard(g, false);
    card.querySelector(".card-head").prepend(el("span", { className: "requester" }, g.user), " → ");
    card.append(el("p", {}, el("a", { href: `#/sessions?grant=${encodeURIComponent(g.id)}` }, "Sessions under this grant")));
    if (g.reviewed_at) {
      card.append(el("p", { className: "ok" }, `Acknowledged by ${visible(g.reviewed_by)} at ${when(g.reviewed_at)}${g.review_note ? ": " + visible(g.review_note) : ""}`));
    } else {
      const note = el("input", { name: "note", placeholder: "note: what you checked (required)", className: "review-note", required: true, maxLength: 1000 });
      const button = el("button", { type: "submit", className: "acknowledge" }, "Acknowledge");
      const message = el("span", {});
      const form = el("form", { className: "inline" }, note, button, message);
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        button.disabled = true;
        clear(message);
        try {
          const u = await api("POST", `/reviews/${encodeURIComponent(g.id)}/acknowledge`, { note: note.value });
          form.replaceWith(el("p", { className: "ok", role: "status" }, `Acknowledged by ${visible(u.reviewed_by)}.`));
        } catch (e) {
          message.append(errorBox(e.message));
          button.disabled = false;
        }
      });
      card.append(form);
    }
    list.append(card);
  }
}

// ---------------------------------------------------------------------------------------------
// Start

window.addEventListener("hashchange", route);

async function start() {
  if (location.pathname === "/login") {
    const token = new URLSearchParams(location.search).get("token") || "";
    if (token) {
      await signInWithToken(token);
      return;
    }
    history.replaceState(null, "", "/");
  }
  await loadMe();
}

start();
