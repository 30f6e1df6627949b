//! License counts for `GET /stats`: by status, by product, and activation-limit totals.

use diesel::prelude::*;
use license_core::LicenseStatus;

use crate::Store;
use crate::error::StoreResult;
use crate::schema::{licenses, products};

/// Counts for `GET /stats`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stats {
    pub total: i64,
    /// Every status, in lifecycle order, with its count (zero included).
    pub by_status: Vec<StatusCount>,
    /// Per product: id, code, name, count.
    pub by_product: Vec<ProductCount>,
    /// Licenses with an unlimited activation limit.
    pub unlimited: i64,
    /// Sum of the finite activation limits.
    pub activation_limit_total: i64,
    /// Average of the finite activation limits (0 when there are none).
    pub activation_limit_average: f64,
}

/// One status's license count.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusCount {
    pub status: &'static str,
    pub count: i64,
}

/// One product's license count.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductCount {
    pub product_id: String,
    pub code: String,
    pub name: String,
    pub count: i64,
}

impl Store {
    /// License counts by status and product, and activation-limit totals, in three grouped
    /// queries.
    pub fn stats(&self) -> StoreResult<Stats> {
        use diesel::dsl::count_star;
        self.conn()?.read(|c| {
            let by_rank: Vec<(i16, i64)> = licenses::table
                .group_by(licenses::status_rank)
                .select((licenses::status_rank, count_star()))
                .load(c)?;
            let by_status = LicenseStatus::ALL
                .iter()
                .map(|st| {
                    let n = by_rank
                        .iter()
                        .find(|(r, _)| *r == i16::from(st.lifecycle_rank()))
                        .map_or(0, |(_, n)| *n);
                    StatusCount {
                        status: st.as_str(),
                        count: n,
                    }
                })
                .collect::<Vec<_>>();
            let by_product = licenses::table
                .inner_join(products::table)
                .group_by((products::id, products::code, products::name))
                .select((products::id, products::code, products::name, count_star()))
                .order(products::name.asc())
                .load::<(String, String, String, i64)>(c)?
                .into_iter()
                .map(|(product_id, code, name, count)| ProductCount {
                    product_id,
                    code,
                    name,
                    count,
                })
                .collect();
            let limits: Vec<(i32, i64)> = licenses::table
                .group_by(licenses::activation_limit)
                .select((licenses::activation_limit, count_star()))
                .load(c)?;
            let (mut finite, mut sum, mut unlimited) = (0i64, 0i64, 0i64);
            for (limit, n) in limits {
                if limit < 0 {
                    unlimited += n;
                } else {
                    finite += n;
                    sum += i64::from(limit) * n;
                }
            }
            Ok(Stats {
                total: by_status.iter().map(|s| s.count).sum(),
                by_status,
                by_product,
                unlimited,
                activation_limit_total: sum,
                activation_limit_average: if finite > 0 {
                    sum as f64 / finite as f64
                } else {
                    0.0
                },
            })
        })
    }
}
