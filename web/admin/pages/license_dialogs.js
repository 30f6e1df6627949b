// The License Keys page's dialogs: the actions menu of a row, Create, Edit, Assign, the
// confirmations, Preview (details, offline file, code samples, activations with "deactivate
// instance"), and the shown-once key of Create, Remint and Reveal.
import { get, post, patch, del, query } from '../api.js';
import { h, fill, field, showError } from '../ui/dom.js';
import { openDialog, confirmDialog, secretDialog } from '../ui/dialog.js';
import { badge, limit, time } from '../ui/format.js';
import { toast } from '../ui/toast.js';
import { actionMenu } from '../ui/table.js';
import { jsonField, parseJson } from '../ui/form.js';

const EDITABLE = new Set(['available', 'assigned', 'active', 'inactive', 'suspended']);
const REMINTABLE = new Set(['assigned', 'active', 'inactive', 'suspended', 'expired']);

/** The actions a role may take on license `l` in its state. */
function actions(ctx, l) {
  const st = l.status;
  const list = [];
  if (ctx.can('preview')) list.push(['Preview', () => preview(ctx, l)]);
  if (ctx.can('manage') && EDITABLE.has(st)) list.push(['Edit', (reload) => edit(ctx, l, reload)]);
  if (ctx.can('assign') && st === 'available') list.push(['Assign', (reload) => assign(ctx, l, reload)]);
  if (ctx.can('pause') && st === 'active') list.push(['Inactivate', (reload) => act(ctx, l, 'inactivate', reload)]);
  if (ctx.can('pause') && st === 'inactive') list.push(['Reactivate', (reload) => act(ctx, l, 'reactivate', reload)]);
  if (ctx.can('manage') && st === 'active') list.push(['Suspend', (reload) => suspend(ctx, l, reload)]);
  if (ctx.can('manage') && st === 'suspended') list.push(['Unsuspend', (reload) => act(ctx, l, 'unsuspend', reload)]);
  if (ctx.can('manage') && REMINTABLE.has(st)) list.push(['Remint', (reload) => remint(ctx, l, reload)]);
  if (ctx.can('reveal') && st !== 'reminted') list.push(['Reveal key', () => reveal(ctx, l)]);
  if (ctx.can('manage') && st !== 'revoked' && st !== 'reminted') list.push(['Revoke', (reload) => revoke(ctx, l, reload), 'danger']);
  if (ctx.can('manage')) list.push(['Delete', (reload) => remove(ctx, l, reload), 'danger']);
  return list;
}

/** The ⋮ menu of one row. */
export function actionsFor(ctx, l, reload) {
  return actionMenu(`Actions for ${l.key_display}`, actions(ctx, l).map(([label, run, kind]) => [label, () => run(reload), kind]));
}

async function act(ctx, l, action, reload) {
  try {
    await post(ctx.path(`/licenses/${l.id}/${action}`));
    toast(`${l.key_display}: ${action}d`);
    reload();
  } catch (e) { toast(e.message, 'error'); }
}

async function suspend(ctx, l, reload) {
  const reason = h('input', { type: 'text', name: 'reason', required: true, maxlength: 500 });
  const done = await openDialog({
    title: `Suspend ${l.key_display}`,
    body: (close) => {
      const form = h('form', {
        onsubmit: async (e) => {
          e.preventDefault();
          try { await post(ctx.path(`/licenses/${l.id}/suspend`), { reason: reason.value }); close(true); } catch (err) { showError(form, err); }
        },
      }, h('p', {}, 'Every activation attempt and validation is refused until you unsuspend it.'),
      field('Reason', reason, 'Recorded on the license and in the audit log.'), h('p', { class: 'form-error', role: 'alert' }),
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => close(false) }, 'Cancel'), h('button', { class: 'danger' }, 'Suspend')));
      return form;
    },
  });
  if (done) { toast(`${l.key_display} suspended`); reload(); }
}

async function revoke(ctx, l, reload) {
  const ok = await confirmDialog({
    title: `Revoke ${l.key_display}?`,
    message: 'Revoking is permanent: every activation ends now and the key never validates again. Use Inactivate for a pause you can undo.',
    confirm: 'Revoke license',
  });
  if (ok) await act(ctx, l, 'revoke', reload);
}

