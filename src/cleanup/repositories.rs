//! `cleanup --all-repositories`, the pure part: the repositories a registry lists become cleanup
//! scopes, and each gets its policy from `cleanup.repositories` (the first rule whose pattern
//! matches its name wins; the top-level policy is the default).
//!
//! Patterns are globs over the repository's path below the images repo (`backend`, `tools/ci`):
//! `*` is any run of characters within one path segment, `**` any run across segments, `?` one
//! character other than `/`; everything else is literal. Globs rather than regular expressions
//! because repository names are paths, and a literal name is then a valid pattern as it is.

use std::time::Duration;

use regex::Regex;

use super::model::{ImageScope, Plan};
use super::plan::PolicyInput;

/// What one rule changes of the top-level policy; `None` keeps the top-level value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub keep_last: Option<u32>,
    pub keep_younger_than: Option<Duration>,
    pub keep_tag: Option<Vec<Regex>>,
    pub only_tag: Option<Vec<Regex>>,
    pub grace: Option<Duration>,
    pub allow_latest: Option<bool>,
}

/// One entry of `cleanup.repositories`.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The glob as written.
    pub pattern: String,
    pub matcher: Regex,
    pub overrides: Overrides,
}

impl Rule {
    pub fn new(pattern: &str, overrides: Overrides) -> Result<Rule, String> {
        Ok(Rule {
            pattern: pattern.to_string(),
            matcher: glob(pattern)?,
            overrides,
        })
    }
}

