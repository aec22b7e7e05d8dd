//! The `cashier` command: `cashier demo` (the main job), `cashier sign` (signature
//! diagnostic), `cashier sim` (the WeChat simulator as a loopback server) and `cashier
//! reconcile` (a day's bills against the engine).

use std::io::Read;
use std::process::ExitCode;

use cashier::cli::demo::{self, DemoArguments, FaultLevel};
use cashier::cli::sign::{self, SignInput};
use cashier::cli::sim::{self, SimArguments};
use clap::{Parser, Subcommand};

/// cashier: WeChat Pay v2 payment engine tools.
#[derive(Parser)]
#[command(version, about)]
struct Arguments {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The main job: the engine on a temporary sled store with the simulator as WeChat, driving
    /// a seeded mix of orders through every entry point, faults on; prints a summary with
    /// invariant checks. Exit status 1 when any invariant check fails.
    Demo {
        /// Orders to drive.
        #[arg(long, default_value_t = 1000)]
        orders: usize,
        /// The seed of the mix and of the simulator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// WeChat's misbehaviour: off, default or heavy.
        #[arg(long, default_value = "default", value_parser = FaultLevel::parse)]
        faults: FaultLevel,
        /// Keep the store here instead of a temporary directory.
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
        /// Orders driven at the same time.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Run the engine, the drivers and the simulator on one thread so that the seed
        /// replays the run exactly (same summary and end-state fingerprint); slower.
        #[arg(long)]
        deterministic: bool,
    },
    /// Signature diagnostic: canonical string, MD5 and HMAC-SHA256 signs, match check and the
    /// usual causes of 签名错误. Exit 0 on a match, 1 on a mismatch, 2 on bad input.
    Sign {
        /// The APIv2 key (32 bytes). Shown masked.
        #[arg(long, required_unless_present = "example")]
        key: Option<String>,
        /// Run on the official example (wechatpay-v2.md §1.2 K1) instead of input.
        #[arg(long)]
        example: bool,
        /// An XML file (`-` for standard input), or name=value pairs.
        #[arg(value_name = "FILE.xml | name=value", allow_hyphen_values = true)]
        input: Vec<std::ffi::OsString>,
    },
    /// Drive the engine flat out against the in-process simulator (create → start payment →
    /// paid by notification) and report throughput, latency percentiles, flushes, context
    /// switches and RSS. Exit 1 when an order was not paid.
    Load {
        /// Orders to drive.
        #[arg(long, default_value_t = 10_000)]
        orders: usize,
        /// Orders in flight at once.
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        /// Keep the store here instead of a temporary directory.
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// Draw throughput and start_payment latency over time into this SVG file.
        #[arg(long)]
        chart: Option<std::path::PathBuf>,
        /// Drive for this many seconds instead of for `--orders` orders.
        #[arg(long)]
        seconds: Option<u64>,
        /// Leave every order waiting for its payer: a store of non-terminal orders, each with a
        /// deadline, for measuring a restart (`--data-dir`).
        #[arg(long)]
        unpaid: bool,
        /// Orders started per second (flat out when absent); with `--notify-http`,
        /// notifications per second (1000 when absent).
        #[arg(long)]
        rate: Option<u32>,
        /// Instead: notification acks over HTTP through axum and actix-web, and the raw engine
        /// call, `--orders` each at `--rate` per second.
        #[arg(long)]
        notify_http: bool,
    },
    /// Reconcile a day: download WeChat's bills for every merchant of the configuration, compare
    /// them with the engine's store, resolve what a query can, record the rest as alerts.
    /// Exit 0 when nothing is left, 1 when discrepancies remain, 2 on an error.
    Reconcile {
        /// The Beijing day, yyyymmdd (its bill exists from 09:00 the next day).
        #[arg(long)]
        day: String,
        /// The engine's store.
        #[arg(long)]
        data_dir: std::path::PathBuf,
        /// The engine configuration JSON (keys from the environment or files it names).
        #[arg(long)]
        config: std::path::PathBuf,
        /// Where WeChat is, such as a `cashier sim` URL (default: WeChat's production host).
        #[arg(long)]
        api_base: Option<String>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The example hospital: the engine, the simulator as WeChat and the hospital's pages in
    /// one process. The first output line is `listening on http://ADDR`; open it in a browser
    /// (outside WeChat a labelled simulation shim stands in for WeChat's client).
    Serve {
        /// The address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Keep the stores here instead of a temporary directory.
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
        /// The simulator's seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// A crash campaign: the engine as child processes over HTTP against the simulator, killed
    /// with SIGKILL at seeded moments and restarted on the same store; the store's invariants
    /// after every kill and WeChat's and NHSA's books at the end. Exit 1 on any problem.
    Chaos {
        /// SIGKILLs to deliver.
        #[arg(long, default_value_t = 100)]
        kills: u32,
        /// The seed of the kill moments, the orders and the simulator.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Keep the store here instead of a temporary directory.
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
        /// Keep the store on a FUSE disk that loses unsynced writes, and cut its power after
        /// about one kill in three (needs --features chaos and /dev/fuse).
        #[arg(long)]
        power_cuts: bool,
    },
    /// A long run at a steady rate (default: one hour at 200 orders/s with the default
    /// faults): the engine as its own process over HTTP, a line of figures a minute (orders,
    /// start_payment p50/p99, RSS), then every order checked against the books. Exit 1 on a
    /// problem.
    Soak {
        /// How long the load runs.
        #[arg(long, default_value_t = 60)]
        minutes: u64,
        /// Seconds instead of minutes (short runs in tests).
        #[arg(long, hide = true)]
        seconds: Option<u64>,
        /// Orders started per second.
        #[arg(long, default_value_t = 200)]
        rate: u32,
        /// WeChat's misbehaviour: off, default or heavy.
        #[arg(long, default_value = "default", value_parser = FaultLevel::parse)]
        faults: FaultLevel,
        /// The seed of the orders and of the simulator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// One engine life of a chaos campaign (run by `cashier chaos`).
    #[command(hide = true)]
    ChaosChild {
        #[arg(long)]
        sim: String,
        #[arg(long)]
        data_dir: std::path::PathBuf,
        #[arg(long)]
        notify_port: u16,
        #[arg(long)]
        seed: u64,
        #[arg(long)]
        drain: bool,
        #[arg(long)]
        failpoints: Option<u64>,
        #[arg(long)]
        soak_rate: Option<u32>,
    },
    /// Run the WeChat Pay v2 simulator on loopback. The first output line is
    /// `listening on http://ADDR`; the control API lives under /__sim/ (see README).
    Sim {
        /// The address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// A configuration JSON file (default: fixtures/harness/default-config.json, embedded).
        #[arg(long)]
        config: Option<std::path::PathBuf>,
        /// The seed of every random choice (ids, nonces, faults).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Serve HTTPS with a generated test CA; secapi endpoints then require its client certificate.
        #[arg(long)]
        tls: bool,
        /// Write ca.pem, apiclient_cert.pem and apiclient_key.pem here (with --tls).
        #[arg(long)]
        tls_dir: Option<std::path::PathBuf>,
        /// Start the clock at this Unix time (seconds) instead of now.
        #[arg(long)]
        epoch: Option<i64>,
    },
}

fn sign_input(input: Vec<std::ffi::OsString>) -> Result<SignInput, String> {
    let is_file = input.len() == 1
        && input
            .first()
            .is_some_and(|argument| argument.to_str().is_none_or(|text| !text.contains('=')));
    if !is_file {
        return Ok(SignInput::Pairs(
            input
                .into_iter()
                .map(|argument| argument.into_string().ok())
                .collect(),
        ));
    }
    let path = input.into_iter().next().unwrap_or_default();
    let mut bytes = Vec::new();
    if path == "-" {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|error| format!("cannot read standard input: {error}"))?;
    } else {
        bytes = std::fs::read(&path)
            .map_err(|error| format!("cannot read {}: {error}", path.to_string_lossy()))?;
    }
    Ok(SignInput::Xml(bytes))
}

/// The multi-threaded tokio runtime the async subcommands run on.
fn tokio_runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => Some(runtime),
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            None
        }
    }
}