async function remove(ctx, l, reload) {
  const ok = await confirmDialog({
    title: `Delete ${l.key_display}?`,
    message: 'Deleting removes the license and its activation history for good (the audit entry stays). A license that was ever activated is better revoked.',
    confirm: 'Delete license',
  });
  if (!ok) return;
  try {
    await del(ctx.path(`/licenses/${l.id}`));
    toast(`${l.key_display} deleted`);
    reload();
  } catch (e) {
    if (e.code === 'LICENSE_HAS_ACTIVATIONS' && await confirmDialog({
      title: 'This license was activated', message: 'Delete it anyway, with its activation history? Revoking keeps the history.', confirm: 'Delete anyway',
    })) {
      await del(ctx.path(`/licenses/${l.id}?force=true`));
      toast(`${l.key_display} deleted`);
      reload();
    } else {
      toast(e.message, 'error');
    }
  }
}

async function remint(ctx, l, reload) {
  const ok = await confirmDialog({
    title: `Remint ${l.key_display}?`,
    message: 'This license ends (reminted) and a new license with a new key takes its place: same product, customer, limit, expiry and flags. Activations do not carry over.',
    confirm: 'Remint', danger: false,
  });
  if (!ok) return;
  try {
    const created = await post(ctx.path(`/licenses/${l.id}/remint`));
    await secretDialog({ title: 'New license key', label: 'License key', secret: created.key });
    reload();
  } catch (e) { toast(e.message, 'error'); }
}

async function reveal(ctx, l) {
  try {
    const { key } = await post(ctx.path(`/licenses/${l.id}/reveal`));
    await secretDialog({ title: `Key of ${l.key_display}`, label: 'License key', secret: key, note: 'Revealing is recorded in the audit log. Do not paste the key anywhere public.' });
  } catch (e) { toast(e.message, 'error'); }
}

/** A customer picker: an existing customer by search, or a new one (name and email). */
export function customerPicker(ctx, current) {
  const search = h('input', { type: 'search', name: 'customer_search', placeholder: 'Name or email', autocomplete: 'off' });
  const select = h('select', { name: 'customer_id' }, h('option', { value: '' }, current ? `${current.name} <${current.email}>` : 'Choose a customer'));
  if (current) select.options[0].value = current.id;
  const load = async () => {
    const found = await get(ctx.path(`/customers${query({ q: search.value.trim(), limit: 50 })}`));
    fill(select, current ? h('option', { value: current.id }, `${current.name} <${current.email}> (current)`) : h('option', { value: '' }, found.items.length ? 'Choose a customer' : 'No customer matches'),
      found.items.filter((c) => c.id !== current?.id).map((c) => h('option', { value: c.id }, `${c.name} <${c.email}>`)));
  };
  let t;
  search.addEventListener('input', () => { clearTimeout(t); t = setTimeout(load, 250); });
  load();
  const newName = h('input', { type: 'text', name: 'name', autocomplete: 'off' });
  const newEmail = h('input', { type: 'email', name: 'email', autocomplete: 'off' });
  const fresh = h('fieldset', { class: 'new-customer' }, h('legend', {}, 'Or a new customer'), field('Name', newName), field('Email', newEmail));
  return {
    nodes: [field('Find customer', search), field('Customer', select), fresh],
    /** The chosen customer's id, creating the new one first when its fields are filled. */
    async id() {
      if (newEmail.value.trim()) {
        const c = await post(ctx.path('/customers'), { name: newName.value.trim() || newEmail.value.trim(), email: newEmail.value.trim() });
        return c.id;
      }
      return select.value || null;
    },
  };
}

async function assign(ctx, l, reload) {
  const picker = customerPicker(ctx, null);
  const done = await openDialog({
    title: `Assign ${l.key_display}`,
    body: (close) => {
      const form = h('form', {
        onsubmit: async (e) => {
          e.preventDefault();
          try {
            const id = await picker.id();
            if (!id) { showError(form, { message: 'Choose a customer, or enter a new one.', field: 'customer_id' }); return; }
            await post(ctx.path(`/licenses/${l.id}/assign`), { customer_id: id });
            close(true);
          } catch (err) { showError(form, err); }
        },
      }, picker.nodes, h('p', { class: 'form-error', role: 'alert' }),
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => close(false) }, 'Cancel'), h('button', { class: 'primary' }, 'Assign')));
      return form;
    },
  });
  if (done) { toast(`${l.key_display} assigned`); reload(); }
}

/** `limit` field: -1 (unlimited) or 1..=10000, as the seed's validation rules say. */
function limitInput(value) {
  return h('input', { type: 'number', name: 'activation_limit', min: -1, max: 10000, step: 1, value: value ?? '' });
}

function expiryInput(value) {
  return h('input', { type: 'date', name: 'expires_at', value: value ? value.slice(0, 10) : '' });
}

/** A date input's value as the end of that day in the browser's time zone. */
function expiryValue(input) {
  if (!input.value) return null;
  return new Date(`${input.value}T23:59:59`).toISOString();
}

