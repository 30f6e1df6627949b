// Modal dialogs on the native <dialog>: the page behind is inert, Tab stays inside, Esc closes,
// and focus returns to what opened it. State lives in the URL where it matters (see app.js).
import { h } from './dom.js';

/**
 * Opens a modal titled `title` with `body` (nodes) and `actions` (buttons). Resolves with the
 * value passed to `close(value)`, or `undefined` when dismissed.
 */
export function openDialog({ title, body, actions = [], wide = false, onOpen }) {
  const opener = document.activeElement;
  return new Promise((resolve) => {
    let result;
    const dlg = h('dialog', { class: wide ? 'dialog wide' : 'dialog', 'aria-labelledby': 'dialog-title' });
    const close = (value) => { result = value; dlg.close(); };
    const closeButton = h('button', { type: 'button', class: 'icon close', 'aria-label': 'Close dialog', onclick: () => close(undefined) }, '×');
    dlg.append(
      h('header', {}, h('h2', { id: 'dialog-title' }, title), closeButton),
      h('div', { class: 'dialog-body' }, typeof body === 'function' ? body(close) : body),
      actions.length ? h('footer', {}, typeof actions === 'function' ? actions(close) : actions) : null,
    );
    dlg.addEventListener('close', () => {
      dlg.remove();
      if (opener && opener.isConnected) opener.focus();
      resolve(result);
    });
    document.body.append(dlg);
    dlg.showModal();
    const first = dlg.querySelector('input, select, textarea, [data-autofocus]');
    (first || closeButton).focus();
    onOpen?.(dlg, close);
  });
}

/** Asks to confirm a destructive action; resolves true when confirmed. */
export function confirmDialog({ title, message, confirm = 'Confirm', danger = true }) {
  return openDialog({
    title,
    body: h('p', {}, message),
    actions: (close) => [
      h('button', { type: 'button', onclick: () => close(false) }, 'Cancel'),
      h('button', { type: 'button', class: danger ? 'danger' : 'primary', 'data-autofocus': true, onclick: () => close(true) }, confirm),
    ],
  }).then(Boolean);
}

/**
 * Shows a secret once (a key, a link) with a copy button and a warning that it will not be shown
 * again; `details` (nodes) follow the secret, e.g. how to use it.
 */
export function secretDialog({ title, label, secret, note, details }) {
  const out = h('output', { class: 'secret', 'aria-label': label }, secret);
  const copy = h('button', {
    type: 'button', class: 'primary', 'data-autofocus': true,
    onclick: async () => {
      try { await navigator.clipboard.writeText(secret); copy.textContent = 'Copied'; } catch { copy.textContent = 'Select and copy it by hand'; }
    },
  }, `Copy ${label.toLowerCase()}`);
  return openDialog({
    title,
    body: [h('p', { class: 'warning' }, note || 'Copy it now: it is shown this once.'), h('p', {}, h('strong', {}, label)), out, details || null],
    actions: (close) => [copy, h('button', { type: 'button', onclick: () => close() }, 'Done')],
  });
}
