// License Keys (seed 000): the list with search, product and status filters, the sort dialog,
// pagination with the total, Create License, the actions menu and its dialogs, and export of
// the current view. Search, filters, sort and page live in the URL.
import { get, query } from '../api.js';
import { h, fill } from '../ui/dom.js';
import { openDialog } from '../ui/dialog.js';
import { STATUSES, badge, limit, time } from '../ui/format.js';
import { actionsFor, createLicense } from './license_dialogs.js';
import { pager, searchBox } from '../ui/table.js';

export const title = 'License Keys';

const PAGE = 50;
const SORTS = [
  ['key', 'License Key'], ['product', 'Product'], ['customer', 'Customer'], ['status', 'Status'],
  ['activations', 'Activations'], ['expires', 'Expires'], ['created', 'Created'],
];

function state(params) {
  return {
    q: params.get('q') || '',
    product: params.get('product') || '',
    status: params.get('status') || '',
    customer: params.get('customer') || '',
    sort: params.get('sort') || 'created',
    order: params.get('order') || (params.get('sort') ? 'asc' : 'desc'),
    page: Math.max(1, Number.parseInt(params.get('page') || '1', 10) || 1),
  };
}

/** The URL parameters of a view (defaults left out, so bookmarks stay short). */
function urlOf(s) {
  return {
    q: s.q, product: s.product, status: s.status, customer: s.customer,
    sort: s.sort === 'created' && s.order === 'desc' ? '' : s.sort,
    order: s.sort === 'created' && s.order === 'desc' ? '' : s.order,
    page: s.page > 1 ? s.page : '',
  };
}

