// One customer (`/admin/customers/<id>`, SPEC §14): their portal access — allowed or taken
// away, open sessions, latest sign-in — with the button that takes it away or gives it back,
// and the emails Keysmith sent them, newest first. The email list's page lives in the URL.
import { get, put, query } from '../api.js';
import { h, fill } from '../ui/dom.js';
import { confirmDialog } from '../ui/dialog.js';
import { MAIL_KINDS, badge, number, time } from '../ui/format.js';
import { dataTable, empty, pageOf, pager } from '../ui/table.js';
import { toast } from '../ui/toast.js';

export const title = 'Customer';

const PAGE = 25;

/** What an attempt's error class means, in an operator's words. */
const ERRORS = {
  connect: 'Could not connect to the SMTP server',
  timeout: 'The SMTP server did not answer in time',
  tls: 'TLS with the SMTP server failed',
  address: 'The address was refused',
  gone: 'The customer or license no longer exists',
  template: 'The template could not be rendered',
};

function errorText(e) {
  if (!e) return h('span', { class: 'muted' }, '—');
  const smtp = /^smtp (\d{3})$/.exec(e);
  const words = smtp ? `The SMTP server answered ${smtp[1]}` : (ERRORS[e] || e);
  return h('span', { class: 'delivery-error', title: e }, words);
}

/** queued (never tried), retrying (tried, will try again), sent, failed (gave up). */
function stateOf(m) {
  if (m.status === 'pending') return m.attempts === 0 ? 'queued' : 'retrying';
  return m.status;
}

/** When it was sent, when it is tried next, or nothing (failed). */
function sentOrNext(m) {
  if (m.sent_at) return time(m.sent_at);
  if (m.status === 'pending') return h('span', {}, 'next ', time(m.next_attempt_at));
  return h('span', { class: 'muted' }, '—');
}

export async function render(main, ctx) {
  const id = ctx.id;
  const back = h('p', { class: 'back' }, h('a', { href: '/admin/customers', 'data-link': true }, '← Customers'));
  fill(main, back, h('h1', {}, 'Customer'), h('p', { role: 'status' }, 'Loading the customer…'));
  let c;
  try {
    c = await get(ctx.path(`/customers/${encodeURIComponent(id)}`));
  } catch (e) {
    if (e.status !== 404 && e.status !== 400) throw e;
    fill(main, back, h('h1', {}, 'Customer not found'),
      empty(`No such customer in ${ctx.env}. They may have been deleted, or belong to another environment.`,
        h('a', { href: '/admin/customers', 'data-link': true }, 'See all customers')));
    return;
  }
  document.title = `${c.name} · Customers · ${ctx.env} · Keysmith`;
  const portal = h('section', { class: 'card', 'aria-labelledby': 'portal-h' });
  const mail = h('section', { class: 'card', 'aria-labelledby': 'mail-h' });
  fill(main, back, h('h1', {}, c.name),
    h('dl', { class: 'details customer-facts' },
      h('dt', {}, 'Email'), h('dd', {}, c.email),
      h('dt', {}, 'Created'), h('dd', {}, time(c.created_at)),
      h('dt', {}, 'Licenses'), h('dd', {}, h('a', { href: `/admin/licenses?customer=${encodeURIComponent(c.id)}`, 'data-link': true }, `Licenses of ${c.name}`))),
    portal, mail);
  await Promise.all([portalSection(portal, ctx, c), mailSection(mail, ctx, c)]);
}

/**
 * The portal card: what the customer may do there, and the button that changes it. The API
 * knows the latest sign-in of open sessions only, so without one the card does not say "never".
 */
