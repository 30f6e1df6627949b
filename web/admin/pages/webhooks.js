// Webhooks (SPEC §9, §12): the endpoints that receive this environment's events as signed JSON
// POSTs. Add (the signing secret is shown once, with how to verify it), edit, enable or disable,
// ping, delete; and per endpoint its deliveries (webhook_deliveries.js). Which endpoint's
// deliveries are open, and the pages, live in the URL.
import { get, post, patch, del, query } from '../api.js';
import { h, fill, field } from '../ui/dom.js';
import { confirmDialog, secretDialog } from '../ui/dialog.js';
import { formDialog, checkbox, checkboxGroup } from '../ui/form.js';
import { dataTable, pager, pageOf, empty, actionMenu } from '../ui/table.js';
import { badge, time } from '../ui/format.js';
import { toast } from '../ui/toast.js';
import { deliveriesSection } from './webhook_deliveries.js';

export const title = 'Webhooks';

const PAGE = 50;
const ALL = '*';

export async function render(main, ctx) {
  fill(main, h('h1', {}, 'Webhooks'));
  if (!ctx.can('administer')) {
    main.append(empty('Only the admins of this environment manage webhooks.', 'Ask one of them to add an endpoint or to retry a delivery.'));
    return;
  }
  const page = pageOf(ctx.params);
  const open = ctx.params.get('endpoint');
  const view = (changes) => ({ page: page > 1 ? page : '', endpoint: open, ...changes });
  const [list, types, hook] = await Promise.all([
    get(ctx.path(`/webhooks${query({ limit: PAGE, offset: (page - 1) * PAGE })}`)),
    get(ctx.path('/webhooks/event-types')),
    open ? get(ctx.path(`/webhooks/${encodeURIComponent(open)}`)).catch(() => null) : null,
  ]);
  const reload = () => render(main, ctx);
  const add = () => create(ctx, types.items, view);
  main.append(
    h('p', {}, 'Keysmith POSTs each event as JSON to every enabled endpoint that subscribes to it, signed with the endpoint\'s secret, and retries with growing pauses for 24 hours until the endpoint answers 2xx. Expiring-soon reminders (30, 14 and 7 days before expiry) arrive as ',
      h('code', {}, 'license.expiring_soon'), '.'),
    h('div', { class: 'toolbar' }, h('div', { class: 'buttons' }, h('button', { type: 'button', class: 'primary', onclick: add }, 'Add endpoint'))));

  if (list.total === 0) {
    main.append(empty('No webhook endpoints yet.', 'Add one to have Keysmith tell your systems (a CRM, a mailer, a chat channel) when licenses change.'));
  } else {
    main.append(h('section', { 'aria-labelledby': 'endpoints-h' },
      h('h2', { id: 'endpoints-h', class: 'visually-hidden' }, 'Endpoints'),
      dataTable({
        label: 'Webhook endpoints',
        className: 'webhooks',
        items: list.items,
        row: (w) => ({ 'aria-current': w.id === open ? 'true' : null }),
        columns: [
          ['Endpoint URL', (w) => h('code', {}, w.url)],
          ['Events', (w) => eventsText(w.events)],
          ['Status', (w) => badge(w.enabled ? 'enabled' : 'disabled')],
          ['Created', (w) => time(w.created_at)],
          ['Deliveries', (w) => h('a', { href: `/admin/webhooks${query(view({ endpoint: w.id }))}`, 'data-link': true, 'aria-label': `Deliveries for ${w.url}` }, 'Deliveries')],
          ['Actions', (w) => actionMenu(`Actions for ${w.url}`, [
            ['Edit', () => edit(ctx, types.items, w, reload)],
            ['Send ping', () => ping(ctx, w, view)],
            [w.enabled ? 'Disable' : 'Enable', () => setEnabled(ctx, w, !w.enabled, reload)],
            ['Delete', () => remove(ctx, w, open, view, reload), 'danger'],
          ])],
        ],
      }),
      list.total > PAGE ? pager({ page, size: PAGE, shown: list.items.length, total: list.total, go: (p) => ctx.setParams(view({ page: p })) }) : null));
  }

  if (open && !hook) {
    main.append(empty('That endpoint no longer exists.', h('a', { href: '/admin/webhooks', 'data-link': true }, 'Close deliveries')));
  } else if (hook) {
    main.append(await deliveriesSection(ctx, hook, {
      page: pageOf(ctx.params, 'dpage'),
      go: (p) => ctx.setParams(view({ dpage: p > 1 ? p : '' })),
      closeHref: `/admin/webhooks${query(view({ endpoint: '' }))}`,
    }));
  }
}

/** "All events", or the subscribed types. */
function eventsText(events) {
  if (events.includes(ALL)) return 'All events';
  if (events.length === 0) return h('span', { class: 'muted' }, 'None (pings only)');
  return h('span', { class: 'event-list' }, events.join(', '));
}

