//! One module per subcommand; this one turns the command line into settings and dispatches.

pub mod ci_env;
pub mod cleanup;
pub mod completions;
pub mod context;
pub mod detect;
pub mod host;
pub mod promote;
pub mod publish;
pub mod run;
pub mod sync;

use clap::ArgMatches;

use crate::cli::{Cli, Command};
use crate::error::{Error, Result};
use crate::settings::env::Env;
use crate::settings::options::Values;
use crate::settings::{OnForkPr, Settings};

/// Runs the parsed command line. `matches` carries which values came from the command line.
pub async fn run(cli: Cli, matches: &ArgMatches) -> Result<()> {
    // These print what the command line is; no settings, no environment, no network.
    match &cli.command {
        Command::Completions(args) => return completions::print(args.shell),
        Command::Man(args) => return completions::man(args.command.as_deref()),
        _ => {}
    }
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
    // The log dialect and the secrets come first: on GitHub every secret is masked before any
    // other line, warnings about the settings included. The CI context is computed here, once
    // per run, and handed to the settings and `ci-env`.
    let ci = crate::ci::context::CiContext::from_env(&env);
    let vendor = ci.as_ref().map(|c| c.vendor);
    crate::log::set_dialect(crate::log::Dialect::of(vendor));
    // `--color` (or DOCKHAND_COLOR/INPUT_COLOR) as far as it is known before the settings are;
    // a bad value is reported by the settings stage, and the config file cannot set it.
    let early_color = match flags.get("color") {
        Some((crate::settings::options::Value::Text(t), _)) => crate::settings::parse_color(t).ok(),
        _ => None,
    }
    .or_else(|| {
        [
            crate::settings::env::DOCKHAND_PREFIX,
            crate::settings::env::INPUT_PREFIX,
        ]
        .iter()
        .find_map(|p| env.get(&format!("{p}COLOR")))
        .and_then(|t| crate::settings::parse_color(t).ok())
    })
    .unwrap_or_default();
    set_color(early_color, &env, vendor);
    crate::ci::progress::set_interval(env.get(crate::settings::env::DOCKHAND_PROGRESS_INTERVAL));
    crate::ci::register_secrets(&env, &flags);
    crate::log::flush_masks();
    let cwd = std::env::current_dir().map_err(|e| {
        Error::input(format!("cannot read the working directory: {e}")).with_source(e)
    })?;
    let settings = Settings::build(flags.clone(), &env, ci.as_ref(), &cwd)?;
    set_color(settings.color, &env, vendor);
    // `--image` with every repository is a conflict only where cleanup runs: a publish under a
    // config with `cleanup.repositories` (a pipeline's publish job) names its images freely.
    let cleans = match &cli.command {
        Command::Cleanup(_) => true,
        Command::Run(_) => settings.stages.iter().any(|s| s == "cleanup"),
        _ => false,
    };
    if cleans {
        settings.policy.check_images()?;
    }
    let writes = matches!(
        cli.command,
        Command::Publish(_)
            | Command::Promote(_)
            | Command::Cleanup(_)
            | Command::Sync(_)
            | Command::Run(_)
    );
    if writes
        && settings.on_fork_pr == OnForkPr::Skip
        && let Some(fork) = &settings.pipeline.fork_pr
    {
        // Checked after the settings (bad input is still exit 2), before any request.
        crate::log::notice(&format!(
            "skipped: this pull request comes from a fork ({fork}), whose GITHUB_TOKEN is read-only \
             and which gets no secrets, so nothing was published or deleted; \
             set on-fork-pr: run (--on-fork-pr run, DOCKHAND_ON_FORK_PR=run) to run anyway"
        ));
        return Ok(());
    }
    let work = async {
        match cli.command {
            Command::Detect(_) => detect::run(&settings).await,
            Command::Publish(_) => publish::run(&settings).await,
            Command::Promote(_) => promote::run(&settings).await,
            Command::Cleanup(_) => cleanup::run(&settings).await,
            Command::Sync(args) => sync::run(&settings, &args.source, &args.destination).await,
            Command::Run(_) => run::run(&settings).await,
            Command::CiEnv(args) => {
                let upper = ci_env::upper_layers(flags, &env, &settings)?;
                let format = args.format.as_ref().map(crate::cli::value_name);
                ci_env::run(&settings, &env, ci.as_ref(), &upper, format.as_deref())
            }
            Command::Completions(_) | Command::Man(_) => Ok(()),
        }
    };
    let Some(deadline) = settings.deadline else {
        return work.await;
    };
    // Dropping the work at the deadline aborts its requests and removes its temp files, as an
    // interruption does; the outcome is a failed operation (exit 1).
    match tokio::time::timeout(deadline, work).await {
        Ok(r) => r,
        Err(_) => Err(Error::operation(format!(
            "stopped: the run reached its deadline of {} (--deadline); work in progress was abandoned",
            humantime::format_duration(deadline)
        ))
        .with_hint("raise --deadline (DOCKHAND_DEADLINE), or find what was slow with -v")),
    }
}

/// Colour on stderr and stdout, and whether progress bars are drawn: `choice` over the automatic
/// rules (`log::color_wanted`), each stream judged by whether it is a terminal (console's check).
fn set_color(
    choice: crate::log::ColorChoice,
    env: &Env,
    vendor: Option<crate::ci::context::Vendor>,
) {
    let stderr_tty = console::Term::stderr().is_term();
    let stdout_tty = console::Term::stdout().is_term();
    crate::log::set_color(choice.decide(|| crate::log::color_wanted(env, stderr_tty, vendor)));
    // stdout is a result that may be captured (`> plan.txt`) even in a CI whose log renders
    // colour: automatic colour there only on a terminal (or with CLICOLOR_FORCE).
    crate::log::set_stdout_color(choice.decide(|| crate::log::color_wanted(env, stdout_tty, None)));
    // A bar only on a terminal: never in a CI log, never with -q, `TERM=dumb` or `--color never`.
    let dumb = env.get(crate::settings::env::TERM) == Some("dumb");
    crate::ci::progress::set_bars(
        stderr_tty
            && !dumb
            && crate::log::verbosity() >= 1
            && choice != crate::log::ColorChoice::Never,
    );
}
