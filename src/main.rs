use std::process::ExitCode;

use clap::Parser;
use flotilla::cli::{self, Cli, Exit};

fn main() -> ExitCode {
    if let Err(e) = color_eyre::install() {
        eprintln!("flotilla: {e}");
    }
    init_logging();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("flotilla: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::Internal.code() as u8);
        }
    };
    let exit = match runtime.block_on(cli::run(cli)) {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("flotilla: {e}");
            e.exit
        }
    };
    ExitCode::from(exit.code() as u8)
}

/// Diagnostics go to stderr only when asked for (FLOTILLA_LOG=debug), never onto the screen by default.
fn init_logging() {
    let Ok(filter) = std::env::var("FLOTILLA_LOG") else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}
