//! The `palera-voice` binary: parse the command line, run it, report errors.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = palera_server::cli::Cli::parse();
    match palera_server::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("palera-voice: {e:#}");
            match e.downcast_ref::<palera_server::cli::Exit>() {
                Some(exit) => std::process::ExitCode::from(exit.status),
                None => std::process::ExitCode::FAILURE,
            }
        }
    }
}
