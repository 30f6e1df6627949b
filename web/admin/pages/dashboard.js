// The dashboard: counts by status and product, licenses expiring in the next 30 days, the most
// recent audit entries.
import { get, query } from '../api.js';
import { h, fill } from '../ui/dom.js';
import { badge, number, time } from '../ui/format.js';

export const title = 'Dashboard';

export async function render(main, ctx) {
  fill(main, h('h1', {}, 'Dashboard'), h('p', { role: 'status' }, 'Loading…'));
  const now = new Date();
  const in30 = new Date(now.getTime() + 30 * 86400e3);
  const [stats, expiring, audit] = await Promise.all([
    get(ctx.path('/stats')),
    get(ctx.path(`/licenses${query({ expires_after: now.toISOString(), expires_before: in30.toISOString(), sort: 'expires', order: 'asc', limit: 10 })}`)),
    get(ctx.path('/audit?limit=10')),
  ]);
  const byStatus = h('section', { class: 'card', 'aria-labelledby': 'st-h' }, h('h2', { id: 'st-h' }, 'Licenses by status'),
    stats.total === 0
      ? h('p', { class: 'empty' }, 'No licenses yet. Create a product and a generator, then mint licenses.')
      : h('ul', { class: 'counts' }, stats.by_status.map((s) => h('li', {},
        h('a', { href: `/admin/licenses?status=${s.status}`, 'data-link': true }, badge(s.status), ' ', number(s.count))))),
    h('p', {}, `Total ${number(stats.total)} · average activation limit ${stats.activation_limit_average ?? '—'}`));
  const byProduct = h('section', { class: 'card', 'aria-labelledby': 'pr-h' }, h('h2', { id: 'pr-h' }, 'Licenses by product'),
    h('table', {}, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Product'), h('th', { scope: 'col' }, 'Licenses'))),
      h('tbody', {}, stats.by_product.map((p) => h('tr', {},
        h('th', { scope: 'row' }, h('a', { href: `/admin/licenses?product=${p.product_id}`, 'data-link': true }, p.name || p.product_id)),
        h('td', {}, number(p.count)))))));
  const exp = h('section', { class: 'card', 'aria-labelledby': 'ex-h' }, h('h2', { id: 'ex-h' }, 'Expiring in the next 30 days'),
    expiring.items.length === 0 ? h('p', { class: 'empty' }, 'Nothing expires in the next 30 days.')
      : h('ul', {}, expiring.items.map((l) => h('li', {}, h('code', {}, l.key_display), ' ', l.customer?.email || 'unassigned', ' — ', time(l.expires_at)))),
    h('p', {}, h('a', { href: `/admin/licenses?sort=expires&order=asc`, 'data-link': true }, 'All licenses by expiry')));
  const recent = h('section', { class: 'card', 'aria-labelledby': 'au-h' }, h('h2', { id: 'au-h' }, 'Recent activity'),
    audit.items.length === 0 ? h('p', { class: 'empty' }, 'No activity yet.')
      : h('ul', { class: 'audit' }, audit.items.map((a) => h('li', {}, time(a.at), ' ', h('strong', {}, a.action), ' by ', a.actor, a.key_hint ? [' on ', h('code', {}, a.key_hint)] : null))));
  fill(main, h('h1', {}, 'Dashboard'), h('div', { class: 'grid' }, byStatus, byProduct, exp, recent));
}
