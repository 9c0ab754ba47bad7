use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    let matches = match dockhand::cli::Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            // --help and --version are not errors; usage errors are bad input (exit 2).
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let cli = match dockhand::cli::Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        tokio::select! {
            r = dockhand::commands::run(cli, &matches) => r,
            _ = tokio::signal::ctrl_c() => Err(dockhand::Error::new(dockhand::Kind::Interrupted, "interrupted")),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            dockhand::log::error(&e.to_string());
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
