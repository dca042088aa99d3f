//! Rule compilation and request matching at 10, 1 000 and 10 000 routers, host-indexed,
//! regexp-heavy, path-only and with regexps that require no literal: the cost of finding a
//! request's router (or of answering 404) as configurations grow.

use benches::{configuration, missing_request, request, RouterSet};
use control::rule::{normalize_host, normalize_path, RequestView, Rule};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gateway::runtime::{compile, Carryover, CompileContext};
use http::{HeaderMap, Method};
use std::hint::black_box;
use std::sync::Arc;

const SIZES: [usize; 3] = [10, 1_000, 10_000];
const SETS: [(RouterSet, &str); 4] = [
    (RouterSet::HostIndexed, "host-indexed"),
    (RouterSet::RegexpHeavy, "regexp-heavy"),
    (RouterSet::PathOnly, "path-only"),
    (RouterSet::RegexpNoLiteral, "regexp-no-literal"),
];

fn context() -> CompileContext {
    CompileContext {
        entry_points: vec!["web".into()],
        default_entry_points: vec!["web".into()],
        ..Default::default()
    }
}

fn rule_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("rule_parse");
    for (set, name) in SETS {
        let source = benches::rule(set, 42);
        group.bench_function(name, |b| {
            b.iter(|| Rule::parse(black_box(&source)).unwrap())
        });
    }
    group.finish();
}

fn compile_config(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    for (set, name) in SETS {
        for routers in SIZES {
            let providers = vec![("file".to_string(), Arc::new(configuration(set, routers)))];
            group.throughput(Throughput::Elements(routers as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("{name}/cold"), routers),
                &providers,
                |b, providers| b.iter(|| compile(&context(), providers, &mut Carryover::default())),
            );
            // A reload: the rule cache is warm, and the previous snapshot still serves while
            // the new one is compiled (the gateway swaps the new one in, then drops the old).
            let mut rules = Carryover::default();
            let mut serving = compile(&context(), &providers, &mut rules);
            group.bench_with_input(
                BenchmarkId::new(format!("{name}/reload"), routers),
                &providers,
                |b, providers| b.iter(|| serving = compile(&context(), providers, &mut rules)),
            );
        }
    }
    group.finish();
}

fn match_request(c: &mut Criterion) {
    let mut group = c.benchmark_group("match");
    let headers = HeaderMap::new();
    for (set, name) in SETS {
        for routers in SIZES {
            let providers = vec![("file".to_string(), Arc::new(configuration(set, routers)))];
            let snapshot = compile(&context(), &providers, &mut Carryover::default());
            let table = snapshot.table(0).expect("the web entrypoint");
            // A request for the last router (the worst case of a linear scan), and one that no
            // router matches (what every 404 costs).
            let cases = [
                (name.to_string(), request(set, routers - 1), true),
                (format!("{name}-404"), missing_request(set), false),
            ];
            for (id, (host, path), found) in cases {
                group.bench_function(BenchmarkId::new(id, routers), |b| {
                    b.iter(|| {
                        let host = normalize_host(black_box(&host));
                        let path = normalize_path(black_box(&path));
                        let view = RequestView {
                            host: &host,
                            method: &Method::GET,
                            path: &path,
                            query: "",
                            headers: &headers,
                            client_ip: None,
                        };
                        assert_eq!(table.find(&view).is_some(), found);
                    })
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, rule_parse, compile_config, match_request);
criterion_main!(benches);
