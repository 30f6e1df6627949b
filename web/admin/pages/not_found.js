// Any address under /admin/ that is no page of the console.
import { h, fill } from '../ui/dom.js';

export const title = 'Page not found';

export function render(main) {
  fill(main, h('h1', {}, 'Page not found'),
    h('p', {}, 'There is no console page at this address. It may have been mistyped, or bookmarked from another version.'),
    h('p', {}, h('a', { href: '/admin/', 'data-link': true }, 'Go to the dashboard'), ' or choose a page from the navigation.'));
}
