//! Human log lines on stderr, in the dialect of the CI that runs us. Every line passes through the
//! secret scrubber.
//!
//! stdout is kept for the program's result (`--output json` makes it one JSON document), so the
//! CI's workflow commands go to stderr too: GitHub reads them from both streams.
//!
//! - GitHub: `::add-mask::` for every secret before any other line, `::group::` per stage,
//!   `::error::`/`::warning::` annotations (with file and line for config errors).
//! - GitLab: collapsible `section_start`/`section_end` per stage.
//! - Elsewhere: plain, timestamp-free lines.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::ci::context::Vendor;

static VERBOSITY: AtomicU8 = AtomicU8::new(1);
static DIALECT: AtomicU8 = AtomicU8::new(0);
static COLOR: AtomicBool = AtomicBool::new(false);
static COLOR_STDOUT: AtomicBool = AtomicBool::new(false);

/// 0 quiet, 1 normal, 2 verbose (`-v`), 3 debug (`-vv`).
pub fn set_verbosity(level: u8) {
    VERBOSITY.store(level, Ordering::Relaxed);
}

pub fn verbosity() -> u8 {
    VERBOSITY.load(Ordering::Relaxed)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Plain,
    GitHub,
    GitLab,
}

impl Dialect {
    pub fn of(vendor: Option<Vendor>) -> Dialect {
        match vendor {
            Some(Vendor::GitHub) => Dialect::GitHub,
            Some(Vendor::GitLab) => Dialect::GitLab,
            _ => Dialect::Plain,
        }
    }
}

pub fn set_dialect(d: Dialect) {
    DIALECT.store(d as u8, Ordering::Relaxed);
}

pub fn dialect() -> Dialect {
    match DIALECT.load(Ordering::Relaxed) {
        1 => Dialect::GitHub,
        2 => Dialect::GitLab,
        _ => Dialect::Plain,
    }
}

/// `--color`: `Auto` follows [`color_wanted`]; the others override it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour a stream, given what `auto` would decide for it.
    pub fn decide(self, auto: impl FnOnce() -> bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => auto(),
        }
    }
}

/// Colour on stderr (the log lines).
pub fn set_color(on: bool) {
    COLOR.store(on, Ordering::Relaxed);
}

pub fn color() -> bool {
    COLOR.load(Ordering::Relaxed)
}

/// Colour on stdout (the cleanup table), decided apart: stdout may go to a file while stderr
/// is a terminal.
pub fn set_stdout_color(on: bool) {
    COLOR_STDOUT.store(on, Ordering::Relaxed);
}

pub fn stdout_color() -> bool {
    COLOR_STDOUT.load(Ordering::Relaxed)
}

/// Whether to colour: `NO_COLOR` > `CLICOLOR_FORCE` > `CLICOLOR=0` > `TERM=dumb` > a terminal or
/// a CI whose log renders ANSI. Empty values count as unset (the `Env` snapshot drops them).
pub fn color_wanted(env: &crate::env::Env, is_tty: bool, vendor: Option<Vendor>) -> bool {
    use crate::env::{CLICOLOR, CLICOLOR_FORCE, NO_COLOR, TERM};
    if env.get(NO_COLOR).is_some() {
        return false;
    }
    if env.get(CLICOLOR_FORCE).is_some_and(|v| v != "0") {
        return true;
    }
    if env.get(CLICOLOR) == Some("0") || env.get(TERM) == Some("dumb") {
        return false;
    }
    is_tty
        || matches!(
            vendor,
            Some(Vendor::GitHub | Vendor::GitLab | Vendor::Buildkite | Vendor::Azure)
        )
}

/// `text` in `style` when stderr is coloured (console's styles, forced on or off by our rules
/// rather than by its own terminal check).
fn paint(style: console::Style, text: &str) -> String {
    style.force_styling(color()).apply_to(text).to_string()
}

fn masked() -> &'static Mutex<HashSet<String>> {
    static MASKED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    MASKED.get_or_init(|| Mutex::new(HashSet::new()))
}

