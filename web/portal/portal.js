// The customer portal (SPEC §14): sign in by emailed link, then the customer's licenses, their
// keys, devices and offline files. One module, no build step; nodes are built with `h`, never
// from HTML strings. The API is /v1/{env}/portal; the session cookie is HttpOnly, and unsafe
// requests send the CSRF token from /me.

const main = document.getElementById('main');
const who = document.getElementById('who');
const parts = location.pathname.split('/').filter(Boolean); // ["portal", env, page?]
const env = parts[1] && encodeURIComponent(decodeURIComponent(parts[1]));
const base = `/portal/${env}/`;
const apiBase = `/v1/${env}/portal`;
let csrf = '';

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v == null) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c != null && c !== false) el.append(c);
  return el;
}

function show(...nodes) {
  main.replaceChildren(...nodes);
  main.focus();
}

/** Calls the portal API; resolves to the JSON body (or null), rejects with {status, code, message}. */
async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-keysmith-csrf'] = csrf;
  let res;
  try {
    res = await fetch(apiBase + path, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw { status: 0, code: 'NETWORK', message: 'The server cannot be reached. Check your connection and try again.' };
  }
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    const e = data?.error ?? {};
    const reason = e.reason;
    const retry = res.headers.get('retry-after');
    const message = res.status === 429
      ? `Too many requests; try again in ${retry ?? 'a few'} seconds.`
      : (e.message ?? `The request failed (${res.status}).`);
    throw { status: res.status, code: e.code, reason, message };
  }
  return data;
}

const date = (iso) => iso
  ? new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' }).format(new Date(iso))
  : 'Never expires';
const limit = (l) => (l.activation_limit === -1 ? `${l.activations_active} (no limit)` : `${l.activations_active} of ${l.activation_limit}`);

function signInPage(message, isError) {
  who.replaceChildren();
  const email = h('input', { id: 'email', type: 'email', name: 'email', autocomplete: 'email', required: true });
  const status = h('p', { class: isError ? 'error' : 'notice', role: 'status' }, message ?? '');
  const submit = h('button', { class: 'primary', type: 'submit' }, 'Email me a sign-in link');
  const form = h('form', { class: 'card narrow', novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    if (!email.value.trim()) { status.className = 'error'; status.textContent = 'Enter your email address.'; email.focus(); return; }
    submit.disabled = true;
    try {
      const r = await api('POST', '/login', { email: email.value.trim() });
      status.className = 'notice';
      status.textContent = r.message;
    } catch (e) {
      status.className = 'error';
      status.textContent = e.code === 'INVALID_FIELD' ? 'Enter a valid email address, like ada@example.com.' : e.message;
    } finally {
      submit.disabled = false;
    }
  } },
    h('h1', {}, 'Sign in'),
    h('p', { class: 'muted' }, 'Enter the email address your licenses were sent to. We will email you a link that signs you in.'),
    h('div', { class: 'field' }, h('label', { for: 'email' }, 'Email'), email),
    status,
    h('div', { class: 'actions' }, submit));
  show(form);
  email.focus();
}

function dialog(title, body, actions) {
  const d = h('dialog', { 'aria-labelledby': 'dialog-title' }, h('h2', { id: 'dialog-title' }, title), body,
    h('div', { class: 'actions' }, ...actions, h('button', { type: 'button', onclick: () => d.close() }, 'Close')));
  d.addEventListener('close', () => d.remove());
  document.body.append(d);
  d.showModal();
  return d;
}

async function reveal(l) {
  try {
    const { key } = await api('POST', `/licenses/${l.id}/reveal`);
    const copy = h('button', { type: 'button', onclick: async () => {
      await navigator.clipboard?.writeText(key).catch(() => {});
      copy.textContent = 'Copied';
    } }, 'Copy');
    dialog(`${l.product.name} license key`, h('div', {},
      h('p', {}, h('code', { class: 'key' }, key)),
      h('p', { class: 'hint' }, 'Keep it private: anyone with this key can use your license.')), [copy]);
  } catch (e) {
    dialog('The key cannot be shown', h('p', { class: 'error' }, e.message), []);
  }
}

