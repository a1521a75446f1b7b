use std::process::ExitCode;

use clap::Parser;
use flotilla::cli::{self, Cli, Exit};

fn main() -> ExitCode {
    // A shell asking for completions gets them and nothing else.
    cli::completions::answer_completion_requests();
    if let Err(e) = color_eyre::install() {
        eprintln!("flotilla: {e}");
    }
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    let daemon = matches!(cli.command, Some(cli::Command::PersistDaemon(_)));
    init_logging(cli.command.is_none(), daemon);
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
        Err(e) if e.message.is_empty() => e.exit,
        Err(e) => {
            eprintln!("flotilla: {e}");
            e.exit
        }
    };
    // A read of stdin still pending (`exec -i` after the command ended) is a
    // blocking task the runtime would otherwise wait for.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    ExitCode::from(exit.code() as u8)
}

/// `flotilla ps | head -1`: a reader that went away ends the output quietly
/// (like ripgrep), not with a panic report. `print!` panics on a closed
/// stdout; this hook turns exactly that panic into a clean exit.
fn quiet_on_broken_pipe() {
    let next = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            std::process::exit(Exit::Ok.code());
        }
        next(info);
    }));
}

/// Diagnostics never go onto the TUI's screen: the TUI logs to a file
/// (`$XDG_STATE_HOME/flotilla/flotilla.log`); headless verbs log to stderr only
/// when asked (FLOTILLA_LOG=debug).
fn init_logging(tui: bool, daemon: bool) {
    let filter = std::env::var("FLOTILLA_LOG").ok();
    // The persistent-session daemon's stderr is its log file.
    if daemon {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                filter.as_deref().unwrap_or("info"),
            ))
            .with_ansi(false)
            .with_writer(std::io::stderr)
            .try_init();
        return;
    }
    if tui {
        let path = flotilla::ops::AuditLog::from_env()
            .path()
            .with_file_name("flotilla.log");
        let file = flotilla::private::append(&path).ok();
        if let Some(file) = file {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(
                    filter.as_deref().unwrap_or("info"),
                ))
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .try_init();
        }
        return;
    }
    if let Some(filter) = filter {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
}
