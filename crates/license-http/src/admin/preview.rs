//! The preview of a license (`GET /licenses/{id}/preview`): the license, its newest activations
//! (one history page, with the cursor for the rest), a signed offline validation file (SPEC §6)
//! when the license would validate now, and code samples that call this deployment's validation
//! API with the masked key as a placeholder.

use actix_web::web::{self, Json};
use license_store::model::{Activation, LicenseView};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::activations::DEFAULT_HISTORY_PAGE;
use super::query::{IdPath, bad};
use crate::auth::{Caller, Permission as P};
use crate::error::ApiError;
use crate::public::{self, OfflineFile};
use crate::respond::{BadRequest, Denied, NotFound};

/// Code that validates this license from a customer's program, in four languages.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CodeSamples {
    curl: String,
    php: String,
    javascript: String,
    python: String,
}

/// `GET /licenses/{id}/preview`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preview {
    license: LicenseView,
    /// The newest activations: the first page of `GET /licenses/{id}/activations`.
    activations: Vec<Activation>,
    /// How many activations the license ever had.
    activations_total: i64,
    /// The cursor for the rest of the history (`GET /licenses/{id}/activations?cursor=`), or
    /// null when `activations` is all of it.
    activations_next_cursor: Option<String>,
    /// None when the license would not validate now.
    offline_file: Option<OfflineFile>,
    /// Why there is no offline file: the validation code the license would get (`REVOKED`, ...).
    offline_file_refused: Option<&'static str>,
    code_samples: CodeSamples,
}

fn samples(base: &str, env: &str, key_placeholder: &str) -> CodeSamples {
    let url = format!("{base}/v1/{env}/validate");
    CodeSamples {
        curl: format!(
            "curl -s -X POST '{url}' \\\n  -H 'content-type: application/json' \\\n  -d '{{\"key\":\"{key_placeholder}\",\"fingerprint\":\"<device id>\"}}'"
        ),
        php: format!(
            "<?php\n$ch = curl_init('{url}');\ncurl_setopt_array($ch, [\n  CURLOPT_POST => true,\n  CURLOPT_RETURNTRANSFER => true,\n  CURLOPT_HTTPHEADER => ['Content-Type: application/json'],\n  CURLOPT_POSTFIELDS => json_encode(['key' => '{key_placeholder}', 'fingerprint' => '<device id>']),\n]);\n$result = json_decode(curl_exec($ch), true);\n$valid = $result['valid'] ?? false;\n"
        ),
        javascript: format!(
            "const res = await fetch('{url}', {{\n  method: 'POST',\n  headers: {{ 'Content-Type': 'application/json' }},\n  body: JSON.stringify({{ key: '{key_placeholder}', fingerprint: '<device id>' }}),\n}});\nconst result = await res.json();\nconst valid = result.valid === true;\n"
        ),
        python: format!(
            "import requests\n\nresult = requests.post(\n    \"{url}\",\n    json={{\"key\": \"{key_placeholder}\", \"fingerprint\": \"<device id>\"}},\n    timeout=10,\n).json()\nvalid = result.get(\"valid\", False)\n"
        ),
    }
}

/// Query of the preview: bind the offline file to one device.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreviewQuery {
    /// The device fingerprint the offline file is for (its lease then holds `fp`).
    #[param(max_length = 255, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    fingerprint: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/{env}/licenses/{id}/preview",
    summary = "License, its newest activations (one page; activations_next_cursor continues in /activations), a signed offline file (audited; bound to `fingerprint` when given) and code samples",
    tag = "admin",
    params(IdPath, PreviewQuery),
    responses((status = 200, description = "OK", body = Preview), BadRequest, NotFound, Denied),
    security(("bearer" = []), ("session" = []))
)]
pub(crate) async fn preview(
    caller: Caller,
    path: web::Path<IdPath>,
    q: web::Query<PreviewQuery>,
    state: web::Data<crate::AppState>,
) -> Result<Json<Preview>, ApiError> {
    caller.require(P::Preview)?;
    caller.require_recent_password(state.clock.now()).await?;
    let fingerprint = match q.into_inner().fingerprint.filter(|f| !f.is_empty()) {
        Some(f) => Some(
            license_core::Fingerprint::new(&f)
                .map_err(|_| bad("fingerprint", "must be 1-255 printable characters"))?,
        ),
        None => None,
    };
    let (env, id, actor) = (caller.env.clone(), path.id, caller.actor.clone());
    let (view, activations, offline) = web::block(move || -> Result<_, ApiError> {
        let view = env.store().license(id)?;
        let activations = env
            .store()
            .license_activations(id, DEFAULT_HISTORY_PAGE, None)?;
        let fp = fingerprint.as_ref().map(license_core::Fingerprint::as_str);
        let offline = public::offline_file(&env, &view, fp, &actor, OffsetDateTime::now_utc())?;
        Ok((view, activations, offline))
    })
    .await??;
    let code_samples = samples(
        &state.public_validation_url,
        caller.env.name(),
        &view.license.key_display,
    );
    let (offline_file, offline_file_refused) = match offline {
        Ok(file) => (Some(file), None),
        Err(code) => (None, Some(code)),
    };
    Ok(Json(Preview {
        license: view,
        activations: activations.items,
        activations_total: activations.total,
        activations_next_cursor: activations.next_cursor,
        offline_file,
        offline_file_refused,
        code_samples,
    }))
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/licenses/{id}/preview", web::get().to(preview));
}
