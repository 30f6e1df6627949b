// Products: what is licensed. List, create, edit (the code is fixed once licenses carry it),
// archive, delete (refused while generators or licenses refer to it — the API's IN_USE).
import { get, post, patch, del } from '../api.js';
import { h, fill, field } from '../ui/dom.js';
import { confirmDialog } from '../ui/dialog.js';
import { formDialog, jsonField, jsonObject } from '../ui/form.js';
import { time, number } from '../ui/format.js';
import { toast } from '../ui/toast.js';
import { dataTable, empty, actionMenu } from '../ui/table.js';

export const title = 'Products';

export async function render(main, ctx) {
  fill(main, h('h1', {}, 'Products'), h('p', { role: 'status' }, 'Loading products…'));
  const [list, stats] = await Promise.all([get(ctx.path('/products?limit=500')), get(ctx.path('/stats'))]);
  const counts = new Map(stats.by_product.map((p) => [p.product_id, p.count]));
  const reload = () => render(main, ctx);
  const create = ctx.can('catalog')
    ? h('button', { type: 'button', class: 'primary', onclick: () => edit(ctx, null, reload) }, 'Create product') : null;
  const body = list.items.length === 0
    ? empty('No products yet. A product is what you license: create one, then a generator that mints its keys.', create)
    : dataTable({
      label: `Products (${list.total})`,
      columns: [
        ['Name', (p) => p.name],
        ['Code', (p) => h('code', {}, p.code)],
        ['Status', (p) => h('span', { class: `badge badge-${p.status === 'active' ? 'active' : 'expired'}` }, p.status)],
        ['Licenses', (p) => h('a', { href: `/admin/licenses?product=${p.id}`, 'data-link': true, 'aria-label': `Licenses of ${p.name}: ${number(counts.get(p.id) || 0)}` }, number(counts.get(p.id) || 0))],
        ['Generators', (p) => h('a', { href: `/admin/generators?product=${p.id}`, 'data-link': true }, `Generators of ${p.name}`)],
        ['Created', (p) => time(p.created_at)],
        ['Actions', (p) => actionMenu(`Actions for ${p.name}`, ctx.can('catalog') ? [
          ['Edit', () => edit(ctx, p, reload)],
          [p.status === 'active' ? 'Archive' : 'Unarchive', () => setStatus(ctx, p, p.status === 'active' ? 'archived' : 'active', reload)],
          ['Delete', () => remove(ctx, p, reload), 'danger'],
        ] : [])],
      ],
      items: list.items,
    });
  fill(main, h('h1', {}, 'Products'),
    h('div', { class: 'toolbar' }, h('p', { class: 'muted' }, 'Each product has a code that starts its keys (chunked formats) and its own generators.'), h('div', { class: 'buttons' }, list.items.length ? create : null)),
    body);
}

async function edit(ctx, p, reload) {
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 200, value: p?.name || '' });
  const code = h('input', { type: 'text', name: 'code', required: !p, maxlength: 8, value: p?.code || '', readonly: Boolean(p), autocomplete: 'off', style: null });
  const meta = jsonField('metadata', 'Metadata', p?.metadata);
  const saved = await formDialog({
    title: p ? `Edit ${p.name}` : 'Create product',
    fields: [
      field('Name', name),
      field('Code', code, p ? 'Fixed: licenses carry it in their keys.' : '2–8 characters, A–Z and 0–9; starts every chunked key, e.g. ACME-7K2D-…'),
      meta.node,
    ],
    submitLabel: p ? 'Save product' : 'Create product',
    submit: async () => {
      const metadata = jsonObject(meta.area, 'metadata');
      return p
        ? patch(ctx.path(`/products/${p.id}`), { name: name.value.trim(), metadata })
        : post(ctx.path('/products'), { name: name.value.trim(), code: code.value.trim().toUpperCase(), metadata });
    },
  });
  if (saved) { toast(`${saved.name} saved`); reload(); }
}

async function setStatus(ctx, p, status, reload) {
  try {
    await patch(ctx.path(`/products/${p.id}`), { status });
    toast(`${p.name} ${status === 'archived' ? 'archived: no new licenses' : 'active again'}`);
    reload();
  } catch (e) { toast(e.message, 'error'); }
}

async function remove(ctx, p, reload) {
  const ok = await confirmDialog({ title: `Delete ${p.name}?`, message: 'The product goes for good. Only a product without generators and licenses can be deleted.', confirm: 'Delete product' });
  if (!ok) return;
  try {
    await del(ctx.path(`/products/${p.id}`));
    toast(`${p.name} deleted`);
    reload();
  } catch (e) {
    if (e.code !== 'IN_USE') { toast(e.message, 'error'); return; }
    await confirmDialog({
      title: `${p.name} is in use`,
      message: `${e.message}. Delete its generators and licenses first — or archive the product: archived products keep their licenses working but mint no new ones.`,
      confirm: 'Understood', danger: false,
    });
  }
}
