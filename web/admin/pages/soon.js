// Pages of SPEC §12 that come in the console's next part.
import { h, fill } from '../ui/dom.js';

export const title = 'Coming soon';

export function render(main, { title: label }) {
  fill(main, h('h1', {}, label || 'Page'),
    h('p', { class: 'empty' }, 'This page is coming in this release. Until then the admin API has everything it shows: see /openapi.json.'));
}
