//! One module per subcommand; this one turns the command line into settings and dispatches.

pub mod cleanup;
pub mod context;
pub mod detect;
pub mod publish;
pub mod run;

use clap::ArgMatches;

use crate::cli::{Cli, Command};
use crate::error::{Error, Result};
use crate::settings::Settings;
use crate::settings::env::Env;
use crate::settings::options::Values;

/// Runs the parsed command line. `matches` carries which values came from the command line.
pub async fn run(cli: Cli, matches: &ArgMatches) -> Result<()> {
    crate::log::set_verbosity(if cli.global.quiet {
        0
    } else {
        1 + cli.global.verbose
    });
    let mut layers = vec![matches];
    if let Some((_, sub)) = matches.subcommand() {
        layers.push(sub);
    }
    let flags = Values::from_matches(&layers);
    let env = Env::from_process();
    let cwd = std::env::current_dir()
        .map_err(|e| Error::input(format!("cannot read the working directory: {e}")))?;
    let settings = Settings::build(flags, &env, &cwd)?;
    match cli.command {
        Command::Detect(_) => detect::run(&settings).await,
        Command::Publish(_) => publish::run(&settings).await,
        Command::Cleanup(_) => cleanup::run(&settings).await,
        Command::Run(_) => run::run(&settings).await,
        Command::CiEnv(_) => Err(Error::unsupported(
            "`dockhand ci-env` is not available in this version yet",
        )),
    }
}