export async function createLicense(ctx, products, reload) {
  const active = products.filter((p) => p.status === 'active');
  if (active.length === 0) {
    await openDialog({ title: 'Create License', body: h('p', { class: 'empty' }, 'Create an active product and a generator first (Products and Generators pages, or the admin API).') });
    return;
  }
  const product = h('select', { name: 'product_id', required: true }, active.map((p) => h('option', { value: p.id }, `${p.name} (${p.code})`)));
  const generator = h('select', { name: 'generator_id', required: true });
  const loadGenerators = async () => {
    const gens = (await get(ctx.path(`/generators${query({ product: product.value, limit: 500 })}`))).items;
    fill(generator, gens.length ? gens.map((g) => h('option', { value: g.id }, g.name)) : h('option', { value: '' }, 'This product has no generator'));
  };
  product.addEventListener('change', loadGenerators);
  await loadGenerators();
  const picker = customerPicker(ctx, null);
  const lim = limitInput();
  const exp = expiryInput();
  const flags = jsonField('feature_flags', 'Feature flags', {});
  const meta = jsonField('metadata', 'Metadata', {});
  const created = await openDialog({
    title: 'Create License', wide: true,
    body: (close) => {
      const form = h('form', {
        onsubmit: async (e) => {
          e.preventDefault();
          const body = { product_id: product.value, generator_id: generator.value };
          const ff = parseJson(form, flags.area, 'feature_flags'); if (ff === undefined) return;
          const md = parseJson(form, meta.area, 'metadata'); if (md === undefined) return;
          if (Object.keys(ff).length) body.feature_flags = ff;
          if (Object.keys(md).length) body.metadata = md;
          if (lim.value !== '') body.activation_limit = Number(lim.value);
          if (exp.value) body.expires_at = expiryValue(exp);
          try {
            const customer = await picker.id();
            if (customer) body.customer_id = customer;
            close(await post(ctx.path('/licenses'), body));
          } catch (err) { showError(form, err); }
        },
      },
      field('Product', product), field('Generator', generator, 'The generator decides the key format and the defaults.'),
      h('details', {}, h('summary', {}, 'Customer (optional)'), picker.nodes),
      field('Activation limit', lim, 'Blank: the generator\'s default. -1 is unlimited, otherwise 1 to 10000.'),
      field('Expires', exp, 'Blank: the generator\'s default validity. Must be in the future.'),
      flags.node, meta.node,
      h('p', { class: 'form-error', role: 'alert' }),
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => close() }, 'Cancel'), h('button', { class: 'primary' }, 'Create license')));
      return form;
    },
  });
  if (created) {
    await secretDialog({ title: 'License created', label: 'License key', secret: created.key });
    reload();
  }
}

async function edit(ctx, l, reload) {
  const full = await get(ctx.path(`/licenses/${l.id}`));
  const picker = customerPicker(ctx, full.customer);
  const lim = limitInput(full.activation_limit);
  const exp = expiryInput(full.expires_at);
  const flags = jsonField('feature_flags', 'Feature flags', full.feature_flags);
  const meta = jsonField('metadata', 'Metadata', full.metadata);
  const done = await openDialog({
    title: `Edit ${l.key_display}`, wide: true,
    body: (close) => {
      const form = h('form', {
        onsubmit: async (e) => {
          e.preventDefault();
          const ff = parseJson(form, flags.area, 'feature_flags'); if (ff === undefined) return;
          const md = parseJson(form, meta.area, 'metadata'); if (md === undefined) return;
          const body = { activation_limit: Number(lim.value), feature_flags: ff, metadata: md, expires_at: expiryValue(exp) };
          try {
            const customer = await picker.id();
            if (customer && customer !== full.customer?.id) body.customer_id = customer;
            await patch(ctx.path(`/licenses/${l.id}`), body);
            close(true);
          } catch (err) { showError(form, err); }
        },
      },
      h('p', { class: 'muted' }, `Key, product (${full.product.name}) and environment (${ctx.env}) never change.`),
      picker.nodes, field('Activation limit', lim, '-1 is unlimited, otherwise 1 to 10000.'),
      field('Expires', exp, 'Blank: lifetime. Must be in the future.'), flags.node, meta.node,
      h('p', { class: 'form-error', role: 'alert' }),
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => close(false) }, 'Cancel'), h('button', { class: 'primary' }, 'Save')));
      return form;
    },
  });
  if (done) { toast(`${l.key_display} saved`); reload(); }
}

function copyButton(label, text) {
  const b = h('button', {
    type: 'button',
    onclick: async () => { try { await navigator.clipboard.writeText(text); b.textContent = 'Copied'; } catch { b.textContent = 'Copy by hand'; } },
  }, `Copy ${label}`);
  return b;
}