/** The fields of the add and edit dialogs, and the request body they make. */
function endpointFields(types, hook) {
  const url = h('input', { type: 'url', name: 'url', value: hook?.url || '', placeholder: 'https://crm.example.com/keysmith', autocomplete: 'off', spellcheck: 'false' });
  const events = checkboxGroup('Events', {
    name: 'events',
    options: [[ALL, 'Every event, including types added later'], ...types.map((t) => [t, t])],
    checked: hook?.events || [],
    hint: 'The events this endpoint receives. A ping can be sent to any endpoint.',
  });
  const enabled = checkbox('Enabled: deliver events to this endpoint', {
    name: 'enabled', checked: hook ? hook.enabled : true, hint: 'A disabled endpoint gets no new events; its deliveries stay.',
  });
  return {
    fields: [field('Endpoint URL', url, 'An http:// or https:// URL of at most 2048 characters; Keysmith POSTs JSON to it.'), events.box, enabled.box],
    body() {
      const chosen = events.values();
      if (chosen.length === 0) throw Object.assign(new Error('Choose at least one event, or every event.'), { field: 'events' });
      return { url: url.value.trim(), events: chosen.includes(ALL) ? [ALL] : chosen, enabled: enabled.input.checked };
    },
  };
}

async function create(ctx, types, view) {
  const f = endpointFields(types, null);
  const created = await formDialog({
    title: 'Add webhook endpoint',
    fields: f.fields,
    submitLabel: 'Create endpoint',
    async submit() {
      const { enabled, ...body } = f.body();
      const hook = await post(ctx.path('/webhooks'), body);
      if (!enabled) {
        try { await patch(ctx.path(`/webhooks/${hook.id}`), { enabled: false }); } catch (e) { toast(`Created, but still enabled: ${e.message}`, 'error'); }
      }
      return hook;
    },
  });
  if (!created) return;
  await secretDialog({
    title: 'Webhook endpoint created',
    label: 'Signing secret',
    secret: created.secret,
    note: 'Copy the signing secret now: it is shown this once. Your endpoint needs it to check that a request comes from Keysmith.',
    details: verifyHelp(),
  });
  toast(`Endpoint ${created.url} added`);
  ctx.setParams(view({ endpoint: created.id, dpage: '' }));
}

const NODE_SAMPLE = `// Node.js. header: req.headers['keysmith-signature'];
// rawBody: the request body exactly as received.
const [t, v1] = header.split(',').map((part) => part.split('=')[1]);
const mac = crypto.createHmac('sha256', secret).update(\`\${t}.\${rawBody}\`).digest('hex');
const ok = mac.length === v1.length
  && crypto.timingSafeEqual(Buffer.from(mac), Buffer.from(v1))
  && Math.abs(Date.now() / 1000 - Number(t)) < 300;`;

/** How a receiver checks `Keysmith-Signature`. */
function verifyHelp() {
  return h('div', { class: 'verify' },
    h('p', {}, 'Every request carries the header ', h('code', {}, 'Keysmith-Signature: t=<unix>,v1=<hex>'), '.'),
    h('details', {}, h('summary', {}, 'How to verify a delivery'),
      h('ol', {},
        h('li', {}, h('code', {}, 't'), ' is when it was sent (Unix seconds), ', h('code', {}, 'v1'), ' the signature.'),
        h('li', {}, 'Compute HMAC-SHA256 with this secret over ', h('code', {}, '<t>.<raw request body>'), ' and hex-encode it.'),
        h('li', {}, 'Accept the request only if that equals ', h('code', {}, 'v1'), ' (compare in constant time) and ', h('code', {}, 't'), ' is at most 5 minutes old.'),
        h('li', {}, 'A retried event comes again with the same ', h('code', {}, 'Keysmith-Event-Id'), ' header: handle each id once.')),
      h('pre', { tabindex: 0, 'aria-label': 'Node.js example' }, h('code', {}, NODE_SAMPLE))));
}

async function edit(ctx, types, hook, reload) {
  const f = endpointFields(types, hook);
  const saved = await formDialog({
    title: 'Edit webhook endpoint',
    intro: 'The signing secret stays the same.',
    fields: f.fields,
    submitLabel: 'Save',
    submit: () => patch(ctx.path(`/webhooks/${hook.id}`), f.body()),
  });
  if (saved) { toast(`Endpoint ${saved.url} saved`); reload(); }
}

async function ping(ctx, hook, view) {
  try {
    await post(ctx.path(`/webhooks/${hook.id}/ping`));
    toast(`Ping queued for ${hook.url}`);
    ctx.setParams(view({ endpoint: hook.id, dpage: '' }));
  } catch (e) { toast(e.message, 'error'); }
}

async function setEnabled(ctx, hook, enabled, reload) {
  try {
    await patch(ctx.path(`/webhooks/${hook.id}`), { enabled });
    toast(`${hook.url} ${enabled ? 'enabled' : 'disabled'}`);
    reload();
  } catch (e) { toast(e.message, 'error'); }
}

async function remove(ctx, hook, open, view, reload) {
  const ok = await confirmDialog({
    title: 'Delete this webhook endpoint?',
    message: `Keysmith stops sending events to ${hook.url} and forgets its deliveries. Disable it instead to pause deliveries and keep their history.`,
    confirm: 'Delete endpoint',
  });
  if (!ok) return;
  try {
    await del(ctx.path(`/webhooks/${hook.id}`));
    toast(`Endpoint ${hook.url} deleted`);
    if (open === hook.id) ctx.setParams(view({ endpoint: '', dpage: '' })); else reload();
  } catch (e) { toast(e.message, 'error'); }
}
