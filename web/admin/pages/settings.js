// Settings (SPEC §3, §9, §12, §14) of the current environment: grace period, offline-file
// lifetime, expiring-soon reminders (fixed, shown for information), abuse detection, audit
// retention, re-authentication for reveal, and email (mail_templates.js). Admins save them (PUT
// replaces them all, so every field goes back, email included); everyone else reads.
import { get, put } from '../api.js';
import { h, fill, field, showError } from '../ui/dom.js';
import { checkbox, optionalNumber } from '../ui/form.js';
import { toast } from '../ui/toast.js';
import { emailSection } from './mail_templates.js';

export const title = 'Settings';

function numberInput(name, value, { min, max }) {
  return h('input', { type: 'number', name, min, max, step: 1, inputmode: 'numeric', value: value ?? '' });
}

function section(id, heading, intro, ...fields) {
  return h('fieldset', { class: 'settings-group', 'aria-describedby': intro ? `${id}-intro` : null },
    h('legend', {}, heading), intro ? h('p', { class: 'hint', id: `${id}-intro` }, intro) : null, fields);
}

export async function render(main, ctx) {
  const s = await get(ctx.path('/settings'));
  const editable = ctx.can('administer');
  const email = await emailSection(ctx, s, editable);
  const grace = numberInput('grace_period_days', s.grace_period_days, { min: 0, max: 30 });
  const ttl = numberInput('offline_file_ttl_seconds', s.offline_file_ttl_seconds, { min: 60, max: 604800 });
  const retention = numberInput('audit_retention_days', s.audit_retention_days, { min: 1, max: 36500 });
  const maxRefused = numberInput('abuse.max_refused_fingerprints', s.abuse.max_refused_fingerprints, { min: 1, max: 1000 });
  const windowMinutes = numberInput('abuse.refused_window_minutes', s.abuse.refused_window_minutes, { min: 1, max: 1440 });
  const maxIps = numberInput('abuse.max_ips_per_hour', s.abuse.max_ips_per_hour, { min: 1, max: 1000 });
  const maxChurn = numberInput('abuse.max_churn', s.abuse.max_churn, { min: 1, max: 1000 });
  const churnWindow = numberInput('abuse.churn_window_minutes', s.abuse.churn_window_minutes, { min: 1, max: 1440 });
  const reauth = checkbox('Ask for the password again before Reveal and Preview', {
    name: 'reveal_requires_reauth', checked: s.reveal_requires_reauth,
    hint: 'Revealing a full key or downloading an offline file from the console then needs the operator\'s password from the last 5 minutes. API tokens are exempt.',
  });

  const fields = h('fieldset', { class: 'plain', disabled: !editable },
    h('legend', { class: 'visually-hidden' }, `Settings of ${ctx.env}`),
    section('licenses', 'Licenses', null,
      field('Grace period (days)', grace, 'How long a license keeps validating after its expiry date before it becomes expired, e.g. 7–14 days to allow for payment processing delays. 0 to 30; 0 expires at once.'),
      field('Offline file lifetime (seconds)', ttl, 'How long an offline validation file from Preview stays valid: 60 (one minute) to 604800 (7 days); 86400 is 24 hours.')),
    section('reminders', 'Expiry reminders', null,
      h('p', {}, 'Keysmith emits a ', h('code', {}, 'license.expiring_soon'), ' event 30, 14 and 7 days before a license expires, once each, and emails the customer when the server has SMTP (the template is under Email below). These days are fixed. To tell your own systems, subscribe a webhook to this event on the ',
        h('a', { href: '/admin/webhooks', 'data-link': true }, 'Webhooks'), ' page.')),
    section('abuse', 'Abuse detection', 'A license that breaks a rule is suspended automatically (actor abuse-detector, the rule in its suspension reason). Leave a limit blank to turn its rule off.',
      field('Refused devices: at most', maxRefused, 'Suspend after more than this many different devices are refused for the activation limit within the window below. Blank: off.'),
      field('Refused devices: window (minutes)', windowMinutes, 'The window of the rule above. Blank: 60 minutes.'),
      field('Client IPs per hour: at most', maxIps, 'Suspend after more than this many different IP addresses validate one license within an hour (IPv6 counted per /64). Blank: off.'),
      field('Device churn: at most', maxChurn, 'Suspend after more than this many activations plus deactivations of one license within the window below: a key passed from machine to machine. 1 to 1000. Blank: off.'),
      field('Device churn: window (minutes)', churnWindow, 'The window of the churn rule: 1 to 1440 minutes. Blank: 60 minutes.')),
    section('security', 'Audit and security', null,
      field('Audit retention (days)', retention, 'Audit entries older than this are deleted once a day: 1 to 36500. 365 keeps a year.'),
      reauth.box));

  const form = h('form', {
    class: 'settings', novalidate: true, 'aria-labelledby': 'settings-h',
    onsubmit: async (e) => {
      e.preventDefault();
      if (!editable) return;
      const blank = [[grace, 'a number of days from 0 to 30'], [ttl, 'a number of seconds from 60 to 604800'], [retention, 'a number of days from 1 to 36500']]
        .find(([input]) => input.value.trim() === '');
      if (blank) { showError(form, { field: blank[0].name, message: `Enter ${blank[1]}.` }); return; }
      const button = form.querySelector('button[type=submit]');
      button.disabled = true;
      try {
        await put(ctx.path('/settings'), {
          grace_period_days: optionalNumber(grace),
          offline_file_ttl_seconds: optionalNumber(ttl),
          audit_retention_days: optionalNumber(retention),
          abuse: {
            max_refused_fingerprints: optionalNumber(maxRefused),
            refused_window_minutes: optionalNumber(windowMinutes),
            max_ips_per_hour: optionalNumber(maxIps),
            max_churn: optionalNumber(maxChurn),
            churn_window_minutes: optionalNumber(churnWindow),
          },
          reveal_requires_reauth: reauth.input.checked,
          ...email.values(),
        });
        toast('Settings saved');
        await render(main, ctx);
      } catch (err) {
        email.show(err);
        showError(form, err);
      } finally {
        button.disabled = false;
      }
    },
  }, fields, email.node, h('p', { class: 'form-error', role: 'alert' }),
  editable ? h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save settings')) : null);

  fill(main, h('h1', { id: 'settings-h' }, 'Settings'),
    h('p', {}, `These apply to the ${ctx.env} environment only.`),
    editable ? null : h('p', { class: 'warning', role: 'note' }, `Only admins change settings. Your role in ${ctx.env} is ${ctx.role}: you see them read-only.`),
    form);
}
