// Operators (SPEC §11): the people who sign in to the console, across every environment. List,
// invite (a one-time set-password link, shown once), edit the name and the role per
// environment, disable or enable, and a new set-password link. Admins only: the API refuses
// anyone else, and the page says so. A change that would leave an environment without an admin
// is refused (LAST_ADMIN) with what to do instead.
import { get, post, patch } from '../api.js';
import { h, fill, field } from '../ui/dom.js';
import { confirmDialog, openDialog, secretDialog } from '../ui/dialog.js';
import { badge, time } from '../ui/format.js';
import { formDialog, roleSelect } from '../ui/form.js';
import { actionMenu, dataTable, empty } from '../ui/table.js';
import { toast } from '../ui/toast.js';

export const title = 'Operators';

/** The environments where the signed-in operator is admin: the only ones it may grant. */
const adminIn = (me) => new Set(me.environments.filter((e) => e.role === 'admin').map((e) => e.name));

const status = (op) => (op.disabled ? 'disabled' : op.password_set ? 'active' : 'invited');

const roleList = (roles) => (Object.keys(roles).length === 0
  ? h('span', { class: 'muted' }, 'No access')
  : h('ul', { class: 'roles' }, Object.entries(roles).map(([env, role]) => h('li', {}, `${env}: ${role}`))));

export async function render(main, ctx) {
  if (adminIn(ctx.me).size === 0) {
    fill(main, h('h1', {}, 'Operators'), empty(
      'Only an admin can see and manage operators.',
      'Ask an admin to invite someone, change a role or make a new set-password link.'));
    return;
  }
  const reload = () => render(main, ctx);
  const results = h('section', { 'aria-labelledby': 'results-h', 'aria-busy': 'true' },
    h('h2', { id: 'results-h', class: 'visually-hidden' }, 'Operators'), h('p', { role: 'status' }, 'Loading operators…'));
  fill(main, h('h1', {}, 'Operators'),
    h('div', { class: 'toolbar' },
      h('p', { class: 'muted' }, 'People who sign in to this console. Each has one role per environment, or no access to it.'),
      h('div', { class: 'buttons' }, h('button', { type: 'button', class: 'primary', onclick: () => invite(ctx, reload) }, 'Invite operator'))),
    results);

  const list = await get('/v1/operators');
  results.setAttribute('aria-busy', 'false');
  const self = ctx.me.operator.id;
  fill(results, h('h2', { id: 'results-h', class: 'visually-hidden' }, 'Operators'), dataTable({
    label: 'Operator table', className: 'people',
    columns: [
      ['Name', (op) => [op.name, op.id === self ? h('span', { class: 'muted' }, ' (you)') : null]],
      ['Email', (op) => op.email],
      ['Roles', (op) => roleList(op.roles)],
      ['Status', (op) => badge(status(op))],
      ['Two-factor', (op) => (op.totp_enabled ? 'On' : 'Off')],
      ['Last sign-in', (op) => (op.last_login_at ? time(op.last_login_at) : h('span', { class: 'muted' }, 'Never'))],
      ['Actions', (op) => actionMenu(`Actions for ${op.email}`, [
        ['Edit', () => edit(ctx, op, reload)],
        ['Reset password', () => resetPassword(op)],
        op.id === self ? null : op.disabled
          ? ['Enable', () => setDisabled(op, false, reload)]
          : ['Disable', () => setDisabled(op, true, reload), 'danger'],
      ].filter(Boolean))],
    ],
    items: list.items,
  }));
}

/**
 * A select per environment (`Role in production`, …) holding `current`; only environments where
 * the signed-in operator is admin can change. `roles()` is the whole map to send.
 */