/// The anchored regex of a repository glob, or why the pattern is no such glob.
pub fn glob(pattern: &str) -> Result<Regex, String> {
    if pattern.is_empty() {
        return Err("the pattern is empty; use `**` for every repository".into());
    }
    if let Some(c) = pattern
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/*?".contains(*c)))
    {
        return Err(format!(
            "{c:?} cannot be part of a repository name pattern: use lower-case letters, digits, \
             `.`, `_`, `-`, `/` and the wildcards `*` (within a segment), `**` (across segments) \
             and `?`"
        ));
    }
    if pattern.starts_with('/') || pattern.ends_with('/') || pattern.contains("//") {
        return Err("a path segment is empty (a leading, trailing or double `/`)".into());
    }
    if pattern.contains("***") {
        return Err("`***` is no wildcard; use `*` or `**`".into());
    }
    let mut re = String::from("^");
    let mut rest = pattern;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("**") {
            re.push_str(".*");
            rest = r;
        } else if let Some(r) = rest.strip_prefix('*') {
            re.push_str("[^/]*");
            rest = r;
        } else if let Some(r) = rest.strip_prefix('?') {
            re.push_str("[^/]");
            rest = r;
        } else {
            let c = rest.chars().next().unwrap_or_default();
            re.push_str(&regex::escape(&c.to_string()));
            rest = &rest[c.len_utf8()..];
        }
    }
    re.push('$');
    Regex::new(&re).map_err(|e| e.to_string())
}

/// Whether a pattern has no wildcard (it then names one repository).
pub fn is_literal(pattern: &str) -> bool {
    !pattern.contains(['*', '?'])
}

/// The name a rule matches: the path below the images repo (`team/backend` under `team` is
/// `backend`); the images repo itself, when it is a repository, is the empty name.
pub fn relative<'a>(path: &'a str, under: &str) -> &'a str {
    let under = under.trim_matches('/');
    if under.is_empty() {
        return path;
    }
    path.strip_prefix(under)
        .map(|r| r.trim_start_matches('/'))
        .unwrap_or(path)
}

/// One repository to clean: its scope (the whole repository) and the rule that gave its policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scope: ImageScope,
    /// Index into the rules; `None` for the top-level policy.
    pub rule: Option<usize>,
}

/// What `--all-repositories` cleans: one whole-repository scope per listed path (`paths` are
/// below `host`, at or under `under`), each with the first matching rule, plus the rules that
/// matched nothing (reported as a warning: a typo there would silently clean nothing special).
pub fn targets(
    host: &str,
    under: &str,
    paths: &[String],
    rules: &[Rule],
) -> (Vec<Target>, Vec<usize>) {
    let mut used = vec![false; rules.len()];
    let targets = paths
        .iter()
        .map(|path| {
            let name = relative(path, under);
            let rule = rules.iter().position(|r| r.matcher.is_match(name));
            if let Some(i) = rule {
                used[i] = true;
            }
            Target {
                scope: ImageScope {
                    image: (!name.is_empty()).then(|| name.to_string()),
                    repository: format!("{host}/{path}"),
                    prefix: None,
                },
                rule,
            }
        })
        .collect();
    let unused = (0..rules.len()).filter(|i| !used[*i]).collect();
    (targets, unused)
}

/// The top-level policy with a rule's overrides applied.
pub fn policy_for(base: &PolicyInput, rule: Option<&Rule>) -> PolicyInput {
    let mut p = base.clone();
    let Some(rule) = rule else {
        return p;
    };
    let o = &rule.overrides;
    if o.keep_last.is_some() {
        p.keep_last = o.keep_last;
    }
    if o.keep_younger_than.is_some() {
        p.keep_younger_than = o.keep_younger_than;
    }
    if let Some(k) = &o.keep_tag {
        p.keep_tag = k.clone();
    }
    if let Some(k) = &o.only_tag {
        p.only_tag = k.clone();
    }
    if let Some(g) = o.grace {
        p.grace = g;
    }
    if let Some(a) = o.allow_latest {
        p.allow_latest = a;
    }
    p
}

/// Joins the plans of repositories planned apart (each with its own policy) into one.
pub fn merge(plans: impl IntoIterator<Item = Plan>) -> Plan {
    let mut out = Plan::default();
    for p in plans {
        out.tags.extend(p.tags);
        out.digests.extend(p.digests);
        out.dependents.extend(p.dependents);
        out.untagged.extend(p.untagged);
        // A notice about the registry (not one repository) comes once.
        for n in p.notices {
            if !out.notices.contains(&n) {
                out.notices.push(n);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(p: &str, keep_last: u32) -> Rule {
        Rule::new(
            p,
            Overrides {
                keep_last: Some(keep_last),
                ..Default::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn globs_match_within_and_across_segments() {
        let g = glob("tools/*").unwrap();
        assert!(g.is_match("tools/ci"));
        assert!(!g.is_match("tools/ci/x"));
        assert!(!g.is_match("tools"));
        let g = glob("tools/**").unwrap();
        assert!(g.is_match("tools/ci/x"));
        let g = glob("app-?").unwrap();
        assert!(g.is_match("app-1"));
        assert!(!g.is_match("app-10"));
        // `.` is literal, not regex's any character.
        assert!(!glob("a.b").unwrap().is_match("axb"));
        assert!(glob("backend").unwrap().is_match("backend"));
        assert!(!glob("backend").unwrap().is_match("backend2"));
    }

    #[test]
    fn bad_globs_say_why() {
        assert!(glob("").unwrap_err().contains("empty"));
        assert!(glob("Backend").unwrap_err().contains("'B'"));
        assert!(glob("^api$").unwrap_err().contains("'^'"));
        assert!(glob("/api").unwrap_err().contains("segment"));
        assert!(glob("a//b").unwrap_err().contains("segment"));
        assert!(glob("a/***").unwrap_err().contains("***"));
    }

    #[test]
    fn first_matching_rule_wins_and_the_rest_get_the_default() {
        let rules = vec![
            rule("api", 1),
            rule("*", 5),
            rule("tools/**", 9),
            rule("gone", 2),
        ];
        let paths = vec![
            "team/api".to_string(),
            "team/web".to_string(),
            "team/tools/ci".to_string(),
        ];
        let (t, unused) = targets("r.example", "team", &paths, &rules);
        let got: Vec<_> = t
            .iter()
            .map(|t| {
                (
                    t.scope.repository.as_str(),
                    t.scope.image.as_deref(),
                    t.rule,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("r.example/team/api", Some("api"), Some(0)),
                ("r.example/team/web", Some("web"), Some(1)),
                ("r.example/team/tools/ci", Some("tools/ci"), Some(2)),
            ]
        );
        // `gone` matched nothing.
        assert_eq!(unused, vec![3]);
        assert!(t.iter().all(|t| t.scope.prefix.is_none()));
    }

    #[test]
    fn the_images_repo_itself_is_the_empty_name() {
        let (t, _) = targets("h", "team", &["team".to_string()], &[rule("*", 1)]);
        assert_eq!(t[0].scope.image, None);
        assert_eq!(t[0].rule, Some(0));
        assert_eq!(relative("a/b", ""), "a/b");
    }

    #[test]
    fn overrides_replace_only_what_they_name() {
        let base = PolicyInput {
            keep_last: Some(10),
            keep_tag: vec![Regex::new("^v").unwrap()],
            grace: Duration::from_secs(7200),
            ..Default::default()
        };
        let r = Rule::new(
            "x",
            Overrides {
                keep_last: Some(2),
                grace: Some(Duration::ZERO),
                ..Default::default()
            },
        )
        .unwrap();
        let p = policy_for(&base, Some(&r));
        assert_eq!(p.keep_last, Some(2));
        assert_eq!(p.grace, Duration::ZERO);
        assert_eq!(p.keep_tag.len(), 1);
        assert_eq!(policy_for(&base, None).keep_last, Some(10));
    }

    #[test]
    fn literal_patterns_are_told_apart() {
        assert!(is_literal("tools/ci"));
        assert!(!is_literal("tools/*"));
        assert!(!is_literal("app-?"));
    }
}
