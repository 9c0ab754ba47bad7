//! The option variables: `DOCKHAND_*` and `INPUT_*` read into an option layer, unknown names
//! refused, and the CI-default layer. The snapshot itself and every variable's name are in
//! [`crate::env`] (re-exported here), which the library below the edge reads.

use std::collections::HashMap;

pub use crate::env::*;
use crate::error::{Error, Result};
use crate::options::{EnvValues, OPTION_SPECS, Origin, Values};

/// Variables with the dockhand prefix that are not options but are still ours.
const OTHER_DOCKHAND_VARS: &[&str] = &[DOCKHAND_PROGRESS_INTERVAL];

impl Env {
    /// The options set through variables with `prefix` (`DOCKHAND_` or `INPUT_`). GitHub passes
    /// an input named `dry-run` as `INPUT_DRY-RUN`, verbatim: the kebab-case spelling and the
    /// underscore spelling of a name mean the same option.
    pub fn options(&self, prefix: &str) -> Result<Values> {
        let mut pairs: HashMap<String, (String, String)> = HashMap::new();
        for (k, v) in self.vars().filter(|(k, _)| k.starts_with(prefix)) {
            let canonical = canonical_name(k);
            if let Some((other, before)) = pairs.get(&canonical)
                && before != v
            {
                let (a, b) = if other.as_str() < k {
                    (other.as_str(), k)
                } else {
                    (k, other.as_str())
                };
                return Err(Error::input(format!(
                    "{a} and {b} name the same option with different values"
                ))
                .with_hint("set only one of them"));
            }
            pairs.insert(canonical, (k.to_string(), v.to_string()));
        }
        let written: HashMap<String, String> = pairs
            .iter()
            .map(|(c, (k, _))| (c.to_ascii_lowercase(), k.clone()))
            .collect();
        let parsed: EnvValues = envy::prefixed(prefix)
            .from_iter(pairs.into_iter().map(|(c, (_, v))| (c, v)))
            .map_err(|e| {
                Error::input(format!("environment variables {prefix}*: {e}")).with_source(e)
            })?;
        let prefix = prefix.to_string();
        Ok(parsed.into_values(move |name| {
            let canonical = format!("{prefix}{}", name.to_ascii_uppercase());
            Origin::Env(
                written
                    .get(&canonical.to_ascii_lowercase())
                    .cloned()
                    .unwrap_or(canonical),
            )
        }))
    }

    /// Refuses `DOCKHAND_*` and `INPUT_*` variables that name no option: a misspelt
    /// `INPUT_DRYRUN` silently ignored would turn a dry run into a real cleanup. The error names
    /// the variable and the closest real one.
    pub fn check_names(&self) -> Result<()> {
        if let Some(var) = self.unknown_vars().into_iter().next() {
            let (prefix, _) = split_prefix(&var).expect("prefixed");
            let suggestion = closest(&var)
                .map(|c| format!("did you mean {prefix}{}?", c.to_ascii_uppercase()))
                .unwrap_or_else(|| "see `dockhand --help` for the options".into());
            return Err(
                Error::input(format!("{var} is not a dockhand option; nothing was done"))
                    .with_hint(format!("{suggestion} (unset {var} or correct its name)")),
            );
        }
        Ok(())
    }

    /// `DOCKHAND_*` and `INPUT_*` variables that name no option, sorted.
    pub fn unknown_vars(&self) -> Vec<String> {
        let mut unknown: Vec<String> = self
            .vars()
            .filter_map(|(k, v)| {
                let (prefix, rest) = split_prefix(k)?;
                let name = rest.to_ascii_lowercase().replace('-', "_");
                let option = OPTION_SPECS.iter().any(|o| o.name == name);
                let known = match prefix {
                    DOCKHAND_PREFIX => {
                        // Our own dotenv report (`DOCKHAND_IMAGE_<NAME>=REF@DIGEST` and the
                        // outputs, `DOCKHAND_DELETED`, …) reaches later jobs.
                        let report = (name.starts_with("image_") && v.contains("@sha256:"))
                            || crate::ci::outputs::dotenv_output_keys()
                                .iter()
                                .any(|o| o == k);
                        option || OTHER_DOCKHAND_VARS.contains(&k) || report
                    }
                    _ => option || OTHER_INPUTS.contains(&name.as_str()),
                };
                (!known).then(|| k.to_string())
            })
            .collect();
        unknown.sort();
        unknown
    }

    /// The CI-derived layer (below the config file): what the CI implies, given the user's
    /// layers `upper` (see `ci::defaults`).
    pub fn ci_defaults(
        &self,
        ci: Option<&crate::ci::context::CiContext>,
        upper: &Values,
    ) -> Values {
        crate::ci::defaults::layer(&crate::ci::defaults::derive(ci, self, upper))
    }
}

/// Action inputs that are not options (the `token` input, and the action's outputs, which some
/// runners echo back as inputs of later steps).
const OTHER_INPUTS: &[&str] = &["token"];

fn split_prefix(var: &str) -> Option<(&'static str, &str)> {
    [DOCKHAND_PREFIX, INPUT_PREFIX]
        .into_iter()
        .find_map(|p| var.strip_prefix(p).map(|rest| (p, rest)))
}

