//! The admin console (SPEC §12) at `/admin/`: static files embedded in the binary (no CDN, no
//! build step, works air-gapped), served with a strict CSP and `X-Frame-Options: DENY`. Any
//! path that is not a file answers the page shell, so deep links (`/admin/licenses?status=…`)
//! work. The console is a client of the admin API and nothing else. Anyone may fetch it: it
//! holds no data.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

/// The console's files, by path under `/admin/`, with their content types. A test checks that
/// every file of `web/admin/` is listed here.
macro_rules! assets {
    ($($path:literal => $mime:literal),* $(,)?) => {
        /// Every embedded file: (path under `/admin/`, content type, bytes).
        pub const ASSETS: &[(&str, &str, &[u8])] = &[
            $(($path, $mime, include_bytes!(concat!("../../../web/admin/", $path)))),*
        ];
    };
}

assets! {
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "app.js" => "text/javascript; charset=utf-8",
    "api.js" => "text/javascript; charset=utf-8",
    "ui/dom.js" => "text/javascript; charset=utf-8",
    "ui/dialog.js" => "text/javascript; charset=utf-8",
    "ui/format.js" => "text/javascript; charset=utf-8",
    "ui/toast.js" => "text/javascript; charset=utf-8",
    "ui/form.js" => "text/javascript; charset=utf-8",
    "ui/table.js" => "text/javascript; charset=utf-8",
    "pages/login.js" => "text/javascript; charset=utf-8",
    "pages/setup.js" => "text/javascript; charset=utf-8",
    "pages/account.js" => "text/javascript; charset=utf-8",
    "pages/dashboard.js" => "text/javascript; charset=utf-8",
    "pages/licenses.js" => "text/javascript; charset=utf-8",
    "pages/license_dialogs.js" => "text/javascript; charset=utf-8",
    "pages/customers.js" => "text/javascript; charset=utf-8",
    "pages/customer.js" => "text/javascript; charset=utf-8",
    "pages/audit.js" => "text/javascript; charset=utf-8",
    "pages/tokens.js" => "text/javascript; charset=utf-8",
    "pages/operators.js" => "text/javascript; charset=utf-8",
    "pages/webhooks.js" => "text/javascript; charset=utf-8",
    "pages/webhook_deliveries.js" => "text/javascript; charset=utf-8",
    "pages/settings.js" => "text/javascript; charset=utf-8",
    "pages/mail_templates.js" => "text/javascript; charset=utf-8",
    "pages/not_found.js" => "text/javascript; charset=utf-8",
    "pages/products.js" => "text/javascript; charset=utf-8",
    "pages/generators.js" => "text/javascript; charset=utf-8",
    "pages/jobs.js" => "text/javascript; charset=utf-8",
    "pages/import.js" => "text/javascript; charset=utf-8",
    "pages/activations.js" => "text/javascript; charset=utf-8",
    "pages/search.js" => "text/javascript; charset=utf-8",
}

/// The console's Content-Security-Policy: only its own files, no inline script or style, no
/// framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn secure(mut res: HttpResponse) -> HttpResponse {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The files change only with the binary; revalidating is cheap and never serves a stale
    // console after an upgrade.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

fn asset(
    assets: &'static [(&str, &str, &[u8])],
    path: &str,
) -> Option<(&'static str, &'static [u8])> {
    assets
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, mime, bytes)| (*mime, *bytes))
}

/// A file of `assets`, or the page shell (`index.html`) for any other path that does not look
/// like a file, with the console's security headers. Shared with the portal.
pub(crate) fn serve_from(assets: &'static [(&str, &str, &[u8])], path: &str) -> HttpResponse {
    let found = asset(assets, path).or_else(|| {
        // A missing script or stylesheet is a 404, not the shell (which would fail to parse).
        let looks_like_file = path.rsplit('/').next().is_some_and(|s| s.contains('.'));
        (!looks_like_file)
            .then(|| asset(assets, "index.html"))
            .flatten()
    });
    let res = match found {
        Some((mime, bytes)) => HttpResponse::Ok().content_type(mime).body(bytes),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("not found"),
    };
    secure(res)
}

/// `GET /admin/{path}`: a file, or the page shell for any other path (a page of the console).
pub async fn serve(req: HttpRequest) -> HttpResponse {
    serve_from(ASSETS, req.match_info().get("path").unwrap_or_default())
}

/// A permanent redirect to `location` with the console's headers (`/admin` → `/admin/`).
pub(crate) fn redirect_to(location: &'static str) -> HttpResponse {
    secure(
        HttpResponse::PermanentRedirect()
            .insert_header((header::LOCATION, location))
            .finish(),
    )
}

async fn redirect() -> HttpResponse {
    redirect_to("/admin/")
}

/// Routes of the console.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(redirect))
        .route("/admin/{path:.*}", web::get().to(serve));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_web_admin_is_embedded() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/admin");
        let mut stack = vec![std::path::PathBuf::from(root)];
        let mut files = Vec::new();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let p = entry.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p
                        .strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/");
                    files.push(rel);
                }
            }
        }
        for f in &files {
            assert!(
                asset(ASSETS, f).is_some(),
                "web/admin/{f} is not listed in console::ASSETS"
            );
        }
        assert_eq!(files.len(), ASSETS.len());
    }
}
