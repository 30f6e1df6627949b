//! Listing and searching licenses (`GET /licenses` and the exports): filters, search by key,
//! name or email, sort and page, all in SQL with index-backed queries on both backends.

use diesel::prelude::*;
use license_core::keys;
use license_core::{DigestKey, LicenseStatus};
use time::OffsetDateTime;
use uuid::Uuid;

use serde_json::json;

use crate::audit::{self, Actor, Target, details};
use crate::db::DbConn;
use crate::error::StoreResult;
use crate::license_rows::{find_by_key, load_view};
use crate::model::*;
use crate::rows::{CustomerRow, LicenseRow, ProductRow};
use crate::schema::{customers, licenses, products};
use crate::validate;
use crate::{Page, Store};

/// Sort keys of `GET /licenses`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LicenseSort {
    Key,
    Product,
    Customer,
    Status,
    Activations,
    Expires,
    #[default]
    Created,
}

impl LicenseSort {
    /// Parses a `sort` value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "key" => Self::Key,
            "product" => Self::Product,
            "customer" => Self::Customer,
            "status" => Self::Status,
            "activations" => Self::Activations,
            "expires" => Self::Expires,
            "created" => Self::Created,
            _ => return None,
        })
    }
}

/// Filters, search, sort and page of `GET /licenses` (and the exports).
#[derive(Debug, Clone, Default)]
pub struct LicenseFilter {
    pub q: Option<String>,
    pub product: Option<Uuid>,
    pub status: Option<LicenseStatus>,
    pub customer: Option<Uuid>,
    pub expires_before: Option<OffsetDateTime>,
    pub expires_after: Option<OffsetDateTime>,
    pub sort: LicenseSort,
    /// Descending when true.
    pub desc: bool,
}

impl Store {
    /// Audits an exact-key search (SPEC §5): `license.key_searched` on the license the key names
    /// (its display form as the hint), or with `found: false` when it names none. The key itself
    /// is never written.
    pub fn audit_key_search(&self, actor: &Actor, now: OffsetDateTime, q: &str) -> StoreResult<()> {
        self.write(|c| {
            let found = find_by_key(self.digests(), c, q)?;
            let target = Target {
                kind: "license",
                id: found.as_ref().map_or("", |l| l.id.as_str()),
                key_hint: found.as_ref().map(|l| l.key_display.as_str()),
            };
            let d = details(json!({"found": found.is_some()}));
            audit::record(c, now, actor, "license.key_searched", target, d)
        })
    }

    /// Lists licenses with the filters, search and sort of SPEC §8, in SQL: `(page, total)`.
    pub fn licenses(
        &self,
        filter: &LicenseFilter,
        page: Page,
    ) -> StoreResult<(Vec<LicenseView>, i64)> {
        self.conn()?
            .read(|c| list(self.digests(), c, filter, page, None))
    }

    /// The next `limit` licenses matching `filter` after license `after`, in creation order,
    /// without a total: keyset paging for exports, so each page costs the same at any depth.
    pub fn licenses_after(
        &self,
        filter: &LicenseFilter,
        after: Option<Uuid>,
        limit: i64,
    ) -> StoreResult<Vec<LicenseView>> {
        let f = LicenseFilter {
            sort: LicenseSort::Created,
            desc: false,
            ..filter.clone()
        };
        let page = Page::new(limit, 0)?;
        let after = Some(after.map_or_else(String::new, |u| u.to_string()));
        self.conn()?
            .read(|c| list(self.digests(), c, &f, page, after).map(|(items, _)| items))
    }
}

/// The search part of a filter, prepared once: digests for an exact key match, and the patterns
/// for partial matches.
struct Search {
    key_from: String,
    key_to: String,
    last4: Option<String>,
    text: String,
}

