// Short confirmations that something happened, read out by screen readers.
import { h } from './dom.js';

let region;

export function toast(message, kind = 'ok') {
  if (!region) {
    region = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(region);
  }
  const t = h('p', { class: `toast toast-${kind}` }, message);
  region.append(t);
  setTimeout(() => t.remove(), 5000);
}
