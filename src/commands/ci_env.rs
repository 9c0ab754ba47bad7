//! `dockhand ci-env`: what the CI environment says and the settings it implies, each value with
//! the variable it came from — as `export` lines, a dotenv file or JSON. Secrets are shown as
//! references to the variable that holds them (`"${CI_JOB_TOKEN}"`), never as values.

use std::fmt::Write as _;

use serde::Serialize;

use crate::ci::context::CiContext;
use crate::ci::defaults::{self, Derived};
use crate::error::{Error, Result};
use crate::settings::env::{self, Env};
use crate::settings::options::Values;
use crate::settings::{Output, Settings};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Shell,
    Dotenv,
    Json,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format> {
        match s.to_ascii_lowercase().as_str() {
            "shell" | "export" => Ok(Format::Shell),
            "dotenv" | "env" => Ok(Format::Dotenv),
            "json" => Ok(Format::Json),
            _ => Err(Error::input(format!("--format: unknown format {s:?}"))
                .with_hint("use shell, dotenv or json")),
        }
    }
}

#[derive(Serialize)]
struct Entry<'a> {
    option: &'static str,
    variable: String,
    /// `null` for a secret.
    value: Option<&'a str>,
    from: &'a str,
    secret: bool,
    /// The user's value that wins over the CI's, if any.
    overridden_by: Option<&'a str>,
}

#[derive(Serialize)]
struct Implementation {
    value: &'static str,
    from: String,
}

#[derive(Serialize)]
struct Doc<'a> {
    ci: Option<&'a CiContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    implementation: Option<Implementation>,
    settings: Vec<Entry<'a>>,
}

/// `upper` is the user's layers (flags, `DOCKHAND_*`, `INPUT_*`, config) the CI values sit under.
pub fn run(
    settings: &Settings,
    env: &Env,
    ci: Option<&CiContext>,
    upper: &Values,
    format: Option<&str>,
) -> Result<()> {
    let format = match format {
        Some(f) => Format::parse(f)?,
        None if settings.output == Output::Json => Format::Json,
        None => Format::Shell,
    };
    let derived = defaults::derive(ci, env, upper);
    let implementation = defaults::implementation_hint(env, &derived);
    print!("{}", render(format, ci, implementation, &derived));
    Ok(())
}

/// Single-quoted for a POSIX shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

pub fn render(
    format: Format,
    ci: Option<&CiContext>,
    implementation: Option<(&'static str, String)>,
    derived: &[Derived],
) -> String {
    let mut s = String::new();
    match format {
        Format::Json => {
            let doc = Doc {
                ci,
                implementation: implementation.map(|(value, from)| Implementation { value, from }),
                settings: derived
                    .iter()
                    .map(|d| Entry {
                        option: d.option,
                        variable: d.variable(),
                        value: d.secret.is_none().then_some(d.value.as_str()),
                        from: &d.from,
                        secret: d.secret.is_some(),
                        overridden_by: d.overridden_by.as_deref(),
                    })
                    .collect(),
            };
            s = serde_json::to_string_pretty(&doc).unwrap_or_default();
            s.push('\n');
        }
        Format::Dotenv => {
            // Strict dotenv (GitLab's parser): KEY=VALUE lines only, no comments, no secrets.
            for d in derived
                .iter()
                .filter(|d| d.overridden_by.is_none() && d.secret.is_none())
            {
                let _ = writeln!(s, "{}={}", d.variable(), d.value.replace('\n', ","));
            }
        }
        Format::Shell => {
            match ci {
                None => s.push_str("# dockhand ci-env: not running in a CI\n"),
                Some(c) => {
                    let _ = writeln!(s, "# dockhand ci-env: {}", c.vendor.title());
                    let facts = [
                        ("branch", c.branch.as_ref()),
                        ("tag", c.tag.as_ref()),
                        ("commit", c.commit.as_ref()),
                        ("default branch", c.default_branch.as_ref()),
                        // Publish and cleanup skip it unless --on-fork-pr run.
                        ("pull request from a fork", c.fork.as_ref()),
                    ];
                    for (what, f) in facts {
                        if let Some(f) = f {
                            let _ = writeln!(s, "# {what}: {} (from {})", f.value, f.from);
                        }
                    }
                    if let Some(ch) = &c.change {
                        let _ = writeln!(s, "# change: {} (from {})", ch.tag(), ch.from);
                    }
                }
            }
            if let Some((i, from)) = &implementation {
                let _ = writeln!(s, "# implementation: {i} (the images repo is on {from})");
            }
            for d in derived {
                let var = d.variable();
                match (&d.overridden_by, d.secret) {
                    (Some(by), _) => {
                        let _ = writeln!(
                            s,
                            "# {var}: {by} is set and wins over the CI's value (from {})",
                            d.from
                        );
                    }
                    (None, Some(secret)) => {
                        let _ = writeln!(
                            s,
                            "export {var}=\"${{{secret}}}\"  # from {} (a reference; the value is never printed)",
                            d.from
                        );
                    }
                    (None, None) => {
                        let _ = writeln!(s, "export {var}={}  # from {}", quote(&d.value), d.from);
                    }
                }
            }
        }
    }
    s
}

/// The user's layers as `Settings::build` sees them, for telling which CI values are overridden.
pub fn upper_layers(flags: Values, env: &Env, settings: &Settings) -> Result<Values> {
    let mut upper = flags.over(
        env.options(env::DOCKHAND_PREFIX)?
            .over(env.options(env::INPUT_PREFIX)?),
    );
    if let Some(path) = &settings.config_path {
        upper = upper.over(crate::config::load(path)?.values);
    }
    Ok(upper)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::context;

    #[test]
    fn shell_exports_reference_secrets() {
        let env = Env::from_pairs([
            ("GITLAB_CI", "true"),
            ("CI_REGISTRY", "reg.example"),
            ("CI_REGISTRY_IMAGE", "reg.example/g/p"),
            ("CI_JOB_TOKEN", "glcbt-secret-value"),
            ("CI_COMMIT_TAG", "v1.0"),
        ]);
        let ci = context::detect(&env, None);
        let d = defaults::derive(ci.as_ref(), &env, &Values::default());
        let hint = defaults::implementation_hint(&env, &d);
        let out = render(Format::Shell, ci.as_ref(), hint.clone(), &d);
        assert!(!out.contains("glcbt-secret-value"), "{out}");
        assert!(
            out.contains("export DOCKHAND_REGISTRY_PASSWORD=\"${CI_JOB_TOKEN}\""),
            "{out}"
        );
        assert!(
            out.contains("export DOCKHAND_IMAGES_REPO='reg.example/g/p'  # from CI_REGISTRY_IMAGE"),
            "{out}"
        );
        assert!(
            out.contains("export DOCKHAND_TAG_GIT_TAG='v1.0'  # from CI_COMMIT_TAG"),
            "{out}"
        );
        assert!(out.contains("# implementation: gitlab"), "{out}");
        let dotenv = render(Format::Dotenv, ci.as_ref(), hint.clone(), &d);
        assert!(
            !dotenv.contains("glcbt") && !dotenv.contains('#'),
            "{dotenv}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render(Format::Json, ci.as_ref(), hint, &d)).unwrap();
        let pw = json["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["option"] == "registry_password")
            .unwrap();
        assert_eq!(pw["value"], serde_json::Value::Null);
        assert_eq!(pw["from"], "CI_JOB_TOKEN");
        assert_eq!(json["ci"]["vendor"], "gitlab");
    }
}
