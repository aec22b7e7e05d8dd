//! `cashier sim`: the WeChat Pay v2 simulator as a server on loopback. The first line on
//! standard output is exactly `listening on http://ADDR` (or `https://`), so scripts can wait
//! for it; the second names the seed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use cashier_harness::server::{self, RunningServer};
use cashier_harness::tls::TestPki;
use cashier_harness::{ClockMode, SimConfig, SimOptions, Simulator};

/// The `sim` options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimArguments {
    /// Where to listen.
    pub listen: SocketAddr,
    /// A configuration file; the embedded default when absent.
    pub config: Option<PathBuf>,
    /// The seed.
    pub seed: u64,
    /// Serve HTTPS with a generated test CA.
    pub tls: bool,
    /// Fix the clock's start (Unix seconds) instead of the real current time.
    pub epoch_s: Option<i64>,
    /// Write the test CA and client certificate here (TLS only).
    pub tls_dir: Option<PathBuf>,
}

/// Builds the simulator and starts the server.
pub async fn start(arguments: &SimArguments) -> Result<(Arc<Simulator>, RunningServer), String> {
    let config = match &arguments.config {
        None => SimConfig::embedded_default(),
        Some(path) => {
            let bytes = cashier_engine::config::read_bounded(
                path,
                cashier_engine::config::CONFIG_FILE_LIMIT_BYTES,
            )?;
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("{} is not UTF-8 text", path.display()))?;
            SimConfig::from_json(&text)
        }
    }
    .map_err(|error| error.to_string())?;
    let epoch_ms = match arguments.epoch_s {
        Some(seconds) => seconds * 1000,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(0))
            .unwrap_or(0),
    };
    let options = SimOptions {
        seed: arguments.seed,
        clock: ClockMode::Real { epoch_ms },
        notification_sign_type: false,
    };
    let simulator = Arc::new(Simulator::new(config, options));
    let pki = if arguments.tls {
        let pki = TestPki::generate().map_err(|error| error.to_string())?;
        if let Some(dir) = &arguments.tls_dir {
            std::fs::create_dir_all(dir)
                .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
            for (name, text) in [
                ("ca.pem", &pki.ca_certificate_pem),
                ("apiclient_cert.pem", &pki.client_certificate_pem),
                ("apiclient_key.pem", &pki.client_key_pem),
            ] {
                std::fs::write(dir.join(name), text)
                    .map_err(|error| format!("cannot write {name}: {error}"))?;
            }
        }
        Some(pki)
    } else {
        None
    };
    let running = server::start(simulator.clone(), arguments.listen, pki)
        .await
        .map_err(|error| error.to_string())?;
    Ok((simulator, running))
}
