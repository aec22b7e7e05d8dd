//! Configuration text from anyone: the engine's loader (entries, 医保 entries, secrets named by
//! environment variable or file) and the simulator's; never panics, a typed error otherwise.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = cashier_engine::config::EngineConfig::from_json(text);
    let _ = cashier_harness::SimConfig::from_json(text);
});
