// The console's shell and router: URL → page. Every page module exports `title` and
// `render(main, ctx)`; ctx carries the signed-in operator, the environment, the role there and
// helpers. State lives in the URL (filters, sort, page), so Back, reload and bookmarks work.
import { api, get, post, setCsrf, onReauthRequired } from './api.js';
import { h, fill, field, showError } from './ui/dom.js';
import { openDialog } from './ui/dialog.js';

const PAGES = {
  '': () => import('./pages/dashboard.js'),
  licenses: () => import('./pages/licenses.js'),
  products: () => import('./pages/products.js'),
  generators: () => import('./pages/generators.js'),
  jobs: () => import('./pages/jobs.js'),
  import: () => import('./pages/import.js'),
  activations: () => import('./pages/activations.js'),
  customers: () => import('./pages/customers.js'),
  'customers/:id': () => import('./pages/customer.js'),
  audit: () => import('./pages/audit.js'),
  tokens: () => import('./pages/tokens.js'),
  operators: () => import('./pages/operators.js'),
  webhooks: () => import('./pages/webhooks.js'),
  settings: () => import('./pages/settings.js'),
  account: () => import('./pages/account.js'),
  login: () => import('./pages/login.js'),
  setup: () => import('./pages/setup.js'),
  'set-password': () => import('./pages/setup.js'),
};

/** Navigation: every page of SPEC §12, in the operator's order of the day. */
const NAV = [
  ['', 'Dashboard'], ['licenses', 'License Keys'], ['products', 'Products'], ['generators', 'Generators'],
  ['customers', 'Customers'], ['activations', 'Activations'], ['jobs', 'Background jobs'], ['import', 'Import'],
  ['webhooks', 'Webhooks'], ['settings', 'Settings'], ['audit', 'Audit log'], ['tokens', 'API tokens'],
  ['operators', 'Operators'], ['account', 'Account'],
];
const PUBLIC = new Set(['login', 'setup', 'set-password']);

let me = null;

/** What a role may do (the server's table; the API refuses anyway). */
const CAN = {
  admin: new Set(['read', 'preview', 'assign', 'pause', 'deactivate', 'catalog', 'manage', 'reveal', 'export', 'administer']),
  manager: new Set(['read', 'preview', 'assign', 'pause', 'deactivate', 'catalog', 'manage', 'reveal', 'export']),
  support: new Set(['read', 'preview', 'assign', 'pause', 'deactivate']),
  viewer: new Set(['read']),
};

function currentEnv() {
  const envs = me?.environments || [];
  const saved = localStorage.getItem('keysmith.env');
  return envs.find((e) => e.name === saved) || envs.find((e) => e.name === 'production') || envs[0] || null;
}

export function navigate(url, { replace = false } = {}) {
  const target = url.startsWith('/') ? url : `/admin/${url}`;
  if (replace) history.replaceState(null, '', target); else history.pushState(null, '', target);
  render();
}

function pageName() {
  return location.pathname.replace(/^\/admin\/?/, '').replace(/\/$/, '');
}

/** The page and, for a detail page (`customers/<id>`), the id in the path. */
function route() {
  const [page, ...rest] = pageName().split('/');
  const id = rest.length ? decodeURIComponent(rest.join('/')) : null;
  return { page, id, load: PAGES[id ? `${page}/:id` : page] };
}

async function loadMe() {
  try {
    me = await get('/v1/auth/me');
    setCsrf(me.csrf_token);
  } catch (e) {
    if (e.status !== 401) throw e;
    me = null;
  }
}

export async function signedIn(body) {
  me = body;
  setCsrf(body.csrf_token);
}

async function signOut() {
  try { await post('/v1/auth/logout'); } catch { /* the session may be gone already */ }
  me = null;
  setCsrf(null);
  navigate('/admin/login', { replace: true });
}

function shell(page, env) {
  const main = h('main', { id: 'main', tabindex: '-1' });
  const production = env?.name === 'production';
  document.body.classList.toggle('env-production', production);
  document.body.classList.toggle('env-other', !production);
  const envSelect = h('select', {
    id: 'env-switch', 'aria-label': 'Environment',
    onchange: (e) => { localStorage.setItem('keysmith.env', e.target.value); render(); },
  }, (me.environments || []).map((e) => h('option', { value: e.name, selected: e.name === env?.name }, `${e.name} (${e.role})`)));
  const nav = h('nav', { 'aria-label': 'Console' }, h('ul', {}, NAV.map(([path, label]) =>
    h('li', {}, h('a', { href: `/admin/${path}`, 'data-link': true, 'aria-current': path === page ? 'page' : null }, label)))));
  const banner = h('div', { class: 'env-banner', role: 'note' },
    production ? 'PRODUCTION — changes here reach real customers' : `${(env?.name || 'no environment').toUpperCase()} — not production`);
  return [
    h('header', { class: 'topbar' },
      h('a', { class: 'brand', href: '/admin/', 'data-link': true }, 'Keysmith'),
      h('label', { class: 'env-label', for: 'env-switch' }, 'Environment'), envSelect,
      env ? h('button', { type: 'button', class: 'search-open', 'aria-keyshortcuts': 'Control+K Meta+K', onclick: () => globalSearch() }, 'Search', h('kbd', { 'aria-hidden': 'true' }, 'Ctrl K')) : null,
      h('span', { class: 'who' }, h('span', { class: 'who-name' }, me.operator.name), ' · ', env ? env.role : 'no role'),
      h('button', { type: 'button', class: 'link', onclick: signOut }, 'Sign out')),
    banner,
    h('div', { class: 'layout' }, nav, main),
  ];
}

