// Global search (Ctrl/Cmd+K, or the Search button): a license by its key (full, start or last
// four) or a customer by name or email, across the current environment. A license opens its
// Preview (or, for roles without preview, the License Keys list narrowed to it); a customer
// opens the Customers page on them. A full key is never put in the address bar.
import { get, query } from '../api.js';
import { h, fill, field } from '../ui/dom.js';
import { openDialog } from '../ui/dialog.js';
import { badge } from '../ui/format.js';
import { preview } from './license_dialogs.js';

/** The last four characters of a masked key: what the list search finds it by. */
const last4 = (display) => display.slice(-4);

export function openSearch(ctx) {
  let results;
  let ticket = 0;
  return openDialog({
    title: 'Search',
    wide: true,
    body: (close) => {
      const input = h('input', { type: 'search', name: 'q', autocomplete: 'off', spellcheck: 'false', placeholder: 'License key, customer email or name' });
      results = h('div', { class: 'search-results', 'aria-live': 'polite' });
      const go = (action) => { close(); action(); };
      const run = async () => {
        const q = input.value.trim();
        const mine = ++ticket;
        if (q.length < 2) { fill(results, h('p', { class: 'muted' }, 'Type at least two characters.')); return; }
        try {
          const [lic, cust] = await Promise.all([
            get(ctx.path(`/licenses${query({ q, limit: 8 })}`)),
            get(ctx.path(`/customers${query({ q, limit: 8 })}`)),
          ]);
          if (mine !== ticket) return;
          const licItems = lic.items.map((l) => h('li', {}, h('button', {
            type: 'button', class: 'result',
            onclick: () => go(() => (ctx.can('preview') ? preview(ctx, l) : ctx.navigate(`/admin/licenses${query({ q: last4(l.key_display) })}`))),
          }, h('code', {}, l.key_display), ' ', badge(l.status), ` ${l.product.name}${l.customer ? ` · ${l.customer.email}` : ''}`)));
          const custItems = cust.items.map((c) => h('li', {}, h('button', {
            type: 'button', class: 'result',
            onclick: () => go(() => ctx.navigate(`/admin/customers${query({ q: c.email })}`)),
          }, `${c.name} <${c.email}>`)));
          fill(results,
            h('h3', {}, `Licenses (${lic.total})`), licItems.length ? h('ul', { class: 'results' }, licItems) : h('p', { class: 'muted' }, 'No license matches.'),
            h('h3', {}, `Customers (${cust.total})`), custItems.length ? h('ul', { class: 'results' }, custItems) : h('p', { class: 'muted' }, 'No customer matches.'));
        } catch (e) {
          if (mine === ticket) fill(results, h('p', { role: 'alert' }, e.message));
        }
      };
      let t;
      input.addEventListener('input', () => { clearTimeout(t); t = setTimeout(run, 200); });
      // Enter takes the first result.
      const form = h('form', { role: 'search', onsubmit: async (e) => { e.preventDefault(); clearTimeout(t); await run(); results.querySelector('button.result')?.click(); } },
        field('Search this environment', input, 'Enter opens the first result; a full key finds exactly its license.'));
      return [form, results];
    },
  });
}
