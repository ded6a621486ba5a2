use std::process::ExitCode;

use clap::Parser;
use gobuild_frontend::{cli, frontend, options::FrontendEnv};

fn main() -> ExitCode {
    // Logs go to stderr: in frontend mode stdout is the gRPC stream (and stderr the daemon log).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // In frontend mode stderr is the daemon's log file, not a terminal.
        .with_ansi(false)
        // `GOBUILD_LOG=gobuild_frontend=debug`: how long each read, the scan and the solve took.
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GOBUILD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    if std::env::args_os().len() == 1 && FrontendEnv::is_frontend(std::env::vars()) {
        frontend::main();
    }
    match cli::main(cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
