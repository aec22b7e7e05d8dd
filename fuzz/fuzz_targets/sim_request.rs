//! Any request to the simulator (WeChat Pay, sandbox, logins, 医保's userQuery, NHSA and
//! payinsurance paths): `Simulator::handle` answers every one and never panics. A fresh
//! simulator per input keeps memory bounded and each input replayable on its own.
#![no_main]

use std::sync::OnceLock;

use cashier_harness::{ClientCertificate, SimConfig, SimOptions, SimRequest, Simulator};
use libfuzzer_sys::fuzz_target;

fn config() -> Option<&'static SimConfig> {
    static CONFIG: OnceLock<Option<SimConfig>> = OnceLock::new();
    CONFIG.get_or_init(|| SimConfig::embedded_default().ok()).as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Some(config) = config() else {
        return;
    };
    let simulator = Simulator::new(config.clone(), SimOptions::deterministic(1));
    let request = cashier_fuzz::request(data);
    let _ = simulator.handle(&SimRequest {
        method: request.method,
        path: request.target,
        body: request.body,
        client_certificate: ClientCertificate::Presented,
        headers: request.headers,
    });
});
