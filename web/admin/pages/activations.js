// Activations: every device across licenses, newest first, filtered by license, fingerprint (the
// same device on several licenses) and status; deactivating one frees its slot.
import { get, post, query } from '../api.js';
import { h, fill } from '../ui/dom.js';
import { confirmDialog } from '../ui/dialog.js';
import { badge, time } from '../ui/format.js';
import { toast } from '../ui/toast.js';
import { dataTable, empty, pager, pageOf, actionMenu } from '../ui/table.js';

export const title = 'Activations';

const PAGE = 50;

export async function render(main, ctx) {
  const s = { license_id: ctx.params.get('license_id') || '', fingerprint: ctx.params.get('fingerprint') || '', status: ctx.params.get('status') || '', page: pageOf(ctx.params) };
  const set = (changes) => ctx.setParams({ ...s, page: '', ...changes });
  const fingerprint = h('input', { type: 'search', id: 'filter-fingerprint', name: 'fingerprint', value: s.fingerprint, autocomplete: 'off', spellcheck: 'false', placeholder: 'Exact device fingerprint' });
  const status = h('select', { id: 'filter-status', onchange: (e) => set({ status: e.target.value }) },
    [['', 'All statuses'], ['active', 'Active'], ['deactivated', 'Deactivated']].map(([v, label]) => h('option', { value: v, selected: v === s.status }, label)));
  const toolbar = h('div', { class: 'toolbar' },
    h('form', { role: 'search', class: 'search', onsubmit: (e) => { e.preventDefault(); set({ fingerprint: fingerprint.value.trim() }); } },
      h('label', { for: 'filter-fingerprint' }, 'Fingerprint'), fingerprint),
    h('div', { class: 'filters' }, h('label', { for: 'filter-status' }, 'Status'), status,
      s.license_id ? h('button', { type: 'button', onclick: () => set({ license_id: '' }) }, 'Show every license') : null));
  const results = h('section', { 'aria-labelledby': 'acts-h', 'aria-busy': 'true' }, h('h2', { id: 'acts-h', class: 'visually-hidden' }, 'Activations'), h('p', { role: 'status' }, 'Loading activations…'));
  fill(main, h('h1', {}, 'Activations'), toolbar, results);
  let list;
  try {
    list = await get(ctx.path(`/activations${query({ license_id: s.license_id, fingerprint: s.fingerprint, status: s.status, limit: PAGE, offset: (s.page - 1) * PAGE })}`));
  } catch (e) {
    fill(results, h('p', { role: 'alert' }, e.message));
    return;
  }
  results.setAttribute('aria-busy', 'false');
  const reload = () => render(main, ctx);
  const filtered = s.license_id || s.fingerprint || s.status;
  fill(results, h('h2', { id: 'acts-h', class: 'visually-hidden' }, 'Activations'), list.total === 0
    ? empty(filtered ? 'No activation matches these filters.' : 'No device has activated a license in this environment yet.',
      filtered ? h('button', { type: 'button', onclick: () => ctx.setParams({}) }, 'Clear filters') : null)
    : [dataTable({
      label: s.license_id && list.items[0] ? `Activations of ${list.items[0].license.key_display}` : 'Activations',
      className: 'activations',
      columns: [
        ['Device', (a) => [a.name || h('span', { class: 'muted' }, 'Unnamed'), h('br'),
          h('a', { href: `/admin/activations${query({ fingerprint: a.fingerprint })}`, 'data-link': true, title: 'This device on every license' }, h('code', {}, a.fingerprint))]],
        ['License', (a) => [h('a', { href: `/admin/activations${query({ license_id: a.license.id })}`, 'data-link': true, 'aria-label': `Activations of ${a.license.key_display}` }, h('code', {}, a.license.key_display)), ' ', badge(a.license.status)]],
        ['Platform', (a) => a.platform || '—'],
        ['IP', (a) => a.ip || '—'],
        ['Status', (a) => badge(a.status)],
        ['First seen', (a) => time(a.first_seen_at)],
        ['Last validated', (a) => time(a.last_validated_at)],
        ['Deactivated', (a) => time(a.deactivated_at)],
        ['Actions', (a) => actionMenu(`Actions for ${a.name || a.fingerprint}`,
          a.status === 'active' && ctx.can('deactivate') ? [['Deactivate', () => deactivate(ctx, a, reload), 'danger']] : [])],
      ],
      items: list.items,
    }), pager({ page: s.page, size: PAGE, shown: list.items.length, total: list.total, go: (page) => ctx.setParams({ ...s, page }) })]);
}

async function deactivate(ctx, a, reload) {
  const who = a.name || a.fingerprint;
  const ok = await confirmDialog({
    title: `Deactivate ${who}?`,
    message: `This frees one of ${a.license.key_display}'s activation slots. The device stops validating until it activates again (if a slot is free then).`,
    confirm: 'Deactivate device',
  });
  if (!ok) return;
  try {
    await post(ctx.path(`/activations/${a.id}/deactivate`));
    toast(`${who} deactivated`);
    reload();
  } catch (e) { toast(e.message, 'error'); }
}
