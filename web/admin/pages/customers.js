// Customers: who licenses are assigned to. Search (name or email) and page live in the URL;
// create, edit (name, email, metadata), delete (refused while they hold licenses), each
// customer's licenses on the License Keys page (`/admin/licenses?customer=<id>`), and their
// portal access and emails on their own page (`/admin/customers/<id>`, customer.js).
import { get, post, patch, del, query } from '../api.js';
import { h, fill, field } from '../ui/dom.js';
import { confirmDialog, openDialog } from '../ui/dialog.js';
import { time } from '../ui/format.js';
import { formDialog, jsonField, jsonObject } from '../ui/form.js';
import { actionMenu, dataTable, empty, pageOf, pager, searchBox } from '../ui/table.js';
import { toast } from '../ui/toast.js';

export const title = 'Customers';

const PAGE = 50;

const licensesOf = (c) => `/admin/licenses?customer=${encodeURIComponent(c.id)}`;
const detailOf = (c) => `/admin/customers/${encodeURIComponent(c.id)}`;

export async function render(main, ctx) {
  const q = ctx.params.get('q') || '';
  const page = pageOf(ctx.params);
  const reload = () => render(main, ctx);
  const toolbar = h('div', { class: 'toolbar' },
    searchBox({ id: 'customer-search', label: 'Search customers', value: q, placeholder: 'Name or email — press /', go: (text, opts) => ctx.setParams({ q: text }, opts) }),
    ctx.can('catalog') ? h('div', { class: 'buttons' },
      h('button', { type: 'button', class: 'primary', onclick: () => edit(ctx, null, reload) }, 'Create customer')) : null);
  const results = h('section', { 'aria-labelledby': 'results-h', 'aria-busy': 'true' },
    h('h2', { id: 'results-h', class: 'visually-hidden' }, 'Customers'), h('p', { role: 'status' }, 'Loading customers…'));
  fill(main, h('h1', {}, 'Customers'), toolbar, results);

  const list = await get(ctx.path(`/customers${query({ q, limit: PAGE, offset: (page - 1) * PAGE })}`));
  results.setAttribute('aria-busy', 'false');
  const heading = h('h2', { id: 'results-h', class: 'visually-hidden' }, 'Customers');
  if (list.total === 0) {
    fill(results, heading, q
      ? empty(`No customer's name or email contains “${q}”.`, h('button', { type: 'button', onclick: () => ctx.setParams({}) }, 'Clear search'))
      : empty('No customers in this environment yet.', ctx.can('catalog')
        ? 'Create one with Create customer, or when you assign a license.' : 'They appear here when licenses are assigned.'));
    return;
  }
  const table = dataTable({
    label: 'Customer table', className: 'people',
    columns: [
      ['Name', (c) => h('a', { href: detailOf(c), 'data-link': true }, c.name)],
      ['Email', (c) => c.email],
      ['Created', (c) => time(c.created_at)],
      ['Licenses', (c) => h('a', { href: licensesOf(c), 'data-link': true, 'aria-label': `Licenses of ${c.name}` }, 'Licenses')],
      // Everyone reaches a customer's page through their name; the menu is for managers.
      ['Actions', (c) => actionMenu(`Actions for ${c.name}`, ctx.can('catalog') ? [
        ['Portal and emails', () => ctx.navigate(detailOf(c))],
        ['Edit', () => edit(ctx, c, reload)],
        ['Delete', () => remove(ctx, c, reload), 'danger'],
      ] : [])],
    ],
    items: list.items,
  });
  fill(results, heading, table,
    pager({ page, size: PAGE, shown: list.items.length, total: list.total, go: (p) => ctx.setParams({ q, page: p > 1 ? p : '' }) }));
}

/** Create (`c` null) or edit a customer. */
async function edit(ctx, c, reload) {
  const name = h('input', { type: 'text', name: 'name', required: true, autocomplete: 'off', value: c?.name ?? '' });
  const email = h('input', { type: 'email', name: 'email', required: true, autocomplete: 'off', value: c?.email ?? '' });
  const meta = jsonField('metadata', 'Metadata', c?.metadata);
  const saved = await formDialog({
    title: c ? `Edit ${c.name}` : 'Create customer',
    fields: [field('Name', name), field('Email', email, 'Unique in this environment, whatever the letter case.'), meta.node],
    submitLabel: c ? 'Save' : 'Create customer',
    submit: () => {
      const body = { name: name.value.trim(), email: email.value.trim(), metadata: jsonObject(meta.area, 'metadata') };
      return c ? patch(ctx.path(`/customers/${c.id}`), body) : post(ctx.path('/customers'), body);
    },
  });
  if (saved) {
    toast(c ? `${saved.name} saved` : `${saved.name} created`);
    reload();
  }
}

async function remove(ctx, c, reload) {
  const ok = await confirmDialog({
    title: `Delete ${c.name}?`,
    message: `${c.name} <${c.email}> is removed from this environment (the audit log keeps the record).`,
    confirm: 'Delete customer',
  });
  if (!ok) return;
  try {
    await del(ctx.path(`/customers/${c.id}`));
    toast(`${c.name} deleted`);
    reload();
  } catch (e) {
    if (e.code !== 'IN_USE') { toast(e.message, 'error'); return; }
    await openDialog({
      title: `${c.name} still holds licenses`,
      body: (close) => [
        h('p', {}, 'A customer who holds licenses cannot be deleted. Assign those licenses to another customer, or revoke and delete them, then delete the customer.'),
        h('p', {}, h('a', { href: licensesOf(c), 'data-link': true, 'data-autofocus': true, onclick: () => close() }, `See the licenses of ${c.name}`)),
      ],
      actions: (close) => [h('button', { type: 'button', onclick: () => close() }, 'Close')],
    });
  }
}
