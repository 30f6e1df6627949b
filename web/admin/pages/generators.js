// Generators: how a product's keys are minted (format, default limit, validity, expiry basis,
// flags, lease TTL). The format editor asks the API for the entropy and an example key as you
// type and shows its refusal of a weak format; "Generate licenses" starts a bulk job whose live
// progress and one-time keys CSV are on the Background jobs page.
import { get, post, patch, del, query } from '../api.js';
import { h, fill, field } from '../ui/dom.js';
import { confirmDialog } from '../ui/dialog.js';
import { formDialog, optionalNumber, jsonField, jsonObject } from '../ui/form.js';
import { limit, number } from '../ui/format.js';
import { toast } from '../ui/toast.js';
import { dataTable, empty, actionMenu } from '../ui/table.js';
import { customerPicker } from './license_dialogs.js';

export const title = 'Generators';

const BASES = [['creation', 'When minted'], ['assignment', 'When assigned to a customer'], ['first_activation', 'At the first activation']];

export function describeFormat(f) {
  if (f.kind === 'uuid') return 'UUID';
  if (f.kind === 'pattern') return `Pattern ${f.pattern}`;
  return `${f.chunks} × ${f.chunk_len} characters${f.check ? ' + check' : ''}`;
}

export async function render(main, ctx) {
  const product = ctx.params.get('product') || '';
  fill(main, h('h1', {}, 'Generators'), h('p', { role: 'status' }, 'Loading generators…'));
  const [products, list] = await Promise.all([
    get(ctx.path('/products?limit=500')),
    get(ctx.path(`/generators${query({ product, limit: 500 })}`)),
  ]);
  const names = new Map(products.items.map((p) => [p.id, p]));
  const reload = () => render(main, ctx);
  const filter = h('select', { id: 'filter-product', onchange: (e) => ctx.setParams({ product: e.target.value }) },
    h('option', { value: '' }, 'All Products'),
    products.items.map((p) => h('option', { value: p.id, selected: p.id === product }, `${p.name} (${p.code})`)));
  const create = ctx.can('catalog') && products.items.length
    ? h('button', { type: 'button', class: 'primary', onclick: () => edit(ctx, products.items, null, reload) }, 'Create generator') : null;
  const actions = (g) => [
    ctx.can('manage') ? ['Generate licenses', () => generate(ctx, g)] : null,
    ctx.can('catalog') ? ['Edit', () => edit(ctx, products.items, g, reload)] : null,
    ctx.can('catalog') ? ['Delete', () => remove(ctx, g, reload), 'danger'] : null,
  ].filter(Boolean);
  const body = list.items.length === 0
    ? empty(products.items.length === 0
      ? h('p', {}, 'Create a product first: ', h('a', { href: '/admin/products', 'data-link': true }, 'Products'), '.')
      : 'No generators here yet. A generator mints a product\'s keys in a format you choose.', create)
    : dataTable({
      label: `Generators (${list.total})`,
      columns: [
        ['Name', (g) => g.name],
        ['Product', (g) => names.get(g.product_id)?.name || g.product_id],
        ['Format', (g) => [describeFormat(g.format), g.weak ? [' ', h('span', { class: 'badge badge-suspended', title: 'Fewer than 80 random bits: made under the older 64-bit floor. It keeps minting; create a stronger generator for new keys.' }, 'weak')] : null]],
        ['Default limit', (g) => limit(g.default_activation_limit)],
        ['Validity', (g) => (g.default_validity_days ? `${number(g.default_validity_days)} days from ${BASES.find(([k]) => k === g.expiry_basis)?.[1].toLowerCase()}` : 'Lifetime')],
        ['Lease TTL', (g) => `${number(g.lease_ttl_seconds)} s`],
        ['Actions', (g) => actionMenu(`Actions for ${g.name}`, actions(g))],
      ],
      items: list.items,
    });
  fill(main, h('h1', {}, 'Generators'),
    h('div', { class: 'toolbar' }, h('div', { class: 'filters' }, h('label', { for: 'filter-product' }, 'Product'), filter), h('div', { class: 'buttons' }, list.items.length ? create : null)),
    body);
}

/** The format editor: kind, its fields, and the API's verdict (entropy and example) as you type. */
function formatEditor(ctx, productSelect) {
  const kind = h('select', { name: 'format' }, h('option', { value: 'chunked' }, 'Chunked: CODE-XXXX-XXXX-…'), h('option', { value: 'pattern' }, 'Pattern: # digit, @ letter, * any'), h('option', { value: 'uuid' }, 'UUID'));
  const chunks = h('input', { type: 'number', name: 'chunks', min: 1, max: 16, value: 4 });
  const chunkLen = h('input', { type: 'number', name: 'chunk_len', min: 2, max: 8, value: 4 });
  const check = h('input', { type: 'checkbox', name: 'check', checked: true });
  const pattern = h('input', { type: 'text', name: 'pattern', value: 'ACME-****-****-****-****', autocomplete: 'off', spellcheck: 'false' });
  const chunkedBox = h('div', { class: 'format-fields' }, field('Chunks', chunks), field('Characters per chunk', chunkLen), h('label', { class: 'radio' }, check, 'Add a check chunk (catches typos offline)'));
  const patternBox = h('div', { class: 'format-fields', hidden: true }, field('Pattern', pattern, 'Literal A–Z, 0–9 and - are kept as they are.'));
  const verdict = h('output', { class: 'verdict', 'aria-live': 'polite', 'aria-label': 'Format check' });
  const value = () => (kind.value === 'uuid' ? { kind: 'uuid' }
    : kind.value === 'pattern' ? { kind: 'pattern', pattern: pattern.value.trim().toUpperCase() }
      : { kind: 'chunked', chunks: Number(chunks.value), chunk_len: Number(chunkLen.value), check: check.checked });
  let t; let ticket = 0;
  const refresh = () => {
    chunkedBox.hidden = kind.value !== 'chunked';
    patternBox.hidden = kind.value !== 'pattern';
    clearTimeout(t);
    t = setTimeout(async () => {
      const mine = ++ticket;
      try {
        const r = await post(ctx.path('/generators/format-preview'), { format: value(), product_id: productSelect.value || undefined });
        if (mine !== ticket) return;
        verdict.className = 'verdict ok';
        fill(verdict, `${r.entropy_bits} bits of randomness (at least ${r.min_entropy_bits} needed). Example: `, h('code', {}, r.example));
      } catch (e) {
        if (mine !== ticket) return;
        verdict.className = 'verdict bad';
        fill(verdict, e.message);
      }
    }, 200);
  };
  for (const c of [kind, chunks, chunkLen, check, pattern, productSelect]) c.addEventListener(c.type === 'checkbox' || c.tagName === 'SELECT' ? 'change' : 'input', refresh);
  refresh();
  return { nodes: [field('Key format', kind), chunkedBox, patternBox, verdict], value };
}

