// Tables, pagers, row menus and empty states, shared by every list page: the first column is the
// row's header (screen readers announce it with each cell), wide tables scroll inside their own
// region, and a row's actions sit in a keyboard-operable menu.
import { h } from './dom.js';
import { number } from './format.js';

/**
 * A table of `items`. `columns` are `[header, cell]` pairs where `cell(item)` returns the cell's
 * content; the first column is the row header. `label` names the scrolling region.
 */
export function dataTable({ label, columns, items, className = '', row = () => ({}) }) {
  return h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': label },
    h('table', { class: className },
      h('caption', { class: 'visually-hidden' }, label),
      h('thead', {}, h('tr', {}, columns.map(([header]) => h('th', { scope: 'col' }, header)))),
      h('tbody', {}, items.map((item) => h('tr', row(item), columns.map(([, cell], i) =>
        (i === 0 ? h('th', { scope: 'row' }, cell(item)) : h('td', {}, cell(item)))))))));
}

/** "Showing 51–100 of 1,234" with Previous and Next; `go(page)` changes the page. */
export function pager({ page, size, shown, total, go }) {
  const first = (page - 1) * size + 1;
  const last = first + shown - 1;
  const pages = Math.max(1, Math.ceil(total / size));
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    h('p', { role: 'status' }, total === 0 ? 'None' : `Showing ${number(first)}–${number(last)} of ${number(total)}`),
    h('button', { type: 'button', disabled: page <= 1, onclick: () => go(page - 1) }, 'Previous page'),
    h('span', {}, `Page ${page} of ${pages}`),
    h('button', { type: 'button', disabled: page >= pages, onclick: () => go(page + 1) }, 'Next page'));
}

/** The page number in `params` under `name` (1 when absent or nonsense). */
export function pageOf(params, name = 'page') {
  return Math.max(1, Number.parseInt(params.get(name) || '1', 10) || 1);
}

/** An empty state: what is missing and what to do next (`children`: text, links, buttons). */
export function empty(...children) {
  return h('div', { class: 'empty' }, children.map((c) => (typeof c === 'string' ? h('p', {}, c) : c)));
}

/**
 * The ⋮ menu of one row, labelled `label` ("Actions for ACME-…"). `items` are
 * `[text, run, kind?]`; `kind` 'danger' marks destructive ones. Arrow keys move, Esc closes.
 */
export function actionMenu(label, items) {
  if (items.length === 0) return h('span', { class: 'muted' }, '—');
  const menu = h('ul', { role: 'menu', class: 'menu', hidden: true });
  const button = h('button', {
    type: 'button', class: 'icon', 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-label': label,
    onclick: () => (menu.hidden ? open() : shut()),
  }, '⋮');
  const shut = () => { menu.hidden = true; button.setAttribute('aria-expanded', 'false'); };
  const open = () => {
    for (const other of document.querySelectorAll('.menu:not([hidden])')) other.hidden = true;
    menu.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    menu.querySelector('button')?.focus();
  };
  for (const [text, run, kind] of items) {
    menu.append(h('li', { role: 'none' }, h('button', {
      type: 'button', role: 'menuitem', class: kind || '',
      onclick: () => { shut(); run(); },
    }, text)));
  }
  menu.addEventListener('keydown', (e) => {
    const buttons = [...menu.querySelectorAll('button')];
    const i = buttons.indexOf(document.activeElement);
    if (e.key === 'Escape') { e.preventDefault(); shut(); button.focus(); }
    if (e.key === 'ArrowDown') { e.preventDefault(); buttons[(i + 1) % buttons.length].focus(); }
    if (e.key === 'ArrowUp') { e.preventDefault(); buttons[(i - 1 + buttons.length) % buttons.length].focus(); }
  });
  return h('div', { class: 'menu-wrap' }, button, menu);
}

/**
 * The search form of a list page (`/` focuses it): typing searches after a pause, replacing the
 * history entry; Enter searches at once. `go(q, {replace})` changes the URL.
 */
export function searchBox({ id, label, value, placeholder, go }) {
  const input = h('input', { id, type: 'search', name: 'q', value, placeholder, autocomplete: 'off', 'aria-keyshortcuts': '/' });
  let typing;
  input.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => go(input.value.trim(), { replace: true }), 300);
  });
  return h('form', { role: 'search', class: 'search', onsubmit: (e) => { e.preventDefault(); clearTimeout(typing); go(input.value.trim()); } },
    h('label', { for: id }, label), input);
}
