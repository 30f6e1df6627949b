// The only place that calls fetch: the admin API with the session cookie, the CSRF header on
// every unsafe request, error codes turned into messages that say what to do, and
// REAUTH_REQUIRED turned into the re-authentication dialog (then the request is retried once).

let csrf = null;
let reauth = null;

export function setCsrf(token) { csrf = token; }
/** `fn()` asks for the password again; resolves true when re-authenticated. */
export function onReauthRequired(fn) { reauth = fn; }

const MESSAGES = {
  UNAUTHORIZED: 'Your session has ended. Sign in again.',
  FORBIDDEN: 'Your role in this environment does not allow this.',
  CSRF_FAILED: 'This page is out of date. Reload it and try again.',
  RATE_LIMITED: 'Too many attempts. Wait a moment and try again.',
  UNAVAILABLE: 'The server cannot reach its database right now. Try again shortly.',
  INTERNAL: 'Something went wrong on the server. The request id is in its log.',
};

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(MESSAGES[e.code] && !['RATE_LIMITED'].includes(e.code) ? MESSAGES[e.code] : (e.message || MESSAGES[e.code] || `Request failed (${status})`));
    this.status = status;
    this.code = e.code || String(status);
    this.field = e.field || null;
    this.requestId = e.request_id || null;
    this.body = body;
  }
}

/** A request; `body` is sent as JSON, or as it is with `contentType` (e.g. a CSV upload). */
export async function api(method, path, body, { retried = false, contentType = null } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = contentType || 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrf) headers['x-keysmith-csrf'] = csrf;
  const res = await fetch(path, {
    method, headers, credentials: 'same-origin', cache: 'no-store',
    body: body === undefined || contentType ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: { message: text } }; }
  if (res.ok) return data;
  const err = new ApiError(res.status, data);
  if (err.code === 'REAUTH_REQUIRED' && reauth && !retried && await reauth()) {
    return api(method, path, body, { retried: true, contentType });
  }
  if (err.code === 'UNAUTHORIZED' && !path.startsWith('/v1/auth/')) {
    window.dispatchEvent(new CustomEvent('keysmith:signed-out'));
  }
  throw err;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body);
export const patch = (path, body) => api('PATCH', path, body);
export const put = (path, body) => api('PUT', path, body);
export const del = (path) => api('DELETE', path);

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}
