//! Any request to the host layer (`HostCore::handle`): WeChat's payment, refund and 医保
//! notifications, logins, the pages' order API and staff refunds, over one engine on the
//! simulated world. Never panics; every answer is a response (JSON error, or WeChat's FAIL).
#![no_main]

use std::sync::{Arc, OnceLock};

use cashier::simulation::SimulatedWorld;
use cashier_harness::FaultPlan;
use cashier_host::{HostCore, HostRequest};
use libfuzzer_sys::fuzz_target;

struct World {
    runtime: tokio::runtime::Runtime,
    core: Arc<HostCore>,
    // Kept for the process's life: the engine and the host's stores live under it.
    _world: SimulatedWorld,
    _dir: tempfile::TempDir,
}

fn world() -> Option<&'static World> {
    static WORLD: OnceLock<Option<World>> = OnceLock::new();
    WORLD
        .get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .ok()?;
            let dir = tempfile::tempdir().ok()?;
            let (world, core) = runtime.block_on(async {
                let store = SimulatedWorld::open_store(&dir.path().join("engine")).ok()?;
                let world = SimulatedWorld::start(5, store, FaultPlan::none(), 1).ok()?;
                let core = cashier::cli::serve::host_core(
                    &world.engine,
                    &world.simulator,
                    &dir.path().join("host"),
                )
                .ok()?;
                Some((world, core))
            })?;
            Some(World { runtime, core, _world: world, _dir: dir })
        })
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Some(world) = world() else {
        return;
    };
    let request = cashier_fuzz::request(data);
    let (path, query) = match request.target.split_once('?') {
        Some((path, query)) => (path.to_owned(), query.to_owned()),
        None => (request.target, String::new()),
    };
    let host_request = HostRequest {
        method: request.method,
        path,
        query,
        headers: request.headers,
        body: request.body,
        client_ip: None,
    };
    let _ = world.runtime.block_on(world.core.handle(host_request));
});