async function portalSection(card, ctx, c) {
  const a = await get(ctx.path(`/customers/${c.id}/portal`));
  const set = async (access) => {
    if (!access) {
      const ok = await confirmDialog({
        title: `Take away ${c.name}'s portal access?`,
        message: `${c.name} is signed out of the customer portal on every device, unused sign-in links stop working, and new ones are refused until you give access back. Their licenses keep working.`,
        confirm: 'Take away access',
      });
      if (!ok) return;
    }
    try {
      await put(ctx.path(`/customers/${c.id}/portal`), { access });
      toast(access ? `${c.name} can sign in to the portal again` : `${c.name} can no longer sign in to the portal`);
      await portalSection(card, ctx, c);
      card.querySelector('button')?.focus();
    } catch (e) { toast(e.message, 'error'); }
  };
  const button = !ctx.can('catalog') ? h('p', { class: 'hint' }, `Managers and admins can take away or give back portal access. Your role in ${ctx.env} is ${ctx.role}.`)
    : a.access
      ? h('button', { type: 'button', class: 'danger', onclick: () => set(false) }, 'Take away portal access')
      : h('button', { type: 'button', class: 'primary', onclick: () => set(true) }, 'Give portal access back');
  fill(card,
    h('h2', { id: 'portal-h' }, 'Customer portal'),
    h('p', { class: 'hint' }, 'Where the customer signs in with an emailed link to see their licenses, reveal their keys and free a device.'),
    h('dl', { class: 'details' },
      h('dt', {}, 'Access'), h('dd', {}, a.access
        ? h('span', { class: 'badge badge-enabled' }, 'Allowed')
        : h('span', { class: 'badge badge-disabled' }, 'Taken away')),
      h('dt', {}, 'Open sessions'), h('dd', {}, number(a.sessions)),
      h('dt', {}, 'Last sign-in'), h('dd', {}, a.last_sign_in_at ? time(a.last_sign_in_at) : h('span', { class: 'muted' }, 'No open session'))),
    h('div', { class: 'actions start' }, button));
}

/** The emails card: one page of the customer's emails, Refresh, and the pager. */
async function mailSection(card, ctx, c) {
  const page = pageOf(ctx.params, 'mpage');
  const body = h('div', { 'aria-busy': 'true' }, h('p', { role: 'status' }, 'Loading emails…'));
  fill(card,
    h('div', { class: 'toolbar' },
      h('h2', { id: 'mail-h' }, 'Emails'),
      h('div', { class: 'buttons' }, h('button', { type: 'button', onclick: () => refresh() }, 'Refresh emails'))),
    h('p', { class: 'hint' }, 'Emails Keysmith sent or is sending to this customer. A failed attempt is tried again with growing pauses for 24 hours; then the email has failed.'),
    body);
  async function refresh() {
    let list;
    try {
      list = await get(ctx.path(`/customers/${c.id}/mail${query({ limit: PAGE, offset: (page - 1) * PAGE })}`));
    } catch (e) {
      fill(body, h('p', { role: 'alert' }, e.message));
      return;
    }
    body.setAttribute('aria-busy', 'false');
    if (list.total === 0) {
      fill(body, empty(`No emails to ${c.name} yet.`,
        'Keysmith emails customers when SMTP is set up (KEYSMITH_SMTP_URL): expiry reminders, suspensions, revocations, portal sign-in links, and their key on assignment when Settings say so.'));
      return;
    }
    fill(body, dataTable({
      label: `Emails to ${c.name}`,
      className: 'mail',
      items: list.items,
      columns: [
        ['Email', (m) => MAIL_KINDS[m.kind] || m.kind],
        ['To', (m) => m.recipient],
        ['Status', (m) => badge(stateOf(m))],
        ['Attempts', (m) => number(m.attempts)],
        ['Last error', (m) => errorText(m.last_error)],
        ['Created', (m) => time(m.created_at)],
        ['Sent or next attempt', sentOrNext],
      ],
    }), list.total > PAGE ? pager({
      page, size: PAGE, shown: list.items.length, total: list.total,
      go: (p) => ctx.setParams({ mpage: p > 1 ? p : '' }),
    }) : null);
  }
  await refresh();
}
