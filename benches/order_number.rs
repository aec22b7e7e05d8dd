//! Order number benches (issue #4 target: at least 10 million numbers per second per core,
//! i.e. at most 100 ns each): one thread, and two threads drawing from one generator at once
//! (each on its own lane, so the per-core figure should hold).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cashier::engine::clock::SystemClock;
use cashier::engine::order_number::{Channel, Kind, OrderNumberGenerator, ProductType};
use criterion::{criterion_group, criterion_main, Criterion};

fn order_number_benches(criterion: &mut Criterion) {
    let generator = Arc::new(OrderNumberGenerator::in_memory(1, Arc::new(SystemClock)));
    criterion.bench_function("order_number/single_thread", |bench| {
        bench.iter(|| {
            black_box(
                generator
                    .next(Channel::MINI_PROGRAM, Kind::Payment, ProductType(7))
                    .unwrap(),
            )
        })
    });
    let shared = generator.clone();
    criterion.bench_function("order_number/two_threads_per_number_per_core", |bench| {
        bench.iter_custom(|iterations| {
            let started = Instant::now();
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let generator = shared.clone();
                    std::thread::spawn(move || {
                        for _ in 0..iterations {
                            black_box(
                                generator
                                    .next(Channel::APP, Kind::Payment, ProductType(3))
                                    .unwrap(),
                            );
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.join().unwrap();
            }
            // Each core made `iterations` numbers in this wall time.
            started.elapsed()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = order_number_benches
}
criterion_main!(benches);