fn prepare_search(q: &str) -> Search {
    let upper = keys::normalize(q);
    let head: String = upper.chars().take(keys::PREFIX_LEN).collect();
    // Prefix range on key_prefix: [head, head with its last character bumped). Index-backed on
    // both backends, unlike LIKE 'head%' (case rules differ between them).
    let mut key_to = head.clone();
    if let Some(last) = key_to.pop() {
        key_to.push(char::from_u32(u32::from(last) + 1).unwrap_or(char::MAX));
    }
    Search {
        key_from: head,
        key_to,
        last4: (upper.chars().count() == 4).then(|| upper.clone()),
        text: validate::contains_pattern(q.trim()),
    }
}

/// The search of `q` as `licenses.id IN (a UNION of index-driven subqueries)`: one branch per
/// kind of match (key prefix range, last four, product name, customer name or email). Written
/// as SQL text with bound values because the planners of both backends scan the whole table for
/// the equivalent `OR` of conditions, while each branch here is an index search. The product
/// branch is switched off (`AND 1 = 0`) when no product name matches, the usual case:
/// PostgreSQL estimates `product_id IN (...)` over a handful of products as "most licenses" and
/// would then scan.
macro_rules! search_clause {
    ($s:expr, $product_match:expr) => {{
        let s: &Search = $s;
        use diesel::dsl::sql;
        use diesel::sql_types::{Bool, Text};
        sql::<Bool>("licenses.id IN (SELECT id FROM licenses WHERE key_prefix >= ")
            .bind::<Text, _>(s.key_from.clone())
            .sql(" AND key_prefix < ")
            .bind::<Text, _>(s.key_to.clone())
            .sql(" UNION SELECT id FROM licenses WHERE key_last4 = ")
            .bind::<Text, _>(s.last4.clone().unwrap_or_default())
            .sql(if s.last4.is_some() { "" } else { " AND 1 = 0" })
            .sql(
                " UNION SELECT l.id FROM licenses l WHERE l.product_id IN \
                 (SELECT p.id FROM products p WHERE p.search_text LIKE ",
            )
            .bind::<Text, _>(s.text.clone())
            .sql(if $product_match {
                " ESCAPE '\\')"
            } else {
                " ESCAPE '\\') AND 1 = 0"
            })
            .sql(
                " UNION SELECT l.id FROM licenses l WHERE l.customer_id IN \
                 (SELECT c.id FROM customers c WHERE c.search_text LIKE ",
            )
            .bind::<Text, _>(s.text.clone())
            .sql(" ESCAPE '\\'))")
    }};
}

/// Orders a joined page query by a [`LicenseSort`], ties broken by id in the same direction. A
/// macro because the boxed query's type is long.
macro_rules! sorted {
    ($q:expr, $sort:expr, $desc:expr) => {{
        use LicenseSort as S;
        let q = $q;
        match ($sort, $desc) {
            // Ids are UUID v7: their order is the order of creation.
            (S::Created, false) => q.order_by(licenses::id.asc()),
            (S::Created, true) => q.order_by(licenses::id.desc()),
            (S::Key, false) => q
                .order_by(licenses::key_prefix.asc())
                .then_order_by(licenses::id.asc()),
            (S::Key, true) => q
                .order_by(licenses::key_prefix.desc())
                .then_order_by(licenses::id.desc()),
            // The names kept on each license, so an index of `licenses` serves the order
            // (unassigned licenses have an empty customer name: first ascending).
            (S::Product, false) => q
                .order_by(licenses::product_sort.asc())
                .then_order_by(licenses::id.asc()),
            (S::Product, true) => q
                .order_by(licenses::product_sort.desc())
                .then_order_by(licenses::id.desc()),
            (S::Customer, false) => q
                .order_by(licenses::customer_sort.asc())
                .then_order_by(licenses::id.asc()),
            (S::Customer, true) => q
                .order_by(licenses::customer_sort.desc())
                .then_order_by(licenses::id.desc()),
            (S::Status, false) => q
                .order_by(licenses::status_rank.asc())
                .then_order_by(licenses::id.asc()),
            (S::Status, true) => q
                .order_by(licenses::status_rank.desc())
                .then_order_by(licenses::id.desc()),
            (S::Activations, false) => q
                .order_by(licenses::activations_active.asc())
                .then_order_by(licenses::id.asc()),
            (S::Activations, true) => q
                .order_by(licenses::activations_active.desc())
                .then_order_by(licenses::id.desc()),
            // Lifetime licenses are stored as LIFETIME, after every dated one: last ascending,
            // first descending, from the (expires_at, id) index on both backends.
            (S::Expires, false) => q
                .order_by(licenses::expires_at.asc())
                .then_order_by(licenses::id.asc()),
            (S::Expires, true) => q
                .order_by(licenses::expires_at.desc())
                .then_order_by(licenses::id.desc()),
        }
    }};
}