export async function preview(ctx, l) {
  const p = await get(ctx.path(`/licenses/${l.id}/preview`));
  const lic = p.license;
  const details = h('dl', { class: 'details' },
    [['Key', h('code', {}, lic.key_display)], ['Product', `${lic.product.name} (${lic.product.code})`],
      ['Customer', lic.customer ? `${lic.customer.name} <${lic.customer.email}>` : 'Unassigned'], ['Status', badge(lic.status)],
      ['Activations', `${lic.activations_active} / ${limit(lic.activation_limit)}`], ['Expires', lic.expires_at ? time(lic.expires_at) : 'Lifetime'],
      ['Created', time(lic.created_at)], ['Feature flags', h('code', {}, JSON.stringify(lic.feature_flags))]]
      .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  const file = p.offline_file
    ? h('p', {}, h('a', {
      class: 'button', download: `license-${lic.id}.json`,
      href: URL.createObjectURL(new Blob([JSON.stringify(p.offline_file, null, 2)], { type: 'application/json' })),
    }, 'Download offline file'), ' Valid for the environment\'s offline-file time (24 h by default).')
    : h('p', { class: 'muted' }, `No offline file: this license would not validate now (${p.offline_file_refused}).`);
  const samples = h('div', { class: 'samples' }, ['curl', 'php', 'javascript', 'python'].map((lang) =>
    h('section', { 'aria-label': `${lang} sample` }, h('h4', {}, lang === 'curl' ? 'cURL' : lang[0].toUpperCase() + lang.slice(1)),
      h('pre', { tabindex: 0, 'aria-label': `${lang} code` }, h('code', {}, p.code_samples[lang])), copyButton(`${lang} sample`, p.code_samples[lang]))));
  const rows = h('tbody');
  const history = h('table', { class: 'activations' },
    h('caption', {}, 'Activation history, newest first'),
    h('thead', {}, h('tr', {}, ['Instance', 'Name', 'Platform', 'Status', 'First seen', 'Last validated', ''].map((c) => h('th', { scope: 'col' }, c)))), rows);
  const fillRows = (acts) => fill(rows, acts.length === 0
    ? h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'No activations yet.'))
    : acts.map((a) => h('tr', {},
      h('th', { scope: 'row' }, h('code', {}, a.fingerprint)), h('td', {}, a.name || '—'), h('td', {}, a.platform || '—'),
      h('td', {}, badge(a.status)), h('td', {}, time(a.first_seen_at)), h('td', {}, time(a.last_validated_at)),
      h('td', {}, a.status === 'active' && ctx.can('deactivate') ? h('button', {
        type: 'button', 'aria-label': `Deactivate instance ${a.fingerprint}`,
        onclick: async () => {
          if (!await confirmDialog({ title: 'Deactivate this instance?', message: `${a.fingerprint} stops being licensed and frees a slot.`, confirm: 'Deactivate instance' })) return;
          try {
            await post(ctx.path(`/activations/${a.id}/deactivate`));
            toast(`Instance ${a.fingerprint} deactivated`);
            show(await get(ctx.path(`/licenses/${l.id}/activations`)), false);
          } catch (e) { toast(e.message, 'error'); }
        },
      }, 'Deactivate instance') : null))));
  // The history comes a page at a time (50, newest first); "Show more" follows next_cursor.
  let shown = [];
  let cursor = null;
  const shownCount = h('p', { class: 'muted', 'aria-live': 'polite' });
  const more = h('button', {
    type: 'button',
    onclick: async () => {
      try {
        show(await get(ctx.path(`/licenses/${l.id}/activations?cursor=${encodeURIComponent(cursor)}`)), true);
      } catch (e) { toast(e.message, 'error'); }
    },
  }, 'Show more activations');
  const show = (page, append) => {
    shown = append ? shown.concat(page.items) : page.items;
    cursor = page.next_cursor;
    more.hidden = !cursor;
    fill(shownCount, shown.length < page.total ? `Showing ${shown.length} of ${page.total} activations.` : '');
    fillRows(shown);
  };
  show({ items: p.activations, total: p.activations_total ?? p.activations.length, next_cursor: p.activations_next_cursor }, false);
  await openDialog({
    title: `Preview ${lic.key_display}`, wide: true,
    body: [h('h3', {}, 'Details'), details, h('h3', {}, 'Offline validation file'), file,
      h('h3', {}, 'Code samples'), samples, h('h3', {}, 'Activations'), h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': 'Activation history' }, history), shownCount, more],
  });
}
