// The signed-in operator's account: password change (ends the other sessions) and TOTP.
import { post } from '../api.js';
import { h, fill, field, showError } from '../ui/dom.js';
import { toast } from '../ui/toast.js';

export const title = 'Account';

export function render(main, ctx) {
  const op = ctx.me.operator;
  const current = h('input', { type: 'password', name: 'current_password', autocomplete: 'current-password', required: true });
  const next = h('input', { type: 'password', name: 'new_password', autocomplete: 'new-password', required: true });
  const pwForm = h('form', {
    class: 'card',
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        await post('/v1/auth/password', { current_password: current.value, new_password: next.value });
        pwForm.reset();
        toast('Password changed. Your other sessions were signed out.');
      } catch (err) { showError(pwForm, err.code === 'INVALID_CREDENTIALS' ? { message: 'That is not your current password.', field: 'current_password' } : err); }
    },
  }, h('h2', {}, 'Password'), field('Current password', current), field('New password', next, 'At least 12 characters.'),
  h('p', { class: 'form-error', role: 'alert' }), h('div', { class: 'actions' }, h('button', { class: 'primary' }, 'Change password')));

  const totpBox = h('section', { class: 'card', 'aria-labelledby': 'totp-h' });
  const renderTotp = (enabled) => {
    if (enabled) {
      const pw = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
      const form = h('form', {
        onsubmit: async (e) => {
          e.preventDefault();
          try { await post('/v1/auth/totp', { action: 'remove', password: pw.value }); toast('Two-factor sign-in is off.'); renderTotp(false); } catch (err) { showError(form, { ...err, field: 'password' }); }
        },
      }, field('Password', pw), h('p', { class: 'form-error', role: 'alert' }), h('div', { class: 'actions' }, h('button', { class: 'danger' }, 'Turn off two-factor sign-in')));
      fill(totpBox, h('h2', { id: 'totp-h' }, 'Two-factor sign-in'), h('p', {}, 'On: sign-in asks for a code from your authenticator app.'), form);
      return;
    }
    const start = h('button', {
      type: 'button', class: 'primary',
      onclick: async () => {
        const enrol = await post('/v1/auth/totp', { action: 'enroll' });
        const code = h('input', { type: 'text', name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', required: true });
        const form = h('form', {
          onsubmit: async (e) => {
            e.preventDefault();
            try { await post('/v1/auth/totp', { action: 'confirm', code: code.value }); toast('Two-factor sign-in is on.'); renderTotp(true); } catch (err) { showError(form, err); }
          },
        }, h('p', {}, 'Add this secret to your authenticator app (or open the link on your phone), then enter the code it shows.'),
        h('p', {}, h('strong', {}, 'Secret: '), h('code', { class: 'secret' }, enrol.secret)),
        h('p', {}, h('a', { href: enrol.otpauth_url }, 'Open in authenticator app')),
        field('Code from the app', code), h('p', { class: 'form-error', role: 'alert' }),
        h('div', { class: 'actions' }, h('button', { class: 'primary' }, 'Turn on')));
        fill(totpBox, h('h2', { id: 'totp-h' }, 'Two-factor sign-in'), form);
        code.focus();
      },
    }, 'Set up two-factor sign-in');
    fill(totpBox, h('h2', { id: 'totp-h' }, 'Two-factor sign-in'), h('p', {}, 'Off. Add a code from an authenticator app to every sign-in.'), start);
  };
  renderTotp(op.totp_enabled);
  fill(main, h('h1', {}, 'Account'),
    h('p', {}, `${op.name} <${op.email}>`),
    h('ul', { class: 'roles' }, ctx.me.environments.map((e) => h('li', {}, `${e.name}: ${e.role}`))),
    pwForm, totpBox);
}