async function edit(ctx, products, g, reload) {
  const productSelect = h('select', { name: 'product_id', disabled: Boolean(g) },
    products.map((p) => h('option', { value: p.id, selected: p.id === (g?.product_id || ctx.params.get('product')) }, `${p.name} (${p.code})`)));
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 200, value: g?.name || '' });
  const lim = h('input', { type: 'number', name: 'default_activation_limit', min: -1, max: 10000, value: g?.default_activation_limit ?? 1 });
  const validity = h('input', { type: 'number', name: 'default_validity_days', min: 1, value: g?.default_validity_days ?? '' });
  const basis = h('select', { name: 'expiry_basis' }, BASES.map(([k, label]) => h('option', { value: k, selected: k === (g?.expiry_basis || 'creation') }, label)));
  const ttl = h('input', { type: 'number', name: 'lease_ttl_seconds', min: 60, max: 604800, value: g?.lease_ttl_seconds ?? 86400 });
  const flags = jsonField('default_feature_flags', 'Default feature flags', g?.default_feature_flags);
  const format = g ? null : formatEditor(ctx, productSelect);
  const saved = await formDialog({
    title: g ? `Edit ${g.name}` : 'Create generator', wide: true,
    fields: [
      field('Product', productSelect, g ? 'Fixed: the generator\'s keys belong to this product.' : null),
      field('Name', name),
      g ? field('Key format', h('input', { type: 'text', name: 'format', value: describeFormat(g.format), readonly: true }), 'Fixed: keys already minted use it. Create a new generator for a new format.') : format.nodes,
      field('Default activation limit', lim, '-1 for unlimited, or 1–10,000 devices.'),
      field('Default validity (days)', validity, 'Empty for lifetime licenses.'),
      field('Validity starts', basis),
      field('Lease TTL (seconds)', ttl, 'How long an offline lease stays valid: 60 s to 7 days.'),
      flags.node,
    ],
    submitLabel: g ? 'Save generator' : 'Create generator',
    submit: async () => {
      const default_feature_flags = jsonObject(flags.area, 'default_feature_flags');
      const body = {
        name: name.value.trim(), default_activation_limit: optionalNumber(lim) ?? 1,
        default_validity_days: optionalNumber(validity), expiry_basis: basis.value,
        lease_ttl_seconds: optionalNumber(ttl) ?? 86400, default_feature_flags,
      };
      return g ? patch(ctx.path(`/generators/${g.id}`), body)
        : post(ctx.path('/generators'), { ...body, product_id: productSelect.value, format: format.value() });
    },
  });
  if (saved) { toast(`${saved.name} saved`); reload(); }
}

async function generate(ctx, g) {
  const count = h('input', { type: 'number', name: 'count', min: 1, max: 100000, value: 100, required: true });
  const picker = customerPicker(ctx, null);
  const job = await formDialog({
    title: `Generate licenses from ${g.name}`,
    intro: 'Minting runs in the background; its progress and the keys are on the Background jobs page.',
    fields: [
      field('How many', count, '1 to 100,000.'),
      h('fieldset', {}, h('legend', {}, 'Assign them to (optional)'), picker.nodes),
      h('p', { class: 'warning' }, 'The full keys can be downloaded once, as CSV, when the job completes. Keep that file safe: Keysmith stores only an encrypted copy and shows masked keys afterwards.'),
    ],
    submitLabel: 'Start generating',
    submit: async () => {
      const customer_id = await picker.id();
      const r = await post(ctx.path(`/generators/${g.id}/generate`), { count: optionalNumber(count), ...(customer_id ? { customer_id } : {}) });
      return r.job;
    },
  });
  if (job) ctx.navigate(`/admin/jobs?job=${job.id}`);
}

async function remove(ctx, g, reload) {
  const ok = await confirmDialog({ title: `Delete ${g.name}?`, message: 'Only a generator that minted no licenses can be deleted.', confirm: 'Delete generator' });
  if (!ok) return;
  try {
    await del(ctx.path(`/generators/${g.id}`));
    toast(`${g.name} deleted`);
    reload();
  } catch (e) {
    toast(e.code === 'IN_USE' ? `${g.name} minted licenses, so it stays: ${e.message}. Stop using it by archiving its product.` : e.message, 'error');
  }
}
