// The audit log of this environment, newest first. Filters (actor, action, target, time range)
// and page live in the URL; the time inputs are in the browser's time zone and sent as RFC 3339
// UTC. A license entry's key hint links to the License Keys page, searched by that hint.
import { get, query } from '../api.js';
import { h, fill, field, showError } from '../ui/dom.js';
import { time } from '../ui/format.js';
import { dataTable, empty, pageOf, pager } from '../ui/table.js';

export const title = 'Audit log';

const PAGE = 50;
const FILTERS = ['actor', 'action', 'target_id', 'since', 'until'];
const ACTIONS = [
  'license.created', 'license.bulk_created', 'license.updated', 'license.assigned', 'license.activated', 'license.suspended',
  'license.unsuspended', 'license.inactivated', 'license.reactivated', 'license.expiring_soon', 'license.expired', 'license.revoked',
  'license.reminted', 'license.revealed', 'license.deleted', 'activation.created', 'activation.deactivated',
  'customer.created', 'customer.updated', 'customer.deleted', 'product.created', 'product.updated', 'product.deleted',
  'generator.created', 'generator.updated', 'generator.deleted', 'job.created', 'job.keys_downloaded', 'token.created',
  'token.deleted', 'webhook.created', 'webhook.updated', 'webhook.deleted', 'webhook.pinged', 'delivery.retried',
  'settings.updated', 'signing_key.created',
];

/** A datetime-local value (browser time) as RFC 3339 UTC. */
const toIso = (local) => (local ? new Date(local).toISOString() : '');

/** An RFC 3339 time as a datetime-local value in the browser's time zone. */
function toLocal(iso) {
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime())) return '';
  return new Date(d.getTime() - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
}

/** An email alone means the operator with that email. */
const actorOf = (v) => (v.includes('@') && !v.includes(':') ? `operator:${v}` : v);

const auditLink = (params, label, text) =>
  h('a', { href: `/admin/audit${query(params)}`, 'data-link': true, 'aria-label': label }, text);

/** `details` on one line; long ones fold open to the full, indented JSON. */
function details(d) {
  const line = JSON.stringify(d);
  if (line === '{}') return h('span', { class: 'muted' }, '—');
  if (line.length <= 80) return h('code', {}, line);
  return h('details', {}, h('summary', {}, h('code', {}, `${line.slice(0, 60)}…`)), h('pre', {}, JSON.stringify(d, null, 2)));
}

export async function render(main, ctx) {
  const f = Object.fromEntries(FILTERS.map((k) => [k, ctx.params.get(k) || '']));
  const page = pageOf(ctx.params);
  const inputs = {
    actor: h('input', { type: 'text', name: 'actor', value: f.actor, autocomplete: 'off', placeholder: 'operator:ada@example.com' }),
    action: h('input', { type: 'text', name: 'action', value: f.action, list: 'audit-actions', autocomplete: 'off', placeholder: 'license.revoked' }),
    target_id: h('input', { type: 'text', name: 'target_id', value: f.target_id, autocomplete: 'off' }),
    since: h('input', { type: 'datetime-local', name: 'since', value: toLocal(f.since) }),
    until: h('input', { type: 'datetime-local', name: 'until', value: toLocal(f.until) }),
  };
  const filtered = FILTERS.some((k) => f[k]);
  const form = h('form', {
    'aria-label': 'Audit filters',
    onsubmit: (e) => {
      e.preventDefault();
      ctx.setParams({
        actor: actorOf(inputs.actor.value.trim()), action: inputs.action.value.trim(), target_id: inputs.target_id.value.trim(),
        since: toIso(inputs.since.value), until: toIso(inputs.until.value),
      });
    },
  },
  h('div', { class: 'filter-fields' },
    field('Actor', inputs.actor, 'operator:<email>, token:<name>, system, sweeper or abuse-detector. An email alone means that operator.'),
    field('Action', inputs.action, 'Exact, e.g. license.revoked.'),
    field('Target id', inputs.target_id, 'The id of a license, customer, product, …'),
    field('Since', inputs.since, 'Your time zone.'), field('Until', inputs.until, 'Your time zone.')),
  h('datalist', { id: 'audit-actions' }, ACTIONS.map((a) => h('option', { value: a }))),
  h('p', { class: 'form-error', role: 'alert' }),
  h('div', { class: 'actions' },
    h('button', { type: 'button', onclick: () => ctx.setParams({}) }, 'Clear filters'), h('button', { class: 'primary' }, 'Apply filters')));
  // Folded on a phone unless a filter is on, so the entries come first.
  const box = h('details', { class: 'card filters-box', open: filtered || matchMedia('(min-width: 801px)').matches },
    h('summary', {}, filtered ? `Filters (${FILTERS.filter((k) => f[k]).length} on)` : 'Filters'), form);
  const results = h('section', { 'aria-labelledby': 'results-h', 'aria-busy': 'true' },
    h('h2', { id: 'results-h', class: 'visually-hidden' }, 'Entries'), h('p', { role: 'status' }, 'Loading the audit log…'));
  fill(main, h('h1', {}, 'Audit log'), box, results);

  let list;
  try {
    list = await get(ctx.path(`/audit${query({ ...f, limit: PAGE, offset: (page - 1) * PAGE })}`));
  } catch (e) {
    results.setAttribute('aria-busy', 'false');
    showError(form, e);
    fill(results, h('h2', { id: 'results-h', class: 'visually-hidden' }, 'Entries'), empty('Correct the filter above to see entries.'));
    return;
  }
  results.setAttribute('aria-busy', 'false');
  const heading = h('h2', { id: 'results-h', class: 'visually-hidden' }, 'Entries');
  if (list.total === 0) {
    fill(results, heading, filtered
      ? empty('No audit entry matches these filters.', h('button', { type: 'button', onclick: () => ctx.setParams({}) }, 'Clear filters'))
      : empty('Nothing has been recorded in this environment yet. Every change made here or through the API will appear in this log.'));
    return;
  }
  const table = dataTable({
    label: 'Audit entries', className: 'people audit',
    columns: [
      ['Time', (a) => time(a.at)],
      ['Actor', (a) => auditLink({ actor: a.actor }, `Entries by ${a.actor}`, a.actor)],
      ['Action', (a) => h('code', {}, a.action)],
      ['Target', (a) => [a.target_type, ' ', h('code', {}, `…${a.target_id.slice(-8)}`), h('br'),
        auditLink({ target_id: a.target_id }, `History of ${a.target_type} ${a.target_id}`, 'History')]],
      ['Key', (a) => (!a.key_hint ? h('span', { class: 'muted' }, '—') : a.target_type === 'license'
        ? h('a', { href: `/admin/licenses${query({ q: searchable(a.key_hint) })}`, 'data-link': true }, h('code', {}, a.key_hint))
        : h('code', {}, a.key_hint))],
      ['Details', (a) => details(a.details)],
      ['Request id', (a) => h('code', { class: 'id' }, a.request_id)],
      ['IP', (a) => a.ip || h('span', { class: 'muted' }, '—')],
    ],
    items: list.items,
  });
  fill(results, heading, table, pager({
    page, size: PAGE, shown: list.items.length, total: list.total,
    go: (p) => ctx.setParams({ ...f, page: p > 1 ? p : '' }),
  }));
}

/** What finds a license by its audit hint: the last four of a display form (`ACME-····-7B2D`),
 * or an older entry's eight-character prefix as it is. */
function searchable(hint) {
  return hint.includes('····') ? hint.slice(-4) : hint;
}
