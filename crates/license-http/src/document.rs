//! A service's rendered OpenAPI document, indexed by path: what `/openapi.json` serves, and the
//! one list of paths and methods the service answers (a known path asked with another method is
//! 405 with `Allow`, see `ops::not_found` and `error::path_error`).

/// A rendered OpenAPI document, and its paths with their methods: the one list of what the
/// service answers, so a known path asked with another method is 405 with `Allow`.
#[derive(Debug, Clone)]
pub struct OpenApiJson {
    pub(crate) json: String,
    /// Path templates split in segments (`{x}` matches any one segment), with their methods.
    paths: Vec<(Vec<String>, Vec<String>)>,
}

impl OpenApiJson {
    /// Indexes a rendered document.
    pub fn new(json: String) -> Self {
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        let paths = doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, item)| {
                let segments = path.split('/').map(str::to_owned).collect();
                let mut methods: Vec<String> = item
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(m, _)| m.to_uppercase())
                    .collect();
                methods.sort();
                (segments, methods)
            })
            .collect();
        Self { json, paths }
    }

    /// The methods of a path the document names with no template in its last segment (e.g.
    /// `/v1/{env}/licenses/export.csv`), when `path` is one.
    pub fn exact_methods(&self, path: &str) -> Option<&[String]> {
        let parts: Vec<&str> = path.split('/').collect();
        self.paths
            .iter()
            .find(|(segments, _)| {
                segments.len() == parts.len()
                    && segments.last().is_some_and(|s| !s.starts_with('{'))
                    && segments
                        .iter()
                        .zip(&parts)
                        .all(|(s, p)| s == p || (s.starts_with('{') && !p.is_empty()))
            })
            .map(|(_, methods)| methods.as_slice())
    }

    /// The methods the document gives `path`, when it has that path (concrete segments win
    /// over templates: `/licenses/export.csv` over `/licenses/{id}`).
    pub fn methods(&self, path: &str) -> Option<&[String]> {
        let parts: Vec<&str> = path.split('/').collect();
        self.paths
            .iter()
            .filter(|(segments, _)| {
                segments.len() == parts.len()
                    && segments
                        .iter()
                        .zip(&parts)
                        .all(|(s, p)| s == p || (s.starts_with('{') && !p.is_empty()))
            })
            .min_by_key(|(segments, _)| segments.iter().filter(|s| s.starts_with('{')).count())
            .map(|(_, methods)| methods.as_slice())
    }
}