fn run_sim(arguments: SimArguments) -> ExitCode {
    let Some(runtime) = tokio_runtime() else {
        return ExitCode::from(2);
    };
    runtime.block_on(async {
        match sim::start(&arguments).await {
            Ok((simulator, running)) => {
                // A closed standard output (a caller that read only the first line) is no
                // reason to stop serving, so write errors are ignored rather than panicking.
                use std::io::Write;
                let mut stdout = std::io::stdout();
                let _ = writeln!(stdout, "listening on {}", running.base_url());
                let _ = writeln!(stdout, "seed {}", simulator.seed());
                let _ = stdout.flush();
                let _ = tokio::signal::ctrl_c().await;
                running.shutdown().await;
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::from(2)
            }
        }
    })
}

fn run_serve(arguments: cashier::cli::serve::ServeArguments) -> ExitCode {
    let Some(runtime) = tokio_runtime() else {
        return ExitCode::from(2);
    };
    runtime.block_on(async {
        match cashier::cli::serve::start(&arguments).await {
            Ok(serving) => {
                use std::io::Write;
                let mut stdout = std::io::stdout();
                let _ = writeln!(stdout, "listening on http://{}", serving.address);
                let _ = writeln!(
                    stdout,
                    "seed {} · staff token {}",
                    arguments.seed,
                    cashier::cli::serve::STAFF_TOKEN
                );
                let _ = stdout.flush();
                let _ = tokio::signal::ctrl_c().await;
                serving.engine.shutdown().await;
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::from(2)
            }
        }
    })
}

