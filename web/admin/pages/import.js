// Import: bulk assignment from a CSV (`key` or `license_id`, `customer_email`, `customer_name`).
// First a dry run reports what each row would do; Apply runs the same file for real, all or
// nothing.
import { api } from '../api.js';
import { h, fill, field } from '../ui/dom.js';
import { number } from '../ui/format.js';
import { toast } from '../ui/toast.js';
import { dataTable } from '../ui/table.js';

export const title = 'Import';

const EXAMPLE = 'key,customer_email,customer_name\nACME-7K2D-…,ada@example.com,Ada Lovelace';

export function render(main, ctx) {
  if (!ctx.can('export')) {
    fill(main, h('h1', {}, 'Import'), h('p', {}, 'Importing assignments needs the manager or admin role in this environment.'));
    return;
  }
  let checked = null; // the text of the last dry run without errors
  const file = h('input', { type: 'file', name: 'file', accept: '.csv,text/csv' });
  const text = h('textarea', { name: 'body', rows: 8, spellcheck: 'false', placeholder: EXAMPLE });
  const report = h('section', { 'aria-labelledby': 'report-h', 'aria-live': 'polite' });
  const apply = h('button', { type: 'button', class: 'primary', disabled: true, onclick: () => run(false) }, 'Apply import');
  file.addEventListener('change', async () => { if (file.files[0]) { text.value = await file.files[0].text(); changed(); } });
  text.addEventListener('input', () => changed());
  const changed = () => { checked = null; apply.disabled = true; };
  const form = h('form', { class: 'card', onsubmit: (e) => { e.preventDefault(); run(true); } },
    h('p', {}, 'Assign many licenses at once. The first line names the columns: ', h('code', {}, 'key'), ' or ', h('code', {}, 'license_id'), ', ',
      h('code', {}, 'customer_email'), ', and optionally ', h('code', {}, 'customer_name'), '. Unknown customers are created.'),
    field('CSV file', file), field('Or paste the CSV', text),
    h('p', { class: 'form-error', role: 'alert' }),
    h('div', { class: 'actions' }, h('button', { class: '' }, 'Check (dry run)'), apply));

  async function run(dryRun) {
    const body = text.value;
    const msg = form.querySelector('.form-error');
    msg.textContent = '';
    if (!body.trim()) { msg.textContent = 'Choose a CSV file or paste its text first.'; return; }
    try {
      const r = await api('POST', ctx.path(`/licenses/import?dry_run=${dryRun}`), body, { contentType: 'text/csv' });
      checked = dryRun && r.errors === 0 ? body : null;
      apply.disabled = !checked;
      show(r);
      if (!dryRun) { toast(`Imported: ${number(r.assigned + r.reassigned)} licenses assigned`); apply.disabled = true; }
    } catch (e) {
      // Rows with errors answer 422 with the report itself.
      if (e.status === 422 && Array.isArray(e.body?.results)) { checked = null; apply.disabled = true; show(e.body); return; }
      msg.textContent = e.message;
    }
  }

  function show(r) {
    const summary = r.dry_run
      ? (r.errors ? `Dry run: ${number(r.errors)} of ${number(r.rows)} rows have errors. Fix them and check again; nothing is applied while any row fails.`
        : `Dry run: all ${number(r.rows)} rows are fine. Apply import to make these changes.`)
      : `Applied: ${number(r.assigned)} assigned, ${number(r.reassigned)} reassigned, ${number(r.unchanged)} unchanged, ${number(r.customers_created)} customers created.`;
    fill(report, h('h2', { id: 'report-h' }, r.dry_run ? 'Dry run report' : 'Import applied'),
      h('p', { role: 'status', class: r.errors ? 'verdict bad' : 'verdict ok' }, summary),
      dataTable({
        label: 'Rows', className: 'import-report',
        columns: [
          ['Line', (row) => String(row.line)],
          ['License', (row) => (row.key_display ? h('code', {}, row.key_display) : '—')],
          ['Customer', (row) => [row.customer_email, row.customer_created ? h('span', { class: 'muted' }, ' (new)') : null]],
          ['Result', (row) => (row.error ? h('span', { class: 'field-error' }, row.error) : row.action)],
        ],
        items: r.results,
        row: (row) => ({ class: row.error ? 'row-error' : null }),
      }));
  }

  fill(main, h('h1', {}, 'Import'), form, report);
}