/// One page of the list. `after` switches to keyset paging (ids greater than it, no total).
fn list(
    digests: &DigestKey,
    c: &mut DbConn,
    f: &LicenseFilter,
    page: Page,
    after: Option<String>,
) -> StoreResult<(Vec<LicenseView>, i64)> {
    // A full key: exact digest match only.
    if let Some(q) = f.q.as_deref().filter(|q| keys::is_key_shaped(q))
        && let Some(row) = find_by_key(digests, c, q)?
    {
        let view = load_view(c, &row.id)?;
        let beyond = after.as_deref().is_none_or(|a| row.id.as_str() > a);
        let keep = beyond && matches_filters(&view, f);
        return Ok(if keep { (vec![view], 1) } else { (vec![], 0) });
    }
    let search =
        f.q.as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(prepare_search);
    let product_match = match &search {
        Some(s) => !products::table
            .filter(products::search_text.like(s.text.clone()).escape('\\'))
            .select(products::id)
            .load::<String>(c)?
            .is_empty(),
        None => false,
    };
    // The same filters on two bases: the count needs no join (every filter and the search are
    // on `licenses`), the page joins product and customer.
    macro_rules! filtered {
        ($base:expr) => {{
            let mut q = $base.into_boxed();
            if let Some(p) = f.product {
                q = q.filter(licenses::product_id.eq(p.to_string()));
            }
            if let Some(s) = f.status {
                q = q.filter(licenses::status_rank.eq(i16::from(s.lifecycle_rank())));
            }
            if let Some(cu) = f.customer {
                q = q.filter(licenses::customer_id.eq(cu.to_string()));
            }
            if let Some(t) = f.expires_before {
                q = q.filter(licenses::expires_at.lt(to_db(t)));
            }
            if let Some(t) = f.expires_after {
                q = q.filter(
                    licenses::expires_at
                        .gt(to_db(t))
                        .and(licenses::expires_at.lt(LIFETIME)),
                );
            }
            if let Some(s) = &search {
                q = q.filter(search_clause!(s, product_match));
            }
            if let Some(a) = &after {
                q = q.filter(licenses::id.gt(a.clone()));
            }
            q
        }};
    }
    let total: i64 = match after {
        Some(_) => -1,
        None => filtered!(licenses::table).count().get_result(c)?,
    };
    let joined = licenses::table
        .inner_join(products::table)
        .left_join(customers::table);
    let q = filtered!(joined).select((
        LicenseRow::as_select(),
        ProductRow::as_select(),
        Option::<CustomerRow>::as_select(),
    ));
    let q = sorted!(q, f.sort, f.desc);
    let rows: Vec<(LicenseRow, ProductRow, Option<CustomerRow>)> =
        q.limit(page.limit).offset(page.offset).load(c)?;
    let items = rows
        .into_iter()
        .map(|(l, p, cu)| LicenseView::from_rows(l, p, cu))
        .collect::<StoreResult<Vec<_>>>()?;
    Ok((items, total))
}

/// The non-search filters, applied to one license found by its full key.
fn matches_filters(v: &LicenseView, f: &LicenseFilter) -> bool {
    let l = &v.license;
    f.product.is_none_or(|p| p == l.product_id)
        && f.status.is_none_or(|s| s == l.status)
        && f.customer.is_none_or(|c| Some(c) == l.customer_id)
        && f.expires_before
            .is_none_or(|t| l.expires_at.is_some_and(|e| e < t))
        && f.expires_after
            .is_none_or(|t| l.expires_at.is_some_and(|e| e > t))
}
