//! The cleanup document (`--output json`, `--report FILE`) and the table in the log.

use serde::Serialize;

use super::execute::Results;
use super::model::{Action, DependentKind, Plan};

#[derive(Debug, Serialize)]
pub struct TagEntry {
    pub repository: String,
    pub tag: String,
    pub digest: String,
    pub action: Action,
    pub reason: String,
    /// `deleted`, `kept`, `failed`, or `planned` in a dry run.
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ManifestEntry {
    pub repository: String,
    pub digest: String,
    pub parent: String,
    pub kind: DependentKind,
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub kept: usize,
    pub deleted: usize,
    pub failed: usize,
    /// Failures because the registry cannot delete at all (part of `failed`).
    #[serde(skip)]
    pub refused: usize,
    /// Failures for lack of permission (part of `failed`), and the first one's message.
    #[serde(skip)]
    pub denied: usize,
    #[serde(skip)]
    pub first_denied: Option<String>,
}

impl Summary {
    fn count_denied(&mut self, e: &super::execute::Failed) {
        if e.denied {
            self.denied += 1;
            self.first_denied.get_or_insert_with(|| e.message.clone());
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub implementation: &'static str,
    pub dry_run: bool,
    pub tags: Vec<TagEntry>,
    /// Untagged manifests deleted with their image (index children, referrers).
    pub manifests: Vec<ManifestEntry>,
    pub summary: Summary,
}

fn lost_entry(l: &super::execute::Lost) -> TagEntry {
    let (repository, tag, digest) = (&l.repository, &l.tag, &l.digest);
    let error = if l.certain {
        format!(
            "lost: {repository}:{tag} was put on {digest} while this cleanup deleted that digest; push the tag again"
        )
    } else {
        format!(
            "{repository}:{tag} disappeared while cleanup ran: deleted by someone else, or moved onto a digest this cleanup deleted; check it and push it again if it must exist"
        )
    };
    TagEntry {
        repository: repository.clone(),
        tag: tag.clone(),
        digest: digest.clone(),
        action: Action::Keep,
        reason: "not planned for deletion, but gone after the run".into(),
        result: "failed",
        error: Some(error),
    }
}

/// Joins the plan with what happened (`results` is `None` in a dry run).
pub fn build(implementation: &'static str, plan: &Plan, results: Option<&Results>) -> Report {
    let mut summary = Summary::default();
    let lost = |t: &super::model::TagPlan| {
        results.and_then(|r| {
            r.lost
                .iter()
                .find(|l| l.repository == t.repository && l.tag == t.tag)
        })
    };
    let mut tags: Vec<TagEntry> = plan
        .tags
        .iter()
        .map(|t| {
            if let Some(l) = lost(t) {
                summary.failed += 1;
                return lost_entry(l);
            }
            let outcome = results.and_then(|r| r.tags.get(&(t.repository.clone(), t.tag.clone())));
            let mut reason = t.reason.clone();
            let (result, error) = match (t.action, results, outcome) {
                (Action::Keep, _, _) => ("kept", None),
                (Action::Delete, None, _) => ("planned", None),
                (Action::Delete, Some(_), Some(Ok(()))) => ("deleted", None),
                (Action::Delete, Some(_), Some(Err(e))) if e.kept && e.own => {
                    reason = e.message.clone();
                    ("kept", None)
                }
                (Action::Delete, Some(_), Some(Err(e))) if e.kept => {
                    reason = format!("kept by the registry: {}", e.message);
                    ("kept", None)
                }
                (Action::Delete, Some(_), Some(Err(e))) => {
                    summary.refused += usize::from(e.refused);
                    summary.count_denied(e);
                    ("failed", Some(e.message.clone()))
                }
                (Action::Delete, Some(_), None) => ("failed", Some("not attempted".to_string())),
            };
            match result {
                "kept" => summary.kept += 1,
                "failed" => summary.failed += 1,
                _ => summary.deleted += 1,
            }
            TagEntry {
                repository: t.repository.clone(),
                tag: t.tag.clone(),
                digest: t.digest.clone(),
                action: t.action,
                reason,
                result,
                error,
            }
        })
        .collect();
    // Tags outside the plan lost with a deleted digest (moved onto it during the run).
    for l in results.map(|r| r.lost.as_slice()).unwrap_or_default() {
        if !plan
            .tags
            .iter()
            .any(|t| t.repository == l.repository && t.tag == l.tag)
        {
            summary.failed += 1;
            tags.push(lost_entry(l));
        }
    }
    let manifests = plan
        .dependents
        .iter()
        .map(|d| {
            let outcome =
                results.and_then(|r| r.manifests.get(&(d.repository.clone(), d.digest.clone())));
            let (result, error) = match (results, outcome) {
                (None, _) => ("planned", None),
                (Some(_), Some(Ok(()))) => ("deleted", None),
                (Some(_), Some(Err(e))) if e.kept && e.own => ("kept", Some(e.message.clone())),
                (Some(_), Some(Err(e))) if e.kept => {
                    ("kept", Some(format!("kept by the registry: {}", e.message)))
                }
                (Some(_), Some(Err(e))) => {
                    summary.refused += usize::from(e.refused);
                    summary.count_denied(e);
                    ("failed", Some(e.message.clone()))
                }
                (Some(_), None) => ("failed", Some("not attempted".to_string())),
            };
            if result == "failed" {
                summary.failed += 1;
            }
            ManifestEntry {
                repository: d.repository.clone(),
                digest: d.digest.clone(),
                parent: d.parent.clone(),
                kind: d.kind,
                result,
                error,
            }
        })
        .collect();
    Report {
        implementation,
        dry_run: results.is_none(),
        tags,
        manifests,
        summary,
    }
}

fn short(d: &str) -> &str {
    let hex = d.split_once(':').map_or(d, |(_, h)| h);
    &hex[..hex.len().min(12)]
}

/// How a result reads in the table when colour is on: kept green, deleted and planned red,
/// failed bold red; the padding is done before the colour, so the columns stay aligned.
fn result_style(result: &str) -> console::Style {
    let s = console::Style::new();
    match result {
        "kept" => s.green(),
        "deleted" | "planned" => s.red(),
        "failed" => s.red().bold(),
        _ => s,
    }
}

/// The table: one line per tag, then the untagged manifests, then the counts. With `color`,
/// results are coloured (only when colour is on: `log::stdout_color`).
pub fn table(r: &Report, color: bool) -> String {
    let paint =
        |style: console::Style, text: String| style.force_styling(color).apply_to(text).to_string();
    let width = r
        .tags
        .iter()
        .map(|t| t.repository.len() + t.tag.len() + 1)
        .max()
        .unwrap_or(10)
        .clamp(10, 80);
    let mut s = paint(
        console::Style::new().bold(),
        format!(
            "{:<8} {:<width$}  {:<12}  REASON",
            "RESULT", "TAG", "DIGEST"
        ),
    );
    s.push('\n');
    for t in &r.tags {
        let name = format!("{}:{}", t.repository, t.tag);
        let reason = match &t.error {
            Some(e) => format!("{}; error: {e}", t.reason),
            None => t.reason.clone(),
        };
        let result = paint(result_style(t.result), format!("{:<8}", t.result));
        s.push_str(&format!(
            "{result} {name:<width$}  {:<12}  {reason}\n",
            short(&t.digest)
        ));
    }
    for m in &r.manifests {
        let what = match m.kind {
            DependentKind::Child => "platform child",
            DependentKind::Referrer => "referrer",
        };
        let name = format!("{}@{}", m.repository, short(&m.digest));
        let result = paint(result_style(m.result), format!("{:<8}", m.result));
        s.push_str(&format!(
            "{result} {name:<width$}  {:<12}  {what} of {}\n",
            short(&m.digest),
            short(&m.parent)
        ));
    }
    let verb = if r.dry_run { "to delete" } else { "deleted" };
    let failed = format!("{} failed", r.summary.failed);
    let failed = if r.summary.failed > 0 {
        paint(console::Style::new().red().bold(), failed)
    } else {
        failed
    };
    s.push_str(&format!(
        "{} kept, {} {verb}, {failed}\n",
        r.summary.kept, r.summary.deleted
    ));
    s
}

/// A fixed report for the snapshot tests here and in `ci::outputs`: every result, an error, a
/// platform child and a referrer.
#[cfg(test)]
pub(crate) fn sample() -> Report {
    let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
    let tag =
        |tag: &str, digest: String, action, reason: &str, result, error: Option<&str>| TagEntry {
            repository: "registry.example.com/team/backend".into(),
            tag: tag.into(),
            digest,
            action,
            reason: reason.into(),
            result,
            error: error.map(str::to_string),
        };
    Report {
        implementation: "default",
        dry_run: false,
        tags: vec![
            tag(
                "v1.2.0",
                d('a'),
                Action::Keep,
                "matches --keep-tag ^v",
                "kept",
                None,
            ),
            tag(
                "main",
                d('b'),
                Action::Keep,
                "the branch main exists",
                "kept",
                None,
            ),
            tag(
                "feature-x-1a2b3c4d",
                d('c'),
                Action::Delete,
                "the branch feature/x is gone",
                "deleted",
                None,
            ),
            tag(
                "pr-17",
                d('e'),
                Action::Delete,
                "older than --keep-younger-than 30d",
                "failed",
                Some("DELETE returned 500"),
            ),
        ],
        manifests: vec![
            ManifestEntry {
                repository: "registry.example.com/team/backend".into(),
                digest: d('f'),
                parent: d('c'),
                kind: DependentKind::Child,
                result: "deleted",
                error: None,
            },
            ManifestEntry {
                repository: "registry.example.com/team/backend".into(),
                digest: d('9'),
                parent: d('c'),
                kind: DependentKind::Referrer,
                result: "deleted",
                error: None,
            },
        ],
        summary: Summary {
            kept: 2,
            deleted: 1,
            failed: 1,
            ..Summary::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_table() {
        insta::assert_snapshot!(table(&sample(), false));
    }

    #[test]
    fn plan_table_dry_run() {
        let mut r = sample();
        r.dry_run = true;
        r.tags.retain(|t| t.result != "failed");
        for t in &mut r.tags {
            if t.result == "deleted" {
                t.result = "planned";
            }
        }
        for m in &mut r.manifests {
            m.result = "planned";
        }
        r.summary.failed = 0;
        insta::assert_snapshot!(table(&r, false));
    }

    /// With colour on, the results are coloured (escapes written as `\e` to keep the snapshot
    /// readable) and the columns line up as without colour.
    #[test]
    fn plan_table_coloured() {
        let coloured = table(&sample(), true);
        let plain = console::strip_ansi_codes(&coloured).to_string();
        assert_eq!(plain, table(&sample(), false));
        insta::assert_snapshot!(coloured.replace('\x1b', "\\e"));
    }
}
