// Building DOM without innerHTML: text always goes in as text, so data from the API can never
// become markup.

/** `h('button', {class: 'x', onclick: fn, 'aria-label': 'Close'}, 'text', child, [more])` */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'selected' || k === 'disabled') el[k] = Boolean(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A labelled form field; `control` is an input, select or textarea with an id. */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const err = h('p', { class: 'field-error', id: `${id}-error`, 'aria-live': 'polite' });
  control.setAttribute('aria-describedby', `${id}-error`);
  return h('div', { class: 'field', 'data-field': control.name || '' },
    h('label', { for: id }, label), control, hint ? h('p', { class: 'hint' }, hint) : null, err);
}

/** Shows an API error next to the field it names (inside `form`), or in the form's message. */
export function showError(form, err) {
  // A confirmation still on screen ("Settings saved") would contradict the error.
  for (const t of document.querySelectorAll('.toast-ok')) t.remove();
  for (const e of form.querySelectorAll('.field-error')) e.textContent = '';
  for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
  const name = err.field || fieldFromMessage(err.message);
  // A nested field ("abuse.max_ips_per_hour") goes to its own box, else to its parent's.
  const box = name && [name, name.split('.')[0]].map((n) => form.querySelector(`[data-field="${CSS.escape(n)}"]`)).find(Boolean);
  if (box) {
    box.querySelector('.field-error').textContent = err.message;
    const control = box.querySelector('input, select, textarea');
    control?.setAttribute('aria-invalid', 'true');
    control?.focus();
    return;
  }
  const msg = form.querySelector('.form-error');
  if (msg) msg.textContent = err.message;
}

// 400 messages start with the field: "expires_at: must be an RFC 3339 time",
// "abuse.max_ips_per_hour: invalid value".
function fieldFromMessage(message) {
  const m = /^([a-z_]+(?:\.[a-z_]+)*): /.exec(message || '');
  return m ? m[1] : null;
}
