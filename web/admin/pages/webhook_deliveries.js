// One webhook endpoint's deliveries, newest first: where each stands, how many attempts, the
// endpoint's last answer, the next attempt; Retry per delivery and Send ping. While a delivery
// is due within a minute or two the list refreshes itself, so a ping's result shows up.
import { get, post, query } from '../api.js';
import { h, fill } from '../ui/dom.js';
import { dataTable, pager, empty } from '../ui/table.js';
import { badge, time } from '../ui/format.js';
import { toast } from '../ui/toast.js';

const PAGE = 25;
const POLL_MS = 1500;
/** A pending delivery due sooner than this keeps the list refreshing. */
const SOON_MS = 120_000;

/** queued (never tried), retrying (tried, will try again), delivered, failed (gave up). */
function stateOf(d) {
  if (d.status === 'pending') return d.attempts === 0 ? 'queued' : 'retrying';
  return d.status;
}

const short = (id) => `…${id.slice(-8)}`;

function response(d) {
  if (d.last_status_code !== null && d.last_status_code !== undefined) return `HTTP ${d.last_status_code}`;
  if (d.last_error) return h('span', { class: 'delivery-error' }, d.last_error);
  return h('span', { class: 'muted' }, '—');
}

/**
 * The deliveries section of endpoint `hook`: `page` of the list, `go(page)` to change it,
 * `closeHref` the view without it.
 */
export async function deliveriesSection(ctx, hook, { page, go, closeHref }) {
  const body = h('div', { 'aria-busy': 'true' }, h('p', { role: 'status' }, 'Loading deliveries…'));
  const section = h('section', { class: 'deliveries', 'aria-labelledby': 'deliveries-h' },
    h('h2', { id: 'deliveries-h' }, 'Deliveries to ', h('code', {}, hook.url)),
    h('div', { class: 'toolbar' },
      h('p', { class: 'hint' }, 'A failed attempt is tried again after 10 s, 20 s, 40 s … (at most an hour apart) for 24 hours after the event; then the delivery has failed. Retry sends it again now.'),
      h('div', { class: 'buttons' },
        h('button', { type: 'button', class: 'primary', onclick: () => ping() }, 'Send ping'),
        h('button', { type: 'button', onclick: () => refresh() }, 'Refresh'),
        h('a', { class: 'button', href: closeHref, 'data-link': true }, 'Close deliveries'))),
    body);

  let shown = '';
  let timer = null;
  async function refresh() {
    clearTimeout(timer);
    if (!section.isConnected && shown) return;
    let list;
    try {
      list = await get(ctx.path(`/webhooks/${hook.id}/deliveries${query({ limit: PAGE, offset: (page - 1) * PAGE })}`));
    } catch (e) {
      fill(body, h('p', { role: 'alert' }, e.message));
      return;
    }
    const json = JSON.stringify(list);
    if (json !== shown) {
      shown = json;
      body.setAttribute('aria-busy', 'false');
      fill(body, list.total === 0
        ? empty('No deliveries yet.', 'Send a ping to check that the endpoint answers, or wait for the next event it subscribes to.')
        : [table(list.items), list.total > PAGE ? pager({ page, size: PAGE, shown: list.items.length, total: list.total, go }) : null]);
    }
    const now = Date.now();
    if (list.items.some((d) => d.status === 'pending' && Date.parse(d.next_attempt_at) - now < SOON_MS)) {
      timer = setTimeout(() => { if (section.isConnected) refresh(); }, POLL_MS);
    }
  }

  async function ping() {
    try {
      await post(ctx.path(`/webhooks/${hook.id}/ping`));
      toast('Ping queued: it shows below once the endpoint has answered');
      if (page > 1) go(1); else refresh();
    } catch (e) { toast(e.message, 'error'); }
  }

  async function retry(d) {
    try {
      await post(ctx.path(`/deliveries/${d.id}/retry`));
      toast(`Delivery of event ${short(d.event_id)} queued again`);
      refresh();
    } catch (e) { toast(e.message, 'error'); }
  }

  function table(items) {
    return dataTable({
      label: 'Deliveries',
      className: 'deliveries',
      items,
      columns: [
        ['Event', (d) => h('code', { title: d.event_id }, short(d.event_id))],
        ['Status', (d) => badge(stateOf(d))],
        ['Attempts', (d) => String(d.attempts)],
        ['Response', response],
        ['Next attempt', (d) => (d.status === 'pending' ? time(d.next_attempt_at) : h('span', { class: 'muted' }, '—'))],
        ['Created', (d) => time(d.created_at)],
        ['Last change', (d) => time(d.updated_at)],
        ['Actions', (d) => (stateOf(d) === 'queued' ? h('span', { class: 'muted' }, '—')
          : h('button', { type: 'button', 'aria-label': `Retry delivery of event ${short(d.event_id)}`, onclick: () => retry(d) }, 'Retry'))],
      ],
    });
  }

  await refresh();
  return section;
}
