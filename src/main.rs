// Only `dockhand::env` reads the process environment (clippy.toml).
#![warn(clippy::disallowed_methods)]

use std::process::ExitCode;
use std::time::Duration;

use clap::FromArgMatches;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // clap prints help and usage errors before the settings exist: its colour comes from the
    // arguments and the environment snapshot directly.
    let env = dockhand::settings::env::Env::from_process();
    let color = dockhand::cli::clap_color(&args, env.get("DOCKHAND_COLOR"));
    let matches = match dockhand::cli::command()
        .color(color)
        .try_get_matches_from(std::env::args_os())
    {
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
        // Handlers are installed before any work. As a container's PID 1 this is what makes
        // SIGTERM work at all: the kernel delivers no signal to PID 1 whose disposition is the
        // default (signal(7), pid_namespaces(7)), so `docker stop` would wait out its grace period.
        let mut stop = dockhand::signals::Stop::install()?;
        tokio::select! {
            r = dockhand::commands::run(cli, &matches) => r,
            e = stop.wait() => Err(e),
        }
    });
    // Do not wait for blocking threads (a file read, a decompression) to finish.
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            dockhand::log::error(&e.to_string());
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
