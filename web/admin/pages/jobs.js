// Background jobs: bulk minting with live progress (polled every half second while it runs),
// errors, who started it, and the one-time download of a completed job's keys.
import { get, query } from '../api.js';
import { h, fill } from '../ui/dom.js';
import { confirmDialog } from '../ui/dialog.js';
import { badge, number, time } from '../ui/format.js';
import { toast } from '../ui/toast.js';
import { dataTable, empty, pager, pageOf } from '../ui/table.js';

export const title = 'Background jobs';

const PAGE = 50;
const RUNNING = new Set(['queued', 'running']);

const percent = (j) => (j.total ? Math.floor((100 * j.done) / j.total) : 100);

function progress(j) {
  return h('span', { class: 'progress' },
    h('progress', { max: j.total || 1, value: j.done, 'aria-label': `Progress of job ${j.id.slice(0, 8)}` }),
    ` ${number(j.done)} of ${number(j.total)} (${percent(j)}%)`);
}

export async function render(main, ctx) {
  const page = pageOf(ctx.params);
  const open = ctx.params.get('job');
  const panel = h('section', { 'aria-labelledby': 'job-h' });
  const listBox = h('section', { 'aria-labelledby': 'jobs-h' }, h('h2', { id: 'jobs-h' }, 'All jobs'), h('p', { role: 'status' }, 'Loading jobs…'));
  fill(main, h('h1', {}, 'Background jobs'), open ? panel : null, listBox);
  const refresh = () => drawList(ctx, listBox, page, open);
  if (open) watch(ctx, panel, open, refresh);
  await refresh();
}

/** The list of jobs (drawn again when the open job ends or its keys are taken). */
async function drawList(ctx, listBox, page, open) {
  const list = await get(ctx.path(`/jobs${query({ limit: PAGE, offset: (page - 1) * PAGE })}`));
  fill(listBox, h('h2', { id: 'jobs-h' }, 'All jobs'), list.total === 0
    ? empty('No jobs yet. Start one with "Generate licenses" on the Generators page.', h('a', { href: '/admin/generators', 'data-link': true }, 'Go to Generators'))
    : [dataTable({
      label: `Jobs (${list.total})`,
      columns: [
        ['Job', (j) => h('a', { href: `/admin/jobs?job=${j.id}`, 'data-link': true }, `${j.kind} ${j.id.slice(0, 8)}`)],
        ['Status', (j) => badge(j.status)],
        ['Progress', progress],
        ['Error', (j) => j.error || h('span', { class: 'muted' }, '—')],
        ['Started by', (j) => j.created_by],
        ['Started', (j) => time(j.created_at)],
        ['Keys', (j) => (j.kind !== 'mint' ? '—' : j.keys_downloaded ? 'Downloaded' : j.status === 'completed' ? 'Ready to download' : '—')],
      ],
      items: list.items,
    }), pager({ page, size: PAGE, shown: list.items.length, total: list.total, go: (p) => ctx.setParams({ job: open, page: p }) })]);
}

/** The open job: progress until it ends, then its outcome and the keys download. */
async function watch(ctx, panel, id, refresh) {
  let job;
  try { job = await get(ctx.path(`/jobs/${id}`)); } catch (e) {
    fill(panel, h('h2', { id: 'job-h' }, 'Job'), h('p', { role: 'alert' }, e.message));
    return;
  }
  const status = h('p', { role: 'status', 'aria-live': 'polite' });
  const body = h('div', { class: 'card job' });
  fill(panel, h('h2', { id: 'job-h' }, `Job ${job.id.slice(0, 8)}: ${job.kind} of ${number(job.total)} licenses`), body);
  const draw = (changed) => {
    if (changed) refresh();
    fill(status, job.status === 'completed' ? `Completed: ${number(job.done)} licenses minted.`
      : job.status === 'failed' ? `Failed after ${number(job.done)} of ${number(job.total)}: ${job.error || 'see the server log'}.`
        : `${job.status === 'queued' ? 'Queued' : 'Minting'}… ${percent(job)}%`);
    fill(body, h('p', {}, badge(job.status), ' ', progress(job)), status,
      h('p', { class: 'muted' }, `Started by ${job.created_by}, `, time(job.created_at)),
      job.kind === 'mint' && job.status === 'completed' ? keys(ctx, job, () => draw(true)) : null);
  };
  draw();
  while (RUNNING.has(job.status) && panel.isConnected && new URLSearchParams(location.search).get('job') === id) {
    await new Promise((r) => setTimeout(r, 500));
    try { job = await get(ctx.path(`/jobs/${id}`)); } catch { continue; }
    if (panel.isConnected) draw(!RUNNING.has(job.status));
  }
}

function keys(ctx, job, redraw) {
  if (job.keys_downloaded) {
    return h('p', {}, 'The keys were downloaded already. They are handed out once; Reveal on a license shows one key again (with re-authentication if the environment asks for it).');
  }
  const button = h('button', {
    type: 'button', class: 'primary',
    onclick: async () => {
      const ok = await confirmDialog({
        title: 'Download the keys now?',
        message: `This is the only time these ${number(job.total)} keys can be downloaded in full. Save the file somewhere safe before you leave this page.`,
        confirm: 'Download keys CSV', danger: false,
      });
      if (!ok) return;
      button.disabled = true;
      const res = await fetch(ctx.path(`/jobs/${job.id}/keys.csv`), { credentials: 'same-origin', cache: 'no-store' });
      if (!res.ok) {
        const body = await res.json().catch(() => null);
        toast(body?.error?.message || `Download failed (${res.status})`, 'error');
        job.keys_downloaded = res.status === 410;
        button.disabled = false;
        redraw();
        return;
      }
      const blob = await res.blob();
      const a = h('a', { href: URL.createObjectURL(blob), download: `job-${job.id}-keys.csv`, hidden: true });
      document.body.append(a);
      a.click();
      setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
      job.keys_downloaded = true;
      toast(`Downloaded ${number(job.total)} keys`);
      redraw();
    },
  }, 'Download keys CSV');
  return h('div', {}, h('p', { class: 'warning' }, 'Download the keys once: after this the full keys are never shown in bulk again.'), ctx.can('manage') ? button : h('p', {}, 'A manager or admin can download them.'));
}
