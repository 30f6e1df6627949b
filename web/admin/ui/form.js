// Forms in dialogs, the one way every page creates and edits things: labelled fields, the
// API's error next to the field it names (or under the form), the submit button busy while the
// request runs.
import { h, showError } from './dom.js';
import { openDialog } from './dialog.js';

/**
 * Opens a dialog with a form of `fields` (nodes, usually from `field()`). On submit,
 * `submit(form)` runs; what it returns closes the dialog and is what this resolves with. A
 * thrown API error stays in the dialog, next to its field. Dismissed: resolves `undefined`.
 */
export function formDialog({ title, intro, fields, submitLabel, danger = false, wide = false, submit }) {
  return openDialog({
    title, wide,
    body: (close) => {
      const button = h('button', { class: danger ? 'danger' : 'primary' }, submitLabel);
      const form = h('form', {
        novalidate: true,
        onsubmit: async (e) => {
          e.preventDefault();
          button.disabled = true;
          try { close(await submit(form)); } catch (err) { showError(form, err); } finally { button.disabled = false; }
        },
      }, intro ? h('p', {}, intro) : null, fields, h('p', { class: 'form-error', role: 'alert' }),
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => close(undefined) }, 'Cancel'), button));
      return form;
    },
  });
}

/** A checkbox with its label beside it, inside a `.field` box named `name` for errors. */
export function checkbox(label, { name, checked = false, hint } = {}) {
  const input = h('input', { type: 'checkbox', name, checked });
  const box = h('div', { class: 'field check', 'data-field': name || '' },
    h('label', { class: 'radio' }, input, label), hint ? h('p', { class: 'hint' }, hint) : null,
    h('p', { class: 'field-error', 'aria-live': 'polite' }));
  return { box, input };
}

/** The value of an optional number input: `null` when empty. */
export function optionalNumber(input) {
  return input.value.trim() === '' ? null : Number(input.value);
}