function download(name, data) {
  const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function offlineFile(l) {
  const fp = h('input', { id: 'fingerprint', name: 'fingerprint', maxlength: '255', autocomplete: 'off', required: true, 'aria-describedby': 'fingerprint-hint' });
  const status = h('p', { class: 'error', role: 'status' });
  const get = h('button', { class: 'primary', type: 'button', onclick: async () => {
    status.textContent = '';
    if (!fp.value.trim()) { status.textContent = 'Enter the device ID your software shows on that computer.'; fp.focus(); return; }
    get.disabled = true;
    try {
      const file = await api('GET', `/licenses/${l.id}/offline-file?fingerprint=${encodeURIComponent(fp.value.trim())}`);
      download(`license-${l.id}.json`, file);
      d.close();
    } catch (e) {
      const reason = e.code === 'OFFLINE_FILE_REFUSED' && e.reason;
      status.textContent = reason === 'LIMIT_EXCEEDED'
        ? 'Every device slot of this license is taken. Deactivate a device first (Devices).'
        : reason ? 'This license cannot be used right now, so there is no offline file for it.' : e.message;
    } finally {
      get.disabled = false;
    }
  } }, 'Download');
  const d = dialog('Offline file', h('div', {},
    h('p', {}, 'For a computer without internet access: it takes one of the license\'s device slots, and this file, copied to it, works there for a limited time.'),
    h('div', { class: 'field' }, h('label', { for: 'fingerprint' }, 'Device ID'), fp,
      h('p', { class: 'hint', id: 'fingerprint-hint' }, 'Your software shows it on that computer; the file works there only.')),
    status), [get]);
}

async function devices(l, box, toggle) {
  if (!box.hidden) { box.hidden = true; toggle.setAttribute('aria-expanded', 'false'); return; }
  box.hidden = false;
  toggle.setAttribute('aria-expanded', 'true');
  box.replaceChildren(h('p', { class: 'muted', role: 'status' }, 'Loading devices…'));
  try {
    const { items } = await api('GET', `/licenses/${l.id}/activations`);
    if (!items.length) { box.replaceChildren(h('p', { class: 'muted' }, 'No device uses this license right now.')); return; }
    box.replaceChildren(h('ul', { class: 'devices', 'aria-label': `Devices using ${l.product.name}` }, items.map((a) => {
      const name = a.name || a.fingerprint;
      const off = h('button', { type: 'button', class: 'danger', 'aria-label': `Deactivate ${name}`,
        onclick: () => confirmDeactivate(a, name) }, 'Deactivate');
      return h('li', {}, h('span', {}, h('strong', {}, name), a.platform ? ` · ${a.platform}` : '',
        h('br'), h('span', { class: 'muted' }, `Last seen ${date(a.last_validated_at)}`)), off);
    })));
  } catch (e) {
    box.replaceChildren(h('p', { class: 'error' }, e.message));
  }
}

function confirmDeactivate(a, name) {
  const status = h('p', { class: 'error', role: 'status' });
  const yes = h('button', { type: 'button', class: 'danger', onclick: async () => {
    yes.disabled = true;
    try {
      await api('POST', `/activations/${a.id}/deactivate`);
      d.close();
      await licensesPage(`${name} was deactivated; its slot is free for another device.`);
    } catch (e) {
      yes.disabled = false;
      status.textContent = e.message;
    }
  } }, 'Deactivate');
  const d = dialog(`Deactivate ${name}?`, h('div', {},
    h('p', {}, 'The software on this device stops working until it is activated again. Its slot becomes free for another device.'),
    status), [yes]);
}

function licenseCard(l) {
  const box = h('div', { id: `devices-${l.id}`, hidden: true });
  const toggle = h('button', { type: 'button', 'aria-expanded': 'false', 'aria-controls': `devices-${l.id}`,
    onclick: () => devices(l, box, toggle) }, 'Devices');
  return h('article', { class: 'card', 'aria-labelledby': `lic-${l.id}` },
    h('div', { class: 'license-head' },
      h('h2', { id: `lic-${l.id}` }, l.product.name),
      h('span', { class: `status ${l.status}` }, l.status)),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Key'), h('dd', {}, h('code', { class: 'key' }, l.key_display)),
      h('dt', {}, 'Expires'), h('dd', {}, date(l.expires_at)),
      h('dt', {}, 'Devices'), h('dd', {}, limit(l))),
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => reveal(l) }, 'Show key'),
      toggle,
      h('button', { type: 'button', onclick: () => offlineFile(l) }, 'Offline file')),
    box);
}

async function licensesPage(message) {
  const me = await api('GET', '/me');
  csrf = me.csrf_token;
  who.replaceChildren(h('span', {}, me.customer.email),
    h('button', { type: 'button', onclick: signOut }, 'Sign out'));
  const { items } = await api('GET', '/licenses');
  show(h('h1', {}, `Hello ${me.customer.name}`),
    h('p', { class: 'notice', role: 'status' }, message ?? ''),
    ...(items.length ? items.map(licenseCard) : [h('p', { class: 'muted' }, 'You hold no licenses here yet.')]));
}

async function signOut() {
  try { await api('DELETE', '/session'); } catch { /* signed out either way */ }
  csrf = '';
  history.replaceState(null, '', base);
  signInPage('You are signed out.');
}

async function start() {
  if (!env) {
    show(h('div', { class: 'card narrow' }, h('h1', {}, 'Your licenses'),
      h('p', {}, 'Open the portal link your software vendor gave you (it ends in the name of your environment, like /portal/production/).')));
    return;
  }
  if (parts[2] === 'sign-in') {
    const token = location.hash.slice(1);
    history.replaceState(null, '', base); // the secret leaves the address bar and history
    try {
      const r = await api('POST', '/session', { token });
      csrf = r.csrf_token;
    } catch (e) {
      signInPage(e.code === 'LINK_INVALID'
        ? 'This sign-in link has expired or was already used. Ask for a new one below.' : e.message, true);
      return;
    }
  }
  try {
    await licensesPage();
  } catch (e) {
    if (e.status === 401) signInPage();
    else show(h('p', { class: 'error' }, e.message));
  }
}

start();
