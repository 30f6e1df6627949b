// API tokens of this environment, for programs (CI, a billing system): list, create (the secret
// is shown once, then only its digest is kept) and revoke. Admins only; the API refuses anyone
// else, and the page says so.
import { get, post, del } from '../api.js';
import { h, fill, field } from '../ui/dom.js';
import { confirmDialog, secretDialog } from '../ui/dialog.js';
import { time } from '../ui/format.js';
import { formDialog, roleSelect } from '../ui/form.js';
import { dataTable, empty } from '../ui/table.js';
import { toast } from '../ui/toast.js';

export const title = 'API tokens';

export async function render(main, ctx) {
  if (!ctx.can('administer')) {
    fill(main, h('h1', {}, 'API tokens'), empty(
      `Only an admin of ${ctx.env} can see and manage its API tokens; your role here is ${ctx.role}.`,
      'Ask an admin to create a token for your program, or to make you admin.'));
    return;
  }
  const reload = () => render(main, ctx);
  const results = h('section', { 'aria-labelledby': 'results-h', 'aria-busy': 'true' },
    h('h2', { id: 'results-h', class: 'visually-hidden' }, 'Tokens'), h('p', { role: 'status' }, 'Loading tokens…'));
  fill(main, h('h1', {}, 'API tokens'),
    h('div', { class: 'toolbar' },
      h('p', { class: 'muted' }, `Programs call the admin API of ${ctx.env} with “Authorization: Bearer <token>”. A token acts with its role, in this environment only.`),
      h('div', { class: 'buttons' }, h('button', { type: 'button', class: 'primary', onclick: () => create(ctx, reload) }, 'Create token'))),
    results);

  const list = await get(ctx.path('/tokens'));
  results.setAttribute('aria-busy', 'false');
  const heading = h('h2', { id: 'results-h', class: 'visually-hidden' }, 'Tokens');
  if (list.items.length === 0) {
    fill(results, heading, empty(`No API tokens in ${ctx.env}.`, 'Create one for each program that calls the admin API, so each can be revoked alone.'));
    return;
  }
  fill(results, heading, dataTable({
    label: 'Token table', className: 'people',
    columns: [
      ['Name', (t) => t.name],
      ['Role', (t) => t.role],
      ['Starts with', (t) => h('code', {}, `${t.prefix}…`)],
      ['Created', (t) => time(t.created_at)],
      ['Last used', (t) => (t.last_used_at ? time(t.last_used_at) : h('span', { class: 'muted' }, 'Never'))],
      ['Actions', (t) => h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke ${t.name}`, onclick: () => revoke(ctx, t, reload) }, 'Revoke')],
    ],
    items: list.items,
  }));
}

async function create(ctx, reload) {
  const name = h('input', { type: 'text', name: 'name', required: true, autocomplete: 'off', maxlength: 200 });
  const role = roleSelect('role', 'viewer');
  const created = await formDialog({
    title: 'Create token',
    intro: `A token for one program in ${ctx.env}. Give it the smallest role that does the job.`,
    fields: [field('Name', name, 'Unique, without “:”, e.g. billing-sync. It names the token in the audit log.'), field('Role', role)],
    submitLabel: 'Create token',
    submit: () => post(ctx.path('/tokens'), { name: name.value.trim(), role: role.value }),
  });
  if (!created) return;
  await secretDialog({
    title: `Token ${created.name} created`, label: 'Token', secret: created.token,
    note: 'Copy the token now: it is shown this once. Keysmith keeps only its digest, so it cannot show it again; if it is lost, revoke it and create another.',
  });
  reload();
}

async function revoke(ctx, t, reload) {
  const ok = await confirmDialog({
    title: `Revoke ${t.name}?`,
    message: `Programs using ${t.name} (${t.prefix}…) get 401 from now on. This cannot be undone; create a new token to restore access.`,
    confirm: 'Revoke token',
  });
  if (!ok) return;
  try {
    await del(ctx.path(`/tokens/${t.id}`));
    toast(`${t.name} revoked`);
    reload();
  } catch (e) { toast(e.message, 'error'); }
}