function roleFields(ctx, current = {}, { onlyMine = false } = {}) {
  const mine = adminIn(ctx.me);
  const envs = [...new Set([...ctx.me.environments.map((e) => e.name), ...Object.keys(current)])]
    .filter((env) => !onlyMine || mine.has(env)).sort();
  const selects = envs.map((env) => {
    const select = roleSelect(`role-${env}`, current[env], { none: 'No access' });
    select.disabled = !mine.has(env);
    return [env, select];
  });
  return {
    node: h('fieldset', {}, h('legend', {}, 'Role per environment'),
      selects.map(([env, select]) => field(`Role in ${env}`, select, mine.has(env) ? null : `Only an admin of ${env} can change this.`))),
    roles: () => Object.fromEntries(selects.filter(([, s]) => s.value).map(([env, s]) => [env, s.value])),
  };
}

/** LAST_ADMIN names an environment: show the message beside that environment's role. */
function beside(e) {
  if (e.code === 'LAST_ADMIN' && e.body?.error?.environment) e.field = `role-${e.body.error.environment}`;
  return e;
}

function failed(title, e) {
  return openDialog({
    title, body: h('p', { role: 'alert' }, e.message),
    actions: (close) => [h('button', { type: 'button', 'data-autofocus': true, onclick: () => close() }, 'Close')],
  });
}

function showLink(title, op, url) {
  return secretDialog({
    title, label: 'Set-password link', secret: url,
    note: `Send this link to ${op.email} yourself. It is shown this once, works once and expires in 3 days; Reset password makes a new one.`,
  });
}

async function invite(ctx, reload) {
  const email = h('input', { type: 'email', name: 'email', required: true, autocomplete: 'off' });
  const name = h('input', { type: 'text', name: 'name', required: true, autocomplete: 'off' });
  const roles = roleFields(ctx, {}, { onlyMine: true });
  const created = await formDialog({
    title: 'Invite operator',
    intro: 'They get a link to choose their password; until then they cannot sign in.',
    fields: [field('Email', email), field('Name', name), roles.node],
    submitLabel: 'Invite',
    submit: () => post('/v1/operators', { email: email.value.trim(), name: name.value.trim(), roles: roles.roles() }),
  });
  if (!created) return;
  await showLink(`${created.name} invited`, created, created.set_password_url);
  reload();
}

async function edit(ctx, op, reload) {
  const name = h('input', { type: 'text', name: 'name', required: true, autocomplete: 'off', value: op.name });
  const roles = roleFields(ctx, op.roles);
  const saved = await formDialog({
    title: `Edit ${op.email}`,
    fields: [field('Name', name), roles.node],
    submitLabel: 'Save',
    submit: () => patch(`/v1/operators/${op.id}`, { name: name.value.trim(), roles: roles.roles() }).catch((e) => { throw beside(e); }),
  });
  if (!saved) return;
  toast(`${saved.email} saved`);
  // Your own roles changed: the whole console (environment switcher, permissions) follows.
  if (op.id === ctx.me.operator.id) location.reload(); else reload();
}

async function resetPassword(op) {
  const ok = await confirmDialog({
    title: `New set-password link for ${op.email}?`,
    message: 'Earlier links stop working. Their current password keeps working until they use the new link.',
    confirm: 'Make link', danger: false,
  });
  if (!ok) return;
  try {
    const { set_password_url: url } = await post(`/v1/operators/${op.id}/reset-password`);
    await showLink(`Set-password link for ${op.name}`, op, url);
  } catch (e) { await failed(`No link for ${op.email}`, e); }
}

async function setDisabled(op, disabled, reload) {
  const ok = await confirmDialog(disabled
    ? { title: `Disable ${op.email}?`, message: 'They are signed out everywhere now and cannot sign in until enabled again. Their audit history stays.', confirm: 'Disable operator' }
    : { title: `Enable ${op.email}?`, message: 'They can sign in again with their password.', confirm: 'Enable operator', danger: false });
  if (!ok) return;
  try {
    await patch(`/v1/operators/${op.id}`, { disabled });
    toast(`${op.email} ${disabled ? 'disabled' : 'enabled'}`);
    reload();
  } catch (e) { await failed(`${op.email} was not ${disabled ? 'disabled' : 'enabled'}`, e); }
}
