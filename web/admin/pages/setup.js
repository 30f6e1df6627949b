// The one-time links: `/admin/setup#<secret>` creates the first admin and signs in;
// `/admin/set-password#<secret>` (an invitation or a reset) sets a password, then sign in.
// The secret stays in the fragment, which browsers never send to a server.
import { post } from '../api.js';
import { h, fill, field, showError } from '../ui/dom.js';

export const title = 'Set up';

export function render(main, { navigate, signedIn }) {
  const token = location.hash.slice(1);
  const first = location.pathname.endsWith('/setup');
  if (!token) {
    fill(main, h('div', { class: 'card narrow' }, h('h1', {}, 'This link is incomplete'),
      h('p', {}, first ? 'Open the full setup link that `keysmith serve` logged (it ends with #…), or run `keysmith operator create`.'
        : 'Open the full link you were sent (it ends with #…), or ask an admin for a new one.')));
    return;
  }
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const name = h('input', { type: 'text', name: 'name', autocomplete: 'name', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', required: true });
  const form = h('form', {
    class: 'card narrow',
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        if (first) {
          const me = await post('/v1/auth/setup', { token, email: email.value, name: name.value, password: password.value });
          await signedIn(me);
          history.replaceState(null, '', '/admin/');
          navigate('/admin/', { replace: true });
        } else {
          const op = await post('/v1/auth/set-password', { token, password: password.value });
          navigate(`/admin/login?email=${encodeURIComponent(op.email)}`, { replace: true });
        }
      } catch (err) {
        showError(form, err.code === 'LINK_INVALID' ? { message: `${err.message}. Ask for a new link.` } : err);
      }
    },
  },
  h('h1', {}, first ? 'Create the first admin' : 'Choose your password'),
  first ? [field('Email', email), field('Name', name)] : null,
  field('Password', password, 'At least 12 characters.'),
  h('p', { class: 'form-error', role: 'alert' }),
  h('div', { class: 'actions' }, h('button', { class: 'primary' }, first ? 'Create admin and sign in' : 'Set password')));
  fill(main, form);
  form.querySelector('input').focus();
}
