//! The sync report: one JSON document (like cleanup's) and a table. A dry run reports the
//! plan's outcome words too (with `dry_run: true`), so both runs of one plan read the same.

use serde::Serialize;

use super::execute::{Results, Transfer};
use super::plan::{Action, Plan};

/// What happened to one tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Copied,
    Updated,
    Unchanged,
    Deleted,
    Failed,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Outcome::Copied => "copied",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
            Outcome::Deleted => "deleted",
            Outcome::Failed => "failed",
        };
        f.pad(s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagEntry {
    pub tag: String,
    pub action: Outcome,
    pub digest: String,
    pub previous_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub copied: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub deleted: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub source: String,
    pub destination: String,
    pub dry_run: bool,
    pub tags: Vec<TagEntry>,
    pub summary: Summary,
    /// Absent in a dry run (nothing moved).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer: Option<Transfer>,
}

/// The report of `plan`; `results` is `None` for a dry run (every step as planned).
pub fn build(
    source: &str,
    destination: &str,
    plan: &Plan,
    results: Option<(&Results, Transfer)>,
) -> Report {
    let mut summary = Summary::default();
    let tags = plan
        .steps
        .iter()
        .map(|s| {
            let error = results
                .and_then(|(r, _)| r.get(&s.tag))
                .and_then(|r| r.as_ref().err().cloned());
            let action = match (s.action, &error) {
                (_, Some(_)) => Outcome::Failed,
                (Action::Copy, None) => Outcome::Copied,
                (Action::Update, None) => Outcome::Updated,
                (Action::Unchanged, None) => Outcome::Unchanged,
                (Action::Delete, None) => Outcome::Deleted,
            };
            *match action {
                Outcome::Copied => &mut summary.copied,
                Outcome::Updated => &mut summary.updated,
                Outcome::Unchanged => &mut summary.unchanged,
                Outcome::Deleted => &mut summary.deleted,
                Outcome::Failed => &mut summary.failed,
            } += 1;
            TagEntry {
                tag: s.tag.clone(),
                action,
                digest: s.digest.clone(),
                previous_digest: s.previous_digest.clone(),
                error,
            }
        })
        .collect();
    Report {
        source: source.to_string(),
        destination: destination.to_string(),
        dry_run: results.is_none(),
        tags,
        summary,
        transfer: results.map(|(_, t)| t),
    }
}

/// `sha256:0123456789ab` (the first 12 hex digits), as the cleanup table shows digests.
fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

/// The human table: one line per tag, then the summary.
pub fn table(r: &Report) -> String {
    let width = r
        .tags
        .iter()
        .map(|t| t.tag.len())
        .max()
        .unwrap_or(3)
        .clamp(3, 80);
    let mut s = format!("{:<width$}  {:<9}  DIGEST\n", "TAG", "ACTION");
    for t in &r.tags {
        let mut line = format!("{:<width$}  {:<9}  {}", t.tag, t.action, short(&t.digest));
        if let Some(p) = t.previous_digest.as_deref().filter(|p| *p != t.digest) {
            line.push_str(&format!(" (was {})", short(p)));
        }
        if let Some(e) = &t.error {
            line.push_str(&format!("; error: {e}"));
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    let m = &r.summary;
    s.push_str(&format!(
        "{}{} → {}: {} copied, {} updated, {} unchanged, {} deleted, {} failed\n",
        if r.dry_run { "dry run: " } else { "" },
        r.source,
        r.destination,
        m.copied,
        m.updated,
        m.unchanged,
        m.deleted,
        m.failed
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::plan::Step;

    fn plan() -> Plan {
        let step = |tag: &str, action, digest: &str, prev: Option<&str>| Step {
            tag: tag.into(),
            action,
            digest: digest.into(),
            previous_digest: prev.map(Into::into),
        };
        Plan {
            steps: vec![
                step("a", Action::Copy, "sha256:aa", None),
                step("b", Action::Update, "sha256:bb", Some("sha256:b0")),
                step("x", Action::Delete, "sha256:xx", Some("sha256:xx")),
            ],
        }
    }

    #[test]
    fn dry_run_reports_the_plan_and_failures_count() {
        let p = plan();
        let dry = build("s/r", "d/r", &p, None);
        assert!(dry.dry_run);
        assert_eq!(
            dry.tags.iter().map(|t| t.action).collect::<Vec<_>>(),
            [Outcome::Copied, Outcome::Updated, Outcome::Deleted]
        );
        let mut results = Results::new();
        results.insert("a".into(), Ok(()));
        results.insert("b".into(), Err("denied".into()));
        results.insert("x".into(), Ok(()));
        let real = build("s/r", "d/r", &p, Some((&results, Transfer::default())));
        assert_eq!(real.summary.failed, 1);
        assert_eq!(real.tags[1].action, Outcome::Failed);
        let t = table(&real);
        assert!(
            t.contains("b    failed     sha256:bb (was sha256:b0); error: denied"),
            "{t}"
        );
    }
}