function ctxFor(env, id = null) {
  const role = env?.role || null;
  return {
    me, env: env?.name, role, id,
    can: (what) => Boolean(role && CAN[role]?.has(what)),
    path: (p) => `/v1/${env?.name}${p}`,
    navigate,
    params: new URLSearchParams(location.search),
    setParams(params, { replace = false } = {}) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
      const s = q.toString();
      navigate(`${location.pathname}${s ? `?${s}` : ''}`, { replace });
    },
  };
}

let rendering = 0;

export async function render() {
  const ticket = ++rendering;
  const root = document.getElementById('root');
  const { page, id, load: found } = route();
  try {
    if (!PUBLIC.has(page) && !me) await loadMe();
    if (ticket !== rendering) return;
    if (!PUBLIC.has(page) && !me) {
      const next = location.pathname + location.search;
      history.replaceState(null, '', `/admin/login${next && next !== '/admin/' ? `?next=${encodeURIComponent(next)}` : ''}`);
      return render();
    }
    const load = found || (() => import('./pages/not_found.js'));
    const mod = await load();
    if (ticket !== rendering) return;
    if (PUBLIC.has(page)) {
      document.body.classList.remove('env-production', 'env-other');
      const main = h('main', { id: 'main', class: 'public', tabindex: '-1' });
      fill(root, main);
      document.title = `${mod.title} · Keysmith`;
      await mod.render(main, { navigate, signedIn, params: new URLSearchParams(location.search) });
      return;
    }
    const env = currentEnv();
    const parts = shell(page, env);
    fill(root, parts);
    const main = root.querySelector('main');
    const label = (!id && NAV.find(([p]) => p === page)?.[1]) || mod.title;
    document.title = `${label} · ${env?.name || ''} · Keysmith`;
    if (!env) {
      fill(main, h('h1', {}, 'No environment'), h('p', {}, 'You have no role in any environment. Ask an admin to grant you one.'));
      return;
    }
    await mod.render(main, { ...ctxFor(env, id), title: label });
  } catch (e) {
    fill(root, h('main', { id: 'main' }, h('h1', {}, 'The console could not load'), h('p', { role: 'alert' }, e.message)));
  }
}

onReauthRequired(() => openDialog({
  title: 'Enter your password again',
  body: (close) => {
    const pw = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
    const form = h('form', {
      onsubmit: async (ev) => {
        ev.preventDefault();
        try { await post('/v1/auth/reauth', { password: pw.value }); close(true); } catch (e) { showError(form, { ...e, field: 'password' }); }
      },
    }, h('p', {}, 'This environment asks for your password before showing keys or offline files.'),
    field('Password', pw), h('p', { class: 'form-error', role: 'alert' }),
    h('div', { class: 'actions' }, h('button', { class: 'primary' }, 'Continue')));
    return form;
  },
}).then(Boolean));

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-link]');
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  navigate(a.getAttribute('href'));
});
// A click anywhere else closes an open actions menu.
document.addEventListener('click', (e) => {
  for (const menu of document.querySelectorAll('.menu:not([hidden])')) {
    if (!menu.parentElement.contains(e.target)) {
      menu.hidden = true;
      menu.parentElement.querySelector('[aria-expanded]')?.setAttribute('aria-expanded', 'false');
    }
  }
});
window.addEventListener('popstate', render);
window.addEventListener('keysmith:signed-out', () => { me = null; render(); });
/** Ctrl/Cmd+K: search licenses and customers of the current environment from any page. */
async function globalSearch() {
  const env = me && currentEnv();
  if (!env || document.querySelector('dialog[open]')) return;
  const { openSearch } = await import('./pages/search.js');
  openSearch(ctxFor(env));
}
document.addEventListener('keydown', (e) => {
  if (e.key.toLowerCase() !== 'k' || !(e.ctrlKey || e.metaKey) || e.altKey || e.shiftKey) return;
  if (PUBLIC.has(pageName()) || !me) return;
  e.preventDefault();
  globalSearch();
});
// `/` focuses the page's search box unless the operator is typing somewhere.
document.addEventListener('keydown', (e) => {
  if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t.closest && t.closest('input, textarea, select, [contenteditable], dialog')) return;
  const search = document.querySelector('input[type="search"]');
  if (search) { e.preventDefault(); search.focus(); }
});

render();
export { api };
