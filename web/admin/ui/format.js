// How values read: times in the browser's time zone with the UTC value on hover, numbers with
// separators, statuses as badges.
import { h } from './dom.js';

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

/** A <time> in local time, the UTC value in its title. */
export function time(iso, { date = false } = {}) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  return h('time', { datetime: iso, title: `${d.toISOString().replace('.000Z', 'Z')} (UTC)` },
    (date ? dateOnly : dateTime).format(d));
}

export const number = (n) => new Intl.NumberFormat().format(n);

export const STATUSES = ['available', 'assigned', 'active', 'inactive', 'suspended', 'expired', 'revoked', 'reminted'];

export function badge(status) {
  return h('span', { class: `badge badge-${status}` }, status);
}

export function limit(n) {
  return n === -1 ? 'unlimited' : number(n);
}

/** The kinds of email Keysmith sends (SPEC §14), in words. */
export const MAIL_KINDS = {
  key_assigned: 'License key, on assignment',
  expiring_soon: 'Expiring soon (30, 14 and 7 days before)',
  expired: 'License expired',
  suspended: 'License suspended',
  revoked: 'License revoked',
  portal_link: 'Portal sign-in link',
};
