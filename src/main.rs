//! The `cashier` command: `cashier sign` (signature diagnostic).

use std::io::Read;
use std::process::ExitCode;

use cashier::cli::sign::{self, SignInput};
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

fn main() -> ExitCode {
    let arguments = Arguments::parse();
    let output = match arguments.command {
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
    print!("{}", output.stdout);
    ExitCode::from(u8::try_from(output.exit_code).unwrap_or(2))
}
