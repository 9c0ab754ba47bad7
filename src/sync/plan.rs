//! The pure sync planner: from the source's and the mirror's tag → digest maps, what to copy,
//! update, leave and delete. No I/O.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Serialize;

/// What the plan does with one tag of the mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The source has it, the mirror does not.
    Copy,
    /// Both have it, on different digests.
    Update,
    /// Both have it on the same digest.
    Unchanged,
    /// The mirror has it, the source no longer does (only with `--delete-extra`).
    Delete,
}

/// One tag's step. `digest` is where the mirror's tag ends (the source's digest), or for a
/// deletion the digest the tag pointed at; `previous_digest` is the mirror's digest before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub tag: String,
    pub action: Action,
    pub digest: String,
    pub previous_digest: Option<String>,
}

/// The steps in tag order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub steps: Vec<Step>,
}

impl Plan {
    pub fn of(&self, action: Action) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(move |s| s.action == action)
    }
}

/// Whether `tag` is in scope: no filter means every tag; else any pattern matches.
pub fn selected(filter: &[Regex], tag: &str) -> bool {
    filter.is_empty() || filter.iter().any(|r| r.is_match(tag))
}

/// Plans a sync. Tags outside `filter` are left out on both sides (never touched); mirror tags
/// the source lacks are deleted only when `delete_extra`.
pub fn plan(
    source: &BTreeMap<String, String>,
    mirror: &BTreeMap<String, String>,
    filter: &[Regex],
    delete_extra: bool,
) -> Plan {
    let mut steps = Vec::new();
    for (tag, digest) in source.iter().filter(|(t, _)| selected(filter, t)) {
        let (action, previous) = match mirror.get(tag) {
            None => (Action::Copy, None),
            Some(d) if d == digest => (Action::Unchanged, Some(d.clone())),
            Some(d) => (Action::Update, Some(d.clone())),
        };
        steps.push(Step {
            tag: tag.clone(),
            action,
            digest: digest.clone(),
            previous_digest: previous,
        });
    }
    if delete_extra {
        for (tag, digest) in mirror
            .iter()
            .filter(|(t, _)| selected(filter, t) && !source.contains_key(*t))
        {
            steps.push(Step {
                tag: tag.clone(),
                action: Action::Delete,
                digest: digest.clone(),
                previous_digest: Some(digest.clone()),
            });
        }
    }
    steps.sort_by(|a, b| a.tag.cmp(&b.tag));
    Plan { steps }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(t, d)| (t.to_string(), d.to_string()))
            .collect()
    }

    fn actions(p: &Plan) -> Vec<(&str, Action)> {
        p.steps.iter().map(|s| (s.tag.as_str(), s.action)).collect()
    }

    #[test]
    fn missing_changed_same_and_extra() {
        let src = map(&[("a", "d1"), ("b", "d2"), ("c", "d3")]);
        let dst = map(&[("a", "d1"), ("b", "old"), ("x", "d9"), ("y", "d8")]);
        let filter = [Regex::new("^[a-x]$").unwrap()];
        let p = plan(&src, &dst, &filter, true);
        assert_eq!(
            actions(&p),
            [
                ("a", Action::Unchanged),
                ("b", Action::Update),
                ("c", Action::Copy),
                ("x", Action::Delete),
            ]
        );
        let b = &p.steps[1];
        assert_eq!(
            (b.digest.as_str(), b.previous_digest.as_deref()),
            ("d2", Some("old"))
        );
        assert_eq!(p.steps[3].digest, "d9");
    }

    #[test]
    fn extra_tags_stay_without_delete_extra() {
        let src = map(&[("a", "d1")]);
        let dst = map(&[("x", "d9")]);
        let p = plan(&src, &dst, &[], false);
        assert_eq!(actions(&p), [("a", Action::Copy)]);
    }

    #[test]
    fn tags_outside_the_filter_are_never_touched() {
        let src = map(&[("v1", "d1"), ("dev", "d2")]);
        let dst = map(&[("dev", "old"), ("tmp", "d3")]);
        let filter = [Regex::new("^v").unwrap()];
        let p = plan(&src, &dst, &filter, true);
        assert_eq!(actions(&p), [("v1", Action::Copy)]);
    }

    #[test]
    fn equal_repositories_plan_nothing_to_do() {
        let src = map(&[("a", "d1"), ("b", "d2")]);
        let p = plan(&src, &src.clone(), &[], true);
        assert!(p.steps.iter().all(|s| s.action == Action::Unchanged));
    }
}