/// On GitHub, registers every secret not yet masked with `::add-mask::`. Runs before each line,
/// so a secret learnt late (a minted token) is masked before anything else is printed.
pub fn flush_masks() {
    if dialect() != Dialect::GitHub {
        return;
    }
    let mut done = masked().lock().unwrap_or_else(|p| p.into_inner());
    for s in crate::secret::registered() {
        if done.insert(s.clone()) {
            eprintln!("::add-mask::{}", escape_data(&s));
        }
    }
}

/// GitHub's escaping of a command's message.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// GitHub's escaping of a command property's value.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Prints one line of ours. On GitHub, a line that would read as a workflow command (text from a
/// registry can start with `::`) is fenced with `::stop-commands::`.
fn line(text: &str) {
    suspend(|| line_now(text));
}

fn line_now(text: &str) {
    if dialect() == Dialect::GitHub && text.trim_start().starts_with("::") {
        let token = fence_token();
        eprintln!("::stop-commands::{token}");
        eprintln!("{text}");
        eprintln!("::{token}::");
    } else {
        eprintln!("{text}");
    }
}

fn fence_token() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("dockhand-{:x}-{}", nanos, std::process::id())
}

fn emit(min: u8, prefix: &str, msg: &str) {
    if verbosity() >= min {
        flush_masks();
        let text = crate::secret::scrub(msg);
        // The prefix marks the first line; continuation lines (hints) stay indented under it.
        for (i, l) in text.lines().enumerate() {
            if i == 0 {
                line(&format!("{prefix}{l}"))
            } else {
                line(l)
            }
        }
    }
}

pub fn info(msg: &str) {
    emit(1, "", msg);
}

pub fn verbose(msg: &str) {
    emit(2, "", msg);
}

pub fn debug(msg: &str) {
    emit(3, "debug: ", msg);
}

/// A notice: GitHub shows it as an annotation; elsewhere a `notice:` line.
pub fn notice(msg: &str) {
    if dialect() == Dialect::GitHub {
        annotate("notice", msg);
    } else {
        emit(
            0,
            &format!("{}: ", paint(console::Style::new().cyan(), "notice")),
            msg,
        );
    }
}

pub fn warn(msg: &str) {
    if dialect() == Dialect::GitHub {
        annotate("warning", msg);
    } else {
        emit(
            0,
            &format!("{}: ", paint(console::Style::new().yellow(), "warning")),
            msg,
        );
    }
}

pub fn error(msg: &str) {
    if dialect() == Dialect::GitHub {
        annotate("error", msg);
    } else {
        emit(
            0,
            &format!("{}: ", paint(console::Style::new().red().bold(), "error")),
            msg,
        );
    }
}

/// `file:line[:col]:` at the start of a message (config errors), for the annotation's location.
pub fn location(msg: &str) -> Option<(String, u32, Option<u32>)> {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(r"^([^\s:][^:\n]*?\.ya?ml):(\d+)(?::(\d+))?:").expect("static pattern")
    });
    let c = re.captures(msg)?;
    let file = c[1].to_string();
    let line = c[2].parse().ok()?;
    let col = c.get(3).and_then(|m| m.as_str().parse().ok());
    Some((file, line, col))
}

/// A GitHub annotation: one command line, the whole message (hints included) escaped into it.
fn annotate(kind: &str, msg: &str) {
    flush_masks();
    let text = crate::secret::scrub(msg);
    let mut props = vec!["title=dockhand".to_string()];
    if let Some((file, line, col)) = location(&text) {
        // Annotations link into the diff only with a path relative to the workspace (the cwd).
        let rel = std::env::current_dir()
            .ok()
            .and_then(|cwd| {
                std::path::Path::new(&file)
                    .strip_prefix(&cwd)
                    .ok()
                    .map(|p| p.display().to_string())
            })
            .unwrap_or(file);
        props.insert(0, format!("file={}", escape_property(&rel)));
        props.insert(1, format!("line={line}"));
        if let Some(c) = col {
            props.insert(2, format!("col={c}"));
        }
    }
    eprintln!("::{kind} {}::{}", props.join(","), escape_data(&text));
}