/// `INPUT_DRY-RUN` → `INPUT_DRY_RUN`: the spelling envy and the option table use.
fn canonical_name(var: &str) -> String {
    var.to_ascii_uppercase().replace('-', "_")
}

/// The option whose name is closest to the variable's (after its prefix), if any is close:
/// the same letters without separators (`DRYRUN`), or at most a third of the letters edited.
fn closest(var: &str) -> Option<&'static str> {
    let (_, rest) = split_prefix(var)?;
    let name = rest.to_ascii_lowercase().replace('-', "_");
    let squash = |s: &str| s.replace('_', "");
    if let Some(o) = OPTION_SPECS
        .iter()
        .find(|o| squash(o.name) == squash(&name))
    {
        return Some(o.name);
    }
    OPTION_SPECS
        .iter()
        .map(|o| (edit_distance(o.name, &name), o.name))
        .filter(|(d, o)| *d <= o.len().max(name.len()) / 3)
        .min()
        .map(|(_, o)| o)
}

/// Levenshtein distance over bytes (option names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Value;

    #[test]
    fn reads_prefixed_options_with_their_names() {
        let env = Env::from_pairs([
            ("DOCKHAND_IMAGES_REPO", "localhost:5000/x"),
            ("DOCKHAND_TAG_CUSTOM", "a,b"),
            ("INPUT_IMAGES_REPO", "ghcr.io/o"),
            ("INPUT_OUTPUT", ""),
            ("DOCKHAND_IMAGES_REPOO", "typo"),
            ("DOCKHAND_IMAGE_API", "r.example/api:main@sha256:ab"),
            ("DOCKHAND_IMAGE_REPO", "r.example/x"),
        ]);
        let d = env.options(DOCKHAND_PREFIX).unwrap();
        assert_eq!(
            d.get("images_repo").unwrap().0,
            Value::List(vec!["localhost:5000/x".into()])
        );
        assert_eq!(
            d.get("images_repo").unwrap().1.label(),
            "DOCKHAND_IMAGES_REPO"
        );
        assert_eq!(
            d.get("tag_custom").unwrap().0,
            Value::List(vec!["a".into(), "b".into()])
        );
        let i = env.options(INPUT_PREFIX).unwrap();
        assert_eq!(
            i.get("images_repo").unwrap().0,
            Value::List(vec!["ghcr.io/o".into()])
        );
        assert!(i.get("output").is_none(), "empty inputs are unset");
        assert_eq!(
            env.unknown_vars(),
            vec![
                "DOCKHAND_IMAGES_REPOO".to_string(),
                "DOCKHAND_IMAGE_REPO".to_string()
            ],
            "a dotenv report's variable is ours, a typo is not"
        );
    }
}

#[cfg(test)]
mod name_tests {
    use super::*;
    use crate::options::Value;

    #[test]
    fn kebab_case_inputs_are_the_underscore_options() {
        let env = Env::from_pairs([("INPUT_DRY-RUN", "true"), ("INPUT_KEEP-LAST", "3")]);
        env.check_names().unwrap();
        let i = env.options(INPUT_PREFIX).unwrap();
        assert_eq!(i.get("dry_run").unwrap().0, Value::Bool(true));
        assert_eq!(i.get("keep_last").unwrap().1.label(), "INPUT_KEEP-LAST");
        let both = Env::from_pairs([("INPUT_DRY-RUN", "true"), ("INPUT_DRY_RUN", "false")]);
        let e = both.options(INPUT_PREFIX).unwrap_err();
        assert!(
            e.to_string().contains("INPUT_DRY-RUN and INPUT_DRY_RUN"),
            "{e}"
        );
    }

    #[test]
    fn unknown_names_are_refused_with_the_closest_option() {
        for (var, want) in [
            ("INPUT_DRYRUN", "INPUT_DRY_RUN"),
            ("INPUT_KEEP_LAT", "INPUT_KEEP_LAST"),
            ("DOCKHAND_KEEP_YOUNGER", "DOCKHAND_KEEP_YOUNGER_THAN"),
            ("DOCKHAND_IMAGES_REPOO", "DOCKHAND_IMAGES_REPO"),
        ] {
            let e = Env::from_pairs([(var, "1")]).check_names().unwrap_err();
            assert_eq!(e.kind, crate::error::Kind::Input);
            let text = format!("{e} {}", e.hint.clone().unwrap_or_default());
            assert!(text.contains(var) && text.contains(want), "{var}: {text}");
        }
        let e = Env::from_pairs([("INPUT_ZZZZZZZZ", "1")])
            .check_names()
            .unwrap_err();
        assert!(e.to_string().contains("INPUT_ZZZZZZZZ"));
        Env::from_pairs([
            ("INPUT_TOKEN", "t"),
            ("DOCKHAND_PROGRESS_INTERVAL", "1"),
            ("DOCKHAND_IMAGE_API", "r.example/api:main@sha256:ab"),
            ("DOCKHAND_DIGEST", "sha256:ab"),
            ("DOCKHAND_DELETED_TAGS", "r.example/api:old"),
            ("DOCKHAND_IMAGES", "[]"),
        ])
        .check_names()
        .unwrap();
    }
}
