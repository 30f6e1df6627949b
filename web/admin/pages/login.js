// Sign-in: email and password, then the TOTP code when the operator has one.
import { post } from '../api.js';
import { h, fill, field, showError } from '../ui/dom.js';

export const title = 'Sign in';

export function render(main, { navigate, signedIn, params }) {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const totp = h('input', { type: 'text', name: 'totp', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9 ]{6,7}' });
  const totpField = field('Authenticator code', totp, 'The 6-digit code from your authenticator app.');
  totpField.hidden = true;
  const submit = h('button', { class: 'primary' }, 'Sign in');
  const form = h('form', {
    class: 'card narrow',
    onsubmit: async (e) => {
      e.preventDefault();
      submit.disabled = true;
      try {
        const body = { email: email.value, password: password.value };
        if (!totpField.hidden && totp.value) body.totp = totp.value;
        const me = await post('/v1/auth/login', body);
        await signedIn(me);
        const next = params.get('next');
        navigate(next && next.startsWith('/admin/') ? next : '/admin/', { replace: true });
      } catch (err) {
        if (err.code === 'TOTP_REQUIRED') {
          totpField.hidden = false;
          totp.required = true;
          totp.focus();
          showError(form, { message: err.message, field: 'totp' });
        } else {
          showError(form, err);
        }
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('h1', {}, 'Sign in to Keysmith'),
  field('Email', email), field('Password', password), totpField,
  h('p', { class: 'form-error', role: 'alert' }),
  h('div', { class: 'actions' }, submit));
  fill(main, form);
  email.focus();
}
