// Forms in dialogs, the one way every page creates and edits things: labelled fields, the
// API's error next to the field it names (or under the form), the submit button busy while the
// request runs.
import { h, field, showError } from './dom.js';
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

/**
 * A group of checkboxes under a legend, one `.field` box named `name` for the API's error about
 * the whole group. `options` are `[value, label]`; `values()` gives the checked values.
 */
export function checkboxGroup(legend, { name, options, checked = [], hint }) {
  const inputs = options.map(([value]) => h('input', { type: 'checkbox', name, value, checked: checked.includes(value) }));
  const box = h('fieldset', { class: 'field checks', 'data-field': name },
    h('legend', {}, legend), hint ? h('p', { class: 'hint' }, hint) : null,
    options.map(([, label], i) => h('label', { class: 'radio' }, inputs[i], label)),
    h('p', { class: 'field-error', 'aria-live': 'polite' }));
  return { box, inputs, values: () => inputs.filter((i) => i.checked).map((i) => i.value) };
}

/** The value of an optional number input: `null` when empty. */
export function optionalNumber(input) {
  return input.value.trim() === '' ? null : Number(input.value);
}

/** A JSON-object textarea named `name` (metadata, feature flags) in a labelled field. */
export function jsonField(name, label, value) {
  const area = h('textarea', { name, rows: 3, spellcheck: 'false' });
  area.value = JSON.stringify(value || {}, null, 0);
  return { node: field(label, area, 'A JSON object, e.g. {"pro": true}'), area };
}

/** The object in a `jsonField`; throws an error naming `name` when it is not a JSON object. */
export function jsonObject(area, name) {
  let v = null;
  try { v = JSON.parse(area.value || '{}'); } catch { /* reported below */ }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw Object.assign(new Error(`${name} must be a JSON object, e.g. {"pro": true}`), { field: name });
  }
  return v;
}

/** As `jsonObject`, but shows the error beside the field and answers `undefined`. */
export function parseJson(form, area, name) {
  try { return jsonObject(area, name); } catch (e) { showError(form, e); return undefined; }
}

/** The roles of SPEC §8 with what each may do, for tokens and operators alike. */
export const ROLES = [
  ['admin', 'Admin — everything, including tokens, settings and operators'],
  ['manager', 'Manager — products, generators, customers, licenses, export and import, reveal'],
  ['support', 'Support — read, assign, inactivate and reactivate, deactivate devices, preview'],
  ['viewer', 'Viewer — read only'],
];

/** A role <select> named `name`; `none` adds a first option meaning "no role" (value ''). */
export function roleSelect(name, value, { none } = {}) {
  return h('select', { name },
    none ? h('option', { value: '', selected: !value }, none) : null,
    ROLES.map(([role, label]) => h('option', { value: role, selected: role === value }, label)));
}