fn run_demo(arguments: DemoArguments) -> ExitCode {
    let outcome = if arguments.deterministic {
        // One thread: the System's arbiter runs the drivers, the order actors and the
        // simulator's deliveries.
        actix_rt::System::new().block_on(demo::run(&arguments))
    } else {
        let Some(runtime) = tokio_runtime() else {
            return ExitCode::from(2);
        };
        runtime.block_on(demo::run(&arguments))
    };
    report_and_exit(
        outcome.map(|report| (demo::render(&report, &arguments), demo::all_ok(&report))),
    )
}

/// Prints a report and exits 0 when its checks passed, 1 when not, 2 when the run failed.
fn report_and_exit(outcome: Result<(String, bool), String>) -> ExitCode {
    use std::io::Write;
    match outcome {
        Ok((text, ok)) => {
            let _ = std::io::stdout().write_all(text.as_bytes());
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run_soak(arguments: cashier::cli::soak::SoakArguments) -> ExitCode {
    if arguments.rate == 0 {
        eprintln!("error: --rate must be at least 1");
        return ExitCode::from(2);
    }
    let Some(runtime) = tokio_runtime() else {
        return ExitCode::from(2);
    };
    let outcome = runtime.block_on(cashier::cli::soak::run(&arguments));
    report_and_exit(outcome.map(|report| {
        let text = cashier::cli::soak::render(&report, &arguments);
        (text, report.problems.is_empty())
    }))
}

fn main() -> ExitCode {
    let arguments = Arguments::parse();
    let output = match arguments.command {
        Command::Demo {
            orders,
            seed,
            faults,
            data_dir,
            concurrency,
            quiet,
            deterministic,
        } => {
            return run_demo(DemoArguments {
                orders,
                seed,
                faults,
                data_dir,
                concurrency,
                // A progress bar redraws with \r: only on a terminal, never into a pipe or file.
                progress: !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
                deterministic,
            });
        }
        Command::Sim {
            listen,
            config,
            seed,
            tls,
            tls_dir,
            epoch,
        } => {
            return run_sim(SimArguments {
                listen,
                config,
                seed,
                tls,
                epoch_s: epoch,
                tls_dir,
            })
        }
        Command::Chaos {
            kills,
            seed,
            data_dir,
            power_cuts,
        } => {
            let Some(runtime) = tokio_runtime() else {
                return ExitCode::from(2);
            };
            let executable = match std::env::current_exe() {
                Ok(path) => path,
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::from(2);
                }
            };
            let arguments = cashier::cli::chaos::ChaosArguments {
                kills,
                seed,
                executable,
                data_dir,
                power_cuts,
            };
            match runtime.block_on(cashier::cli::chaos::run(&arguments)) {
                Ok(report) => cashier::cli::CommandOutput {
                    stdout: cashier::cli::chaos::render(&report, seed),
                    exit_code: if report.problems.is_empty() { 0 } else { 1 },
                },
                Err(message) => cashier::cli::CommandOutput {
                    stdout: format!("error: {message}\n"),
                    exit_code: 2,
                },
            }
        }
        Command::Soak {
            minutes,
            seconds,
            rate,
            faults,
            seed,
        } => {
            return run_soak(cashier::cli::soak::SoakArguments {
                duration: std::time::Duration::from_secs(seconds.unwrap_or(minutes * 60)),
                rate,
                seed,
                faults: faults.plan(),
                executable: match std::env::current_exe() {
                    Ok(path) => path,
                    Err(error) => {
                        eprintln!("error: {error}");
                        return ExitCode::from(2);
                    }
                },
            });
        }
        Command::ChaosChild {
            sim,
            data_dir,
            notify_port,
            seed,
            drain,
            failpoints,
            soak_rate,
        } => {
            let Some(runtime) = tokio_runtime() else {
                return ExitCode::from(2);
            };
            let arguments = cashier::cli::chaos_child::ChildArguments {
                sim,
                data_dir,
                notify_port,
                seed,
                drain,
                failpoints,
                soak_rate,
            };
            return match runtime.block_on(cashier::cli::chaos_child::run(arguments)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("error: {message}");
                    ExitCode::from(2)
                }
            };
        }
        Command::Serve {
            listen,
            data_dir,
            seed,
        } => {
            return run_serve(cashier::cli::serve::ServeArguments {
                listen,
                data_dir,
                seed,
            })
        }
        Command::Load {
            orders,
            concurrency,
            data_dir,
            json,
            chart,
            seconds,
            unpaid,
            rate,
            notify_http,
        } => {
            let Some(runtime) = tokio_runtime() else {
                return ExitCode::from(2);
            };
            if notify_http {
                let rate = rate.unwrap_or(1000);
                let output = match runtime.block_on(cashier::cli::load_notify::run(orders, rate)) {
                    Ok((text, ok)) => cashier::cli::CommandOutput {
                        stdout: text,
                        exit_code: if ok { 0 } else { 1 },
                    },
                    Err(message) => cashier::cli::CommandOutput {
                        stdout: format!("error: {message}\n"),
                        exit_code: 2,
                    },
                };
                use std::io::Write;
                let _ = std::io::stdout().write_all(output.stdout.as_bytes());
                return ExitCode::from(u8::try_from(output.exit_code).unwrap_or(2));
            }
            let arguments = cashier::cli::load::LoadArguments {
                orders,
                concurrency,
                data_dir,
                json,
                chart,
                rate,
                seconds,
                unpaid,
            };
            match runtime.block_on(cashier::cli::load::run(&arguments)) {
                Ok((text, ok)) => cashier::cli::CommandOutput {
                    stdout: text,
                    exit_code: if ok { 0 } else { 1 },
                },
                Err(message) => cashier::cli::CommandOutput {
                    stdout: format!("error: {message}\n"),
                    exit_code: 2,
                },
            }
        }
        Command::Reconcile {
            day,
            data_dir,
            config,
            api_base,
            json,
        } => {
            let Some(runtime) = tokio_runtime() else {
                return ExitCode::from(2);
            };
            let arguments = cashier::cli::reconcile::ReconcileArguments {
                day,
                data_dir,
                config,
                api_base,
                json,
            };
            runtime.block_on(cashier::cli::reconcile::run(&arguments))
        }
        Command::Sign {
            key,
            example,
            input,
        } => {
            if example {
                let pairs = sign::EXAMPLE_PARAMETERS
                    .iter()
                    .map(|pair| Some((*pair).to_owned()))
                    .collect();
                sign::run(sign::EXAMPLE_KEY, SignInput::Pairs(pairs))
            } else {
                match sign_input(input) {
                    Ok(input) => sign::run(key.as_deref().unwrap_or_default(), input),
                    Err(message) => cashier::cli::CommandOutput {
                        stdout: format!("error: {message}\n"),
                        exit_code: 2,
                    },
                }
            }
        }
    };
    use std::io::Write;
    let _ = std::io::stdout().write_all(output.stdout.as_bytes());
    ExitCode::from(u8::try_from(output.exit_code).unwrap_or(2))
}
