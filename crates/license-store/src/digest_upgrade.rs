//! Re-digesting keys written by releases before the HMAC digest (SPEC §5): every license whose
//! `key_digest_version` is below [`DIGEST_VERSION`] gets its digest recomputed from its sealed
//! key (HMAC-SHA-256 under the environment's digest key) and its display form rewritten to the
//! masked form. Runs when a store opens (so `keysmith migrate` and every start do it) before
//! anything is served: batched (one short write transaction per batch, walking the primary
//! key), resumable after a kill (a batch commits whole or not at all, and done rows are
//! skipped), idempotent (the update applies only to rows still on the old version, so two
//! instances upgrading at once agree).

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use license_core::KeyFormat;
use license_core::digest::DIGEST_VERSION;

use crate::Store;
use crate::error::{StoreError, StoreResult};
use crate::model::parse_id;
use crate::schema::{generators, licenses, products};

/// Licenses per batch: each batch is one write transaction.
pub const BATCH: i64 = 500;

impl Store {
    /// Re-digests licenses still on an older digest version, `batch` per transaction, for at
    /// most `max_batches` batches (all when `None`). Returns how many rows it upgraded.
    pub fn upgrade_key_digests(&self, batch: i64, max_batches: Option<usize>) -> StoreResult<u64> {
        let mut done = 0u64;
        let mut after = String::new();
        let mut batches = 0usize;
        let old_version = format!("licenses.key_digest_version < {DIGEST_VERSION}");
        loop {
            if max_batches.is_some_and(|m| batches >= m) {
                return Ok(done);
            }
            let page: Vec<(String, Vec<u8>, String, String)> = self.conn()?.read(|c| {
                Ok(licenses::table
                    .inner_join(generators::table.inner_join(products::table))
                    .filter(licenses::id.gt(&after))
                    // Written out (not bound) so both planners use the partial index
                    // `licenses_old_digests` instead of scanning every license at each start.
                    .filter(sql::<Bool>(&old_version))
                    .select((
                        licenses::id,
                        licenses::key_ciphertext,
                        generators::format,
                        products::code,
                    ))
                    .order(licenses::id.asc())
                    .limit(batch)
                    .load(c)?)
            })?;
            let Some(last) = page.last() else {
                return Ok(done);
            };
            after = last.0.clone();
            let mut updates = Vec::with_capacity(page.len());
            for (id, ciphertext, format, code) in &page {
                let key = license_core::reveal_key(self.sealer(), parse_id(id)?, ciphertext)
                    .map_err(|_| {
                        StoreError::corrupt(format!(
                            "license {id}: the key does not open under this master key"
                        ))
                    })?;
                let format: KeyFormat = serde_json::from_str(format)
                    .map_err(|e| StoreError::corrupt(format!("generator format: {e}")))?;
                let digest = self.digests().of_key(&key);
                let display = key.display_with(&format.lead(code));
                updates.push((id.clone(), digest, display));
            }
            done += self.write(|c| {
                let mut n = 0u64;
                for (id, digest, display) in &updates {
                    n += diesel::update(
                        licenses::table
                            .find(id)
                            .filter(licenses::key_digest_version.lt(DIGEST_VERSION)),
                    )
                    .set((
                        licenses::key_digest.eq(digest.as_bytes().as_slice()),
                        licenses::key_display.eq(display),
                        licenses::key_digest_version.eq(DIGEST_VERSION),
                    ))
                    .execute(c)? as u64;
                }
                Ok(n)
            })?;
            batches += 1;
        }
    }
}
