//! A demo to try Keysmith with (`keysmith demo`): a product, a generator, a customer and one
//! license assigned to that customer, and on request more licenses for the same customer.

use license_core::{KeyFormat, LicenseKey};
use time::OffsetDateTime;

use crate::customers::NewCustomer;
use crate::generators::NewGenerator;
use crate::licenses::NewLicense;
use crate::limits::MAX_BATCH;
use crate::mint::Batch;
use crate::model::{Customer, Generator, LicenseView, Product};
use crate::products::NewProduct;
use crate::{Actor, Store, StoreResult};

/// What [`seed`] created.
#[derive(Debug)]
pub struct Demo {
    pub product: Product,
    pub generator: Generator,
    pub customer: Customer,
    /// The license assigned to `customer`.
    pub license: LicenseView,
    /// Its key: the only time it is shown.
    pub key: LicenseKey,
}

/// Creates a product "Demo App" (code `DEMO` and four digits of `now`), a generator (four chunks
/// of four with a check chunk, three activations, 365 days), a customer with an address unique to
/// `now`, and one license assigned to that customer; each in its own transaction, as through the
/// admin API.
pub fn seed(store: &Store, actor: &Actor, now: OffsetDateTime) -> StoreResult<Demo> {
    let suffix = format!("{:04}", now.unix_timestamp() % 10_000);
    let product = store.create_product(
        actor,
        now,
        NewProduct {
            name: "Demo App".into(),
            code: format!("DEMO{suffix}"),
            metadata: None,
        },
    )?;
    let generator = store.create_generator(
        actor,
        now,
        NewGenerator {
            product_id: product.id,
            name: "demo".into(),
            format: KeyFormat::Chunked {
                chunks: 4,
                chunk_len: 4,
                check: true,
            },
            default_activation_limit: Some(3),
            default_validity_days: Some(365),
            expiry_basis: None,
            default_feature_flags: None,
            lease_ttl_seconds: None,
        },
    )?;
    let customer = store.create_customer(
        actor,
        now,
        NewCustomer {
            name: "Demo Customer".into(),
            email: format!("demo-{suffix}-{}@example.com", now.unix_timestamp()),
            metadata: None,
        },
    )?;
    let created = store.create_license(
        actor,
        now,
        NewLicense {
            product_id: product.id,
            generator_id: generator.id,
            customer_id: Some(customer.id),
            activation_limit: None,
            expires_at: None,
            feature_flags: None,
            metadata: None,
        },
    )?;
    Ok(Demo {
        product,
        generator,
        customer,
        license: created.license,
        key: created.key,
    })
}

/// Mints `count` more licenses from the demo's generator for its customer (load tests), in
/// batches of at most [`MAX_BATCH`], each its own transaction. Returns their keys in mint order;
/// on an error, the batches before it stay minted.
pub fn mint_more(
    store: &Store,
    actor: &Actor,
    now: OffsetDateTime,
    demo: &Demo,
    count: usize,
) -> StoreResult<Vec<LicenseKey>> {
    let mut keys = Vec::with_capacity(count);
    let mut left = count;
    while left > 0 {
        let batch = Batch {
            generator_id: demo.generator.id,
            customer_id: Some(demo.customer.id),
            job: None,
            count: left.min(MAX_BATCH),
        };
        keys.extend(
            store
                .mint_batch(actor, now, &batch)?
                .into_iter()
                .map(|(_, k)| k),
        );
        left -= batch.count;
    }
    Ok(keys)
}

/// Mints `count` more licenses from the demo's generator spread as an operator's data would be:
/// `customers` new customers (`Customer N`, `cN@domainM.example`, a thousand domains), each with
/// ten licenses while they last, and the rest available. For load tests of listing and search;
/// each batch its own transaction.
pub fn mint_spread(
    store: &Store,
    actor: &Actor,
    now: OffsetDateTime,
    demo: &Demo,
    count: usize,
    customers: usize,
) -> StoreResult<()> {
    const PER_CUSTOMER: usize = 10;
    let mut left = count;
    for start in (0..customers).step_by(MAX_BATCH) {
        let new = (start..customers.min(start + MAX_BATCH))
            .map(|i| NewCustomer {
                name: format!("Customer {i}"),
                email: format!("c{i}-{}@domain{}.example", now.unix_timestamp(), i % 1000),
                metadata: None,
            })
            .collect();
        for customer in store.create_customers(actor, now, new)? {
            if left == 0 {
                return Ok(());
            }
            let n = left.min(PER_CUSTOMER);
            let batch = Batch {
                generator_id: demo.generator.id,
                customer_id: Some(customer.id),
                job: None,
                count: n,
            };
            store.mint_batch(actor, now, &batch)?;
            left -= n;
        }
    }
    while left > 0 {
        let batch = Batch {
            generator_id: demo.generator.id,
            customer_id: None,
            job: None,
            count: left.min(MAX_BATCH),
        };
        store.mint_batch(actor, now, &batch)?;
        left -= batch.count;
    }
    Ok(())
}
