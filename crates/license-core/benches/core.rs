//! Lease signing and verification against raw ring Ed25519 signing (the physical limit for
//! lease issuance), and key minting (generate + digest + seal). Figures go to docs/benchmarks.md.
#![expect(clippy::unwrap_used, reason = "benchmark setup")]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use license_core::lease::{self, Claims, Expect, SigningKey};
use license_core::{DigestKey, KeyFormat, KeyVault, LicenseStatus, MasterKey, Sealer, mint_key};
use rand::{SeedableRng, rngs::StdRng};
use std::hint::black_box;
use time::OffsetDateTime;

fn claims(key: &SigningKey) -> Claims {
    let mut ent = serde_json::Map::new();
    ent.insert("pro".into(), true.into());
    ent.insert("seats".into(), 10.into());
    Claims {
        kid: key.kid().to_owned(),
        env: "production".into(),
        lid: uuid::Uuid::now_v7(),
        pid: uuid::Uuid::now_v7(),
        fp: Some("9f86d081884c7d659a2feaa0c55ad015".into()),
        st: LicenseStatus::Active,
        ent,
        iat: 1_800_000_000,
        exp: 1_800_604_800,
        lexp: Some(1_830_000_000),
        nonce: Some("b3f1c2d4e5a60718".into()),
    }
}

fn leases(c: &mut Criterion) {
    let key = SigningKey::generate(&mut StdRng::seed_from_u64(1));
    let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(key.expose_seed()).unwrap();
    let cl = claims(&key);
    let token = key.sign(&cl).unwrap();
    let signed_part = token.rsplit_once('.').unwrap().0.as_bytes().to_vec();
    let keys = [key.public_key()];
    let now = OffsetDateTime::from_unix_timestamp(1_800_000_100).unwrap();

    let mut g = c.benchmark_group("lease");
    g.throughput(Throughput::Elements(1));
    g.bench_function("raw_ring_ed25519_sign", |b| {
        b.iter(|| pair.sign(black_box(&signed_part)))
    });
    g.bench_function("sign", |b| b.iter(|| key.sign(black_box(&cl)).unwrap()));
    g.bench_function("verify", |b| {
        b.iter(|| lease::verify(black_box(&token), &keys, now, Expect::default()).unwrap())
    });
    g.finish();
}

fn minting(c: &mut Criterion) {
    let master = MasterKey::from_bytes([7; 32]);
    let sealer = Sealer::new(&master);
    let digests = DigestKey::derive(&master, "production");
    let vault = KeyVault {
        sealer: &sealer,
        digests: &digests,
    };
    let mut rng = StdRng::seed_from_u64(2);
    let format = KeyFormat::Chunked {
        chunks: 4,
        chunk_len: 4,
        check: true,
    };
    let id = uuid::Uuid::now_v7();
    let mut g = c.benchmark_group("mint");
    g.throughput(Throughput::Elements(1));
    g.bench_function("chunked_4x4_check", |b| {
        b.iter(|| mint_key(&format, "ACME", id, vault, &mut rng))
    });
    g.bench_function("uuid", |b| {
        b.iter(|| mint_key(&KeyFormat::Uuid {}, "ACME", id, vault, &mut rng))
    });
    g.finish();
}

/// The lookup digest of a typed key (SPEC §5): HMAC-SHA-256 under the environment's key, and
/// the unkeyed SHA-256 it replaced, for the cost of the change on the validation hot path.
fn digests(c: &mut Criterion) {
    let dk = DigestKey::derive(&MasterKey::from_bytes([7; 32]), "production");
    let typed = "acme-7kq2-9xhm-3pzd-wn4c-7b2d";
    let mut g = c.benchmark_group("digest");
    g.throughput(Throughput::Elements(1));
    g.bench_function("hmac_lookup_digests", |b| {
        b.iter(|| dk.lookup_digests(black_box(typed)))
    });
    g.bench_function("sha256_unkeyed", |b| {
        b.iter(|| license_core::KeyDigest::unkeyed(black_box("ACME-7KQ2-9XHM-3PZD-WN4C-7B2D")))
    });
    g.finish();
}

criterion_group!(benches, leases, minting, digests);
criterion_main!(benches);