export async function render(main, ctx) {
  const s = state(ctx.params);
  const set = (changes, opts) => ctx.setParams(urlOf({ ...s, page: 1, ...changes }), opts);
  const filters = { q: s.q, product: s.product, status: s.status, customer: s.customer, sort: s.sort, order: s.order };

  const [products, customer] = await Promise.all([
    get(ctx.path('/products?limit=500')).then((r) => r.items),
    s.customer ? get(ctx.path(`/customers/${encodeURIComponent(s.customer)}`)).catch(() => null) : null,
  ]);
  const searchForm = searchBox({
    id: 'license-search', label: 'Search licenses', value: s.q, placeholder: 'Key, email, name or product — press /',
    go: (q, opts) => set({ q }, opts),
  });
  const productSelect = h('select', { id: 'filter-product', onchange: (e) => set({ product: e.target.value }) },
    h('option', { value: '' }, 'All Products'),
    products.map((p) => h('option', { value: p.id, selected: p.id === s.product }, `${p.name} (${p.code})`)));
  const statusSelect = h('select', { id: 'filter-status', onchange: (e) => set({ status: e.target.value }) },
    h('option', { value: '' }, 'All Statuses'),
    STATUSES.map((st) => h('option', { value: st, selected: st === s.status }, st[0].toUpperCase() + st.slice(1))));
  const sortLabel = `${SORTS.find(([k]) => k === s.sort)?.[1] || 'Created'}, ${s.order === 'asc' ? 'ascending' : 'descending'}`;
  const exportQuery = query(filters);
  const toolbar = h('div', { class: 'toolbar' },
    searchForm,
    h('div', { class: 'filters' },
      h('label', { for: 'filter-product' }, 'Product'), productSelect,
      h('label', { for: 'filter-status' }, 'Status'), statusSelect,
      s.customer ? h('span', {}, `Customer: ${customer ? `${customer.name} <${customer.email}>` : 'not found'} `,
        h('button', { type: 'button', class: 'link', onclick: () => set({ customer: '' }) }, 'Show every customer')) : null,
      h('button', { type: 'button', onclick: () => sortDialog(s, set), 'aria-label': `Sort: ${sortLabel}` }, `Sort: ${sortLabel}`)),
    h('div', { class: 'buttons' },
      ctx.can('export') ? [
        h('a', { class: 'button', href: `${ctx.path('/licenses/export.csv')}${exportQuery}`, download: 'licenses.csv' }, 'Export CSV'),
        h('a', { class: 'button', href: `${ctx.path('/licenses/export.json')}${exportQuery}`, download: 'licenses.json' }, 'Export JSON'),
      ] : null,
      ctx.can('manage') ? h('button', { type: 'button', class: 'primary', onclick: () => createLicense(ctx, products, () => render(main, ctx)) }, 'Create License') : null));

  const results = h('section', { 'aria-labelledby': 'results-h', 'aria-busy': 'true' }, h('h2', { id: 'results-h', class: 'visually-hidden' }, 'Licenses'), h('p', { role: 'status' }, 'Loading licenses…'));
  fill(main, h('h1', {}, 'License Keys'), toolbar, results);

  const list = await get(ctx.path(`/licenses${query({ ...filters, limit: PAGE, offset: (s.page - 1) * PAGE })}`));
  results.setAttribute('aria-busy', 'false');
  if (list.total === 0) {
    const filtered = s.q || s.product || s.status || s.customer;
    fill(results, h('h2', { id: 'results-h', class: 'visually-hidden' }, 'Licenses'),
      h('div', { class: 'empty' }, filtered
        ? [h('p', {}, 'No license matches this search and these filters.'), h('button', { type: 'button', onclick: () => ctx.setParams({}) }, 'Clear search and filters')]
        : [h('p', {}, 'No licenses in this environment yet.'), h('p', {}, 'Create one with Create License, or mint many at once on the Generators page.')]));
    return;
  }
  const first = (s.page - 1) * PAGE + 1;
  const last = first + list.items.length - 1;
  const reload = () => render(main, ctx);
  const table = h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': 'License table' }, h('table', { class: 'licenses' },
    h('caption', { class: 'visually-hidden' }, `Licenses ${first} to ${last} of ${list.total}`),
    h('thead', {}, h('tr', {},
      ['License Key', 'Product', 'Customer', 'Status', 'Activations', 'Expires', 'Created', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, list.items.map((l) => h('tr', { 'data-license': l.id },
      h('th', { scope: 'row' }, h('code', {}, l.key_display)),
      h('td', {}, l.product.name, h('br'), h('span', { class: 'muted' }, `${l.product.code} · ${ctx.env}${l.product.status === 'archived' ? ' · archived' : ''}`)),
      h('td', {}, l.customer ? [l.customer.name, h('br'), h('span', { class: 'muted' }, l.customer.email)] : h('span', { class: 'muted' }, 'Unassigned')),
      h('td', {}, badge(l.status)),
      h('td', { class: 'num' }, `${l.activations_active} / ${limit(l.activation_limit)}`),
      h('td', {}, l.expires_at ? time(l.expires_at, { date: true }) : 'Lifetime'),
      h('td', {}, time(l.created_at)),
      h('td', {}, actionsFor(ctx, l, reload)))))));
  const pages = pager({ page: s.page, size: PAGE, shown: list.items.length, total: list.total, go: (page) => ctx.setParams(urlOf({ ...s, page })) });
  fill(results, h('h2', { id: 'results-h', class: 'visually-hidden' }, 'Licenses'), table, pages);
}

function sortDialog(s, set) {
  let field = s.sort;
  let order = s.order;
  return openDialog({
    title: 'Sort licenses',
    body: h('form', { class: 'sort-form', onsubmit: (e) => e.preventDefault() },
      h('fieldset', {}, h('legend', {}, 'Sort by'),
        SORTS.map(([k, label]) => h('label', { class: 'radio' },
          h('input', { type: 'radio', name: 'sort', value: k, checked: k === field, onchange: () => { field = k; } }), label))),
      h('fieldset', {}, h('legend', {}, 'Order'),
        [['asc', 'Ascending (A→Z, 0→9, oldest or nearest first)'], ['desc', 'Descending (Z→A, 9→0, newest or farthest first)']].map(([k, label]) =>
          h('label', { class: 'radio' }, h('input', { type: 'radio', name: 'order', value: k, checked: k === order, onchange: () => { order = k; } }), label)))),
    actions: (close) => [
      h('button', { type: 'button', onclick: () => close() }, 'Cancel'),
      h('button', { type: 'button', class: 'primary', onclick: () => { close(); set({ sort: field, order }); } }, 'Apply sort'),
    ],
  });
}
