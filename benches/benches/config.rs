//! Decoding Traefik's configuration from Consul KV: 10 000 routers decoded in full (start-up,
//! Traefik's way on every change) and incrementally after one key changed (the gateway's way).

use benches::kv_listing;
use control::kv::{decode_pairs, IncrementalDecoder};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

const ROUTERS: usize = 10_000;

fn kv_decode(c: &mut Criterion) {
    let listing = kv_listing(ROUTERS);
    let mut group = c.benchmark_group("kv_decode_10000_routers");
    group.sample_size(10);
    group.throughput(Throughput::Elements(listing.len() as u64));
    group.bench_function("full", |b| {
        b.iter(|| black_box(decode_pairs("traefik", "consul traefik/", &listing)))
    });
    let mut decoder = IncrementalDecoder::new("traefik", "consul traefik/");
    decoder.decode(&listing);
    let mut changed = listing.clone();
    let mut round = 100;
    group.bench_function("incremental_one_key_changed", |b| {
        b.iter(|| {
            round += 1;
            changed[0].modify_index = round;
            black_box(decoder.decode(&changed))
        })
    });
    group.finish();
}

criterion_group!(benches, kv_decode);
criterion_main!(benches);