/// A stage of the run (`publish`, `cleanup`): a GitHub group or a GitLab section while it lives.
pub struct Stage {
    name: String,
}

pub fn stage(name: &str, title: &str) -> Stage {
    flush_masks();
    match dialect() {
        Dialect::GitHub => eprintln!("::group::{}", escape_data(title)),
        Dialect::GitLab => eprintln!(
            "\x1b[0Ksection_start:{}:dockhand_{name}\r\x1b[0K{}",
            unix_now(),
            paint(console::Style::new().cyan(), title)
        ),
        Dialect::Plain => {
            if verbosity() >= 1 {
                suspend(|| eprintln!("== {title}"))
            }
        }
    }
    Stage {
        name: name.to_string(),
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        match dialect() {
            Dialect::GitHub => eprintln!("::endgroup::"),
            Dialect::GitLab => eprintln!(
                "\x1b[0Ksection_end:{}:dockhand_{}\r\x1b[0K",
                unix_now(),
                self.name
            ),
            Dialect::Plain => {}
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The progress bars being drawn (`ci::progress`), if any, so that log lines can be printed above
/// them. Kept here, by the printer, so that the log does not depend on the progress module.
fn active() -> &'static std::sync::Mutex<Option<indicatif::MultiProgress>> {
    static ACTIVE: std::sync::OnceLock<std::sync::Mutex<Option<indicatif::MultiProgress>>> =
        std::sync::OnceLock::new();
    ACTIVE.get_or_init(|| std::sync::Mutex::new(None))
}

/// Runs `print` with the bars (if any are drawn) hidden, so the line lands above them.
pub fn suspend<R>(print: impl FnOnce() -> R) -> R {
    let bars = active().lock().unwrap_or_else(|p| p.into_inner()).clone();
    match bars {
        Some(b) => b.suspend(print),
        None => print(),
    }
}

/// Registers the bars being drawn (`None` when they are gone).
pub fn set_bars(bars: Option<indicatif::MultiProgress>) {
    *active().lock().unwrap_or_else(|p| p.into_inner()) = bars;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;

    #[test]
    fn colour_rules() {
        let env = |p: &[(&str, &str)]| Env::from_pairs(p.iter().copied());
        assert!(!color_wanted(&env(&[]), false, None));
        assert!(color_wanted(&env(&[]), true, None));
        assert!(!color_wanted(&env(&[("NO_COLOR", "1")]), true, None));
        assert!(
            color_wanted(&env(&[("NO_COLOR", "")]), true, None),
            "empty is unset"
        );
        assert!(color_wanted(&env(&[("CLICOLOR_FORCE", "1")]), false, None));
        assert!(!color_wanted(&env(&[("CLICOLOR_FORCE", "0")]), false, None));
        assert!(!color_wanted(&env(&[("CLICOLOR", "0")]), true, None));
        assert!(!color_wanted(&env(&[("TERM", "dumb")]), true, None));
        assert!(color_wanted(&env(&[]), false, Some(Vendor::GitLab)));
        assert!(!color_wanted(&env(&[]), false, Some(Vendor::Jenkins)));
    }

    #[test]
    fn colour_choice_overrides_auto() {
        assert!(ColorChoice::Always.decide(|| false));
        assert!(!ColorChoice::Never.decide(|| true));
        assert!(ColorChoice::Auto.decide(|| true));
        assert!(!ColorChoice::Auto.decide(|| false));
    }

    #[test]
    fn github_escaping() {
        assert_eq!(escape_data("50%\nnext\r"), "50%25%0Anext%0D");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }

    #[test]
    fn config_error_locations() {
        assert_eq!(
            location("dockhand.yaml:12:3: key `cleanup.keep_last`: invalid type"),
            Some(("dockhand.yaml".into(), 12, Some(3)))
        );
        assert_eq!(
            location("ci/werf.yml:4: image \"a\" is defined twice"),
            Some(("ci/werf.yml".into(), 4, None))
        );
        assert_eq!(location("--tag-custom: tag \"x:y\""), None);
    }
}
