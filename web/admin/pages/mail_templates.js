// The Email part of Settings (SPEC §14): whether a license's key is mailed on assignment, and
// the template editor — one kind of email at a time (the kind in the URL), its placeholders, a
// preview rendered by the server with sample values, and Reset to default. The HTML preview is
// a sandboxed frame (no scripts, no same origin, the console's CSP), never markup in the page.
import { get, post } from '../api.js';
import { h, fill, field, showError } from '../ui/dom.js';
import { checkbox } from '../ui/form.js';
import { MAIL_KINDS } from '../ui/format.js';

const PARTS = ['subject', 'text', 'html'];
const same = (a, b) => PARTS.every((p) => a[p] === b[p]);

/**
 * The Email fieldset of settings `s`. `values()` gives `email_key_on_assign` and
 * `mail_templates` for the PUT (a template equal to the built-in one is left out: the default
 * applies); `show(err)` turns the editor to the kind an API error names, so the error lands
 * beside its field.
 */
export async function emailSection(ctx, s, editable) {
  const kinds = (await get(ctx.path('/mail/templates'))).items;
  const info = Object.fromEntries(kinds.map((k) => [k.kind, k]));
  const drafts = Object.fromEntries(kinds.map((k) => [k.kind, { ...(s.mail_templates?.[k.kind] || k.default) }]));
  // Read from the address itself: the editor changes `template` there without a new render.
  const asked = new URLSearchParams(location.search).get('template');
  const first = info[asked] ? asked : kinds[0].kind;
  let kind = null;

  const onAssign = checkbox('Email the license key to its customer when a license is assigned', {
    name: 'email_key_on_assign', checked: s.email_key_on_assign,
    hint: 'The full key goes to the customer\'s email address, the one place besides creation, remint and reveal where a key leaves Keysmith. Needs SMTP (KEYSMITH_SMTP_URL and KEYSMITH_MAIL_FROM on the server).',
  });
  onAssign.input.disabled = !editable;
  const select = h('select', { name: 'template_kind', onchange: () => turnTo(select.value) },
    kinds.map((k) => h('option', { value: k.kind }, MAIL_KINDS[k.kind] || k.kind)));
  const subject = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', readonly: !editable });
  const text = h('textarea', { rows: 9, spellcheck: 'false', readonly: !editable });
  const html = h('textarea', { rows: 9, spellcheck: 'false', readonly: !editable });
  const inputs = { subject, text, html };
  const boxes = {
    subject: field('Subject', subject, 'One line, at most 200 characters.'),
    text: field('Plain text', text),
    html: field('HTML', html, 'Values are escaped; the markup is yours. Mail programs show only part of HTML and CSS: keep it simple.'),
  };
  const placeholders = h('p', { class: 'hint placeholders', id: 'placeholders' });
  const state = h('p', { class: 'hint', role: 'status' });
  const preview = h('div', { class: 'mail-preview', 'aria-live': 'polite' });
  const previewButton = h('button', { type: 'button', onclick: () => showPreview() }, 'Preview');
  const reset = editable ? h('button', { type: 'button', onclick: () => { fillInputs(info[kind].default); subject.focus(); } }, 'Reset to default') : null;

  const node = h('fieldset', { class: 'settings-group', 'aria-describedby': 'email-intro' },
    h('legend', {}, 'Email'),
    h('p', { class: 'hint', id: 'email-intro' }, 'What Keysmith emails customers when the server has SMTP: expiry reminders, expired, suspended and revoked notices, portal sign-in links, and the key on assignment if you turn it on below.'),
    onAssign.box,
    h('div', { class: 'mail-editor' },
      h('h3', {}, 'Email templates'),
      field('Email', select, 'The template of this email is shown below. Save settings keeps the changes to every email at once.'),
      state, placeholders, boxes.subject, boxes.text, boxes.html,
      h('div', { class: 'actions start' }, previewButton, reset),
      preview));

  function fillInputs(t) {
    for (const p of PARTS) inputs[p].value = t[p];
    describe();
  }
  /** Whether the shown template is the built-in one. */
  function describe() {
    state.textContent = same(current(), info[kind].default)
      ? 'This email uses the built-in template.' : 'This email uses your own template.';
  }
  const current = () => Object.fromEntries(PARTS.map((p) => [p, inputs[p].value]));
  function turnTo(next) {
    const switching = kind !== null;
    if (switching) drafts[kind] = current();
    kind = next;
    select.value = kind;
    for (const p of PARTS) {
      inputs[p].name = `mail_templates.${kind}.${p}`;
      inputs[p].removeAttribute('aria-invalid');
      boxes[p].dataset.field = inputs[p].name;
      boxes[p].querySelector('.field-error').textContent = '';
    }
    fill(placeholders, 'Placeholders you can use: ',
      info[kind].placeholders.map((name, i) => [i ? ', ' : '', h('code', {}, `{{ ${name} }}`)]), '.');
    fill(preview);
    fillInputs(drafts[kind]);
    if (!switching) return;
    const url = new URL(location.href);
    url.searchParams.set('template', kind);
    history.replaceState(null, '', url);
  }
  for (const p of PARTS) inputs[p].addEventListener('input', describe);

  async function showPreview() {
    const form = node.closest('form');
    previewButton.disabled = true;
    try {
      const r = await post(ctx.path('/mail/preview'), { kind, template: current() });
      showError(form, { message: '' });
      fill(preview,
        h('h4', {}, 'Preview with sample values'),
        h('dl', { class: 'details' }, h('dt', {}, 'Subject'), h('dd', { class: 'preview-subject' }, r.subject)),
        h('h5', {}, 'Plain text'),
        h('pre', { class: 'mail-text', tabindex: 0, 'aria-label': 'Plain-text version' }, r.text),
        h('h5', {}, 'HTML'),
        h('iframe', { class: 'mail-html', sandbox: true, srcdoc: r.html, title: 'HTML version' }));
    } catch (err) {
      fill(preview);
      showError(form, err);
    } finally {
      previewButton.disabled = false;
    }
  }

  turnTo(first);
  return {
    node,
    values() {
      drafts[kind] = current();
      const templates = {};
      for (const k of kinds) if (!same(drafts[k.kind], k.default)) templates[k.kind] = drafts[k.kind];
      return { email_key_on_assign: onAssign.input.checked, mail_templates: templates };
    },
    show(err) {
      const m = /^mail_templates\.([a-z_]+)\./.exec(err.field || err.message || '');
      if (m && info[m[1]] && m[1] !== kind) turnTo(m[1]);
    },
  };
}
