//! The cleanup document (`--output json`, `--report FILE`) and the table in the log.

use serde::Serialize;

use super::execute::Results;
use super::model::{Action, DependentKind, Plan};
use super::plan::attached_subject;

#[derive(Debug, Serialize)]
pub struct TagEntry {
    pub repository: String,
    pub tag: String,
    pub digest: String,
    pub action: Action,
    pub reason: String,
    /// `deleted`, `kept`, `failed`, `deferred` (left for the next run by `--max-deletions` or
    /// the deadline), or `planned` in a dry run.
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

/// An untagged manifest judged by `--delete-untagged`.
#[derive(Debug, Serialize)]
pub struct UntaggedEntry {
    pub repository: String,
    pub digest: String,
    pub action: Action,
    pub reason: String,
    /// `deleted`, `kept`, `failed`, or `planned` in a dry run.
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub kept: usize,
    pub deleted: usize,
    pub failed: usize,
    /// Deletions left for the next run (`--max-deletions`, the deadline): no failure.
    pub deferred: usize,
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
    /// How long the deletions take at the registry API's pace, where a rate budget paces them
    /// (GitHub); absent elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pace: Option<Pace>,
    /// Untagged manifests judged by `--delete-untagged` (absent without it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub untagged: Vec<UntaggedEntry>,
    /// Rules that could not be applied as asked, and why (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<String>,
    /// With `--all-repositories`: one entry per repository cleaned, with the policy it got and
    /// its counts (absent otherwise, so other documents stay as they were).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<RepositoryEntry>,
}

/// The plan's estimate of the deletions' duration at the API's pace.
#[derive(Debug, Clone, Serialize)]
pub struct Pace {
    /// Deletions (whole images and single tags) this run carries out.
    pub deletions: usize,
    /// API requests they take (listings included).
    pub requests: usize,
    /// The estimate, in seconds.
    pub seconds: f64,
    /// The limits paced to (`--github-rate-limit` syntax).
    pub limits: String,
}

impl Pace {
    /// "deleting 5000 images takes ~1h 50m at the API's rate limits (…)".
    pub fn line(&self) -> String {
        let secs = self.seconds.round() as u64;
        let took = if secs >= 60 {
            humantime::format_duration(std::time::Duration::from_secs(secs - secs % 60)).to_string()
        } else {
            format!("{secs}s")
        };
        format!(
            "deleting {} image(s) takes ~{took} at the API's rate limits ({}; {} requests)",
            self.deletions, self.limits, self.requests
        )
    }
}

/// One repository of an `--all-repositories` cleanup.
#[derive(Debug, Serialize)]
pub struct RepositoryEntry {
    pub repository: String,
    /// The `cleanup.repositories` pattern whose policy applied, or `default`.
    pub policy: String,
    pub kept: usize,
    /// Deleted, or planned in a dry run (as `summary.deleted`).
    pub deleted: usize,
    pub failed: usize,
    /// Left for the next run by a budget (`--max-deletions`, `--deadline`).
    pub deferred: usize,
}

/// Fills `r.repositories`, one entry per `(repository, policy)` in the order given, counted the
/// way the summary counts (tags kept and deleted; failed tags and manifests).
pub fn group(r: &mut Report, repositories: &[(String, String)]) {
    r.repositories = repositories
        .iter()
        .map(|(repository, policy)| {
            let mut e = RepositoryEntry {
                repository: repository.clone(),
                policy: policy.clone(),
                kept: 0,
                deleted: 0,
                failed: 0,
                deferred: 0,
            };
            for t in r.tags.iter().filter(|t| &t.repository == repository) {
                match t.result {
                    "kept" => e.kept += 1,
                    "failed" => e.failed += 1,
                    "deferred" => e.deferred += 1,
                    _ => e.deleted += 1,
                }
            }
            e.failed += r
                .manifests
                .iter()
                .filter(|m| &m.repository == repository && m.result == "failed")
                .count();
            e
        })
        .collect();
}

/// What became of a planned action (`ran`: the plan was carried out, `outcome`: its result):
/// `kept`, `planned`, `deleted`, `deferred` or `failed`, with the error. A keep decided at run
/// time rewrites `reason` (dockhand's own re-check says why; the registry's is named as such).
fn result_of(
    action: Action,
    ran: bool,
    outcome: Option<&Result<(), super::execute::Failed>>,
    reason: &mut String,
    summary: &mut Summary,
) -> (&'static str, Option<String>) {
    match (action, ran, outcome) {
        (Action::Keep, _, _) => ("kept", None),
        (Action::Delete, false, _) => ("planned", None),
        (Action::Delete, true, Some(Ok(()))) => ("deleted", None),
        (Action::Delete, true, Some(Err(e))) if e.deferred => ("deferred", Some(e.message.clone())),
        (Action::Delete, true, Some(Err(e))) if e.kept && e.own => {
            *reason = e.message.clone();
            ("kept", None)
        }
        (Action::Delete, true, Some(Err(e))) if e.kept => {
            *reason = format!("kept by the registry: {}", e.message);
            ("kept", None)
        }
        (Action::Delete, true, Some(Err(e))) => {
            summary.refused += usize::from(e.refused);
            summary.count_denied(e);
            ("failed", Some(e.message.clone()))
        }
        (Action::Delete, true, None) => ("failed", Some("not attempted".to_string())),
    }
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
            let (result, error) = result_of(
                t.action,
                results.is_some(),
                outcome,
                &mut reason,
                &mut summary,
            );
            match result {
                "kept" => summary.kept += 1,
                "failed" => summary.failed += 1,
                "deferred" => summary.deferred += 1,
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
                (Some(_), Some(Err(e))) if e.deferred => ("deferred", Some(e.message.clone())),
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
    let untagged = plan
        .untagged
        .iter()
        .map(|u| {
            let outcome =
                results.and_then(|r| r.untagged.get(&(u.repository.clone(), u.digest.clone())));
            let mut reason = u.reason.clone();
            let (result, error) = result_of(
                u.action,
                results.is_some(),
                outcome,
                &mut reason,
                &mut summary,
            );
            if result == "failed" {
                summary.failed += 1;
            }
            UntaggedEntry {
                repository: u.repository.clone(),
                digest: u.digest.clone(),
                action: u.action,
                reason,
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
        pace: None,
        untagged,
        notices: plan.notices.clone(),
        repositories: Vec::new(),
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
        "deferred" => s.yellow(),
        "failed" => s.red().bold(),
        _ => s,
    }
}

/// Where a row of the table goes: on its own line, or folded under the row of the image it is
/// attached to (an index into `Report::tags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Own,
    Under(usize),
}

/// The row of the image that `digest` belongs to in `repository`: a tag row on that digest that is
/// not itself attached, else (a signature of a platform child, a referrer of a referrer) the row
/// of the manifest entry's parent, a few levels up at most.
fn image_row(r: &Report, repository: &str, digest: &str, depth: u8) -> Option<usize> {
    if let Some(i) = r.tags.iter().position(|t| {
        t.repository == repository && t.digest == digest && attached_subject(&t.tag).is_none()
    }) {
        return Some(i);
    }
    if depth == 0 {
        return None;
    }
    let m = r
        .manifests
        .iter()
        .find(|m| m.repository == repository && m.digest == digest)?;
    image_row(r, repository, &m.parent, depth - 1)
}

/// Which rows fold: attached tags (`sha256-<hex>`, `sha256-<hex>.sig/.att/.sbom`) and referrer
/// manifests, under the row of their image. A failure is never folded, nor a row whose image
/// has no row of its own.
fn places(r: &Report) -> (Vec<Place>, Vec<Place>) {
    let tags = r
        .tags
        .iter()
        .map(|t| match attached_subject(&t.tag) {
            Some(subject) if t.result != "failed" => {
                image_row(r, &t.repository, &subject, 3).map_or(Place::Own, Place::Under)
            }
            _ => Place::Own,
        })
        .collect();
    let manifests = r
        .manifests
        .iter()
        .map(|m| match m.kind {
            DependentKind::Referrer if m.result != "failed" => {
                image_row(r, &m.repository, &m.parent, 3).map_or(Place::Own, Place::Under)
            }
            _ => Place::Own,
        })
        .collect();
    (tags, manifests)
}

/// The table: one line per image tag, then the untagged manifests, then the counts. Attached
/// artifacts (signature, attestation, SBOM and referrers-index tags, referrer manifests) fold
/// into their image's line as "+N attached"; with `expand` (`-v`) they are listed, indented,
/// under it. The JSON document always lists everything. With `color`, results are coloured
/// (only when colour is on: `log::stdout_color`).
pub fn table(r: &Report, color: bool, expand: bool) -> String {
    let paint =
        |style: console::Style, text: String| style.force_styling(color).apply_to(text).to_string();
    let (tag_places, manifest_places) = places(r);
    let indent = "  ";
    let width = r
        .tags
        .iter()
        .zip(&tag_places)
        .filter(|(_, p)| expand || **p == Place::Own)
        .map(|(t, p)| {
            let extra = if *p == Place::Own { 0 } else { indent.len() };
            t.repository.len() + t.tag.len() + 1 + extra
        })
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
    let tag_line = |t: &TagEntry, prefix: &str, attached: usize| {
        let name = format!("{prefix}{}:{}", t.repository, t.tag);
        let mut reason = t.reason.clone();
        if attached > 0 {
            reason.push_str(&format!(" (+{attached} attached)"));
        }
        if let Some(e) = &t.error {
            reason.push_str(&format!("; error: {e}"));
        }
        let result = paint(result_style(t.result), format!("{:<8}", t.result));
        format!(
            "{result} {name:<width$}  {:<12}  {reason}\n",
            short(&t.digest)
        )
    };
    let manifest_line = |m: &ManifestEntry, prefix: &str| {
        let what = match m.kind {
            DependentKind::Child => "platform child",
            DependentKind::Referrer => "referrer",
        };
        let name = format!("{prefix}{}@{}", m.repository, short(&m.digest));
        let result = paint(result_style(m.result), format!("{:<8}", m.result));
        format!(
            "{result} {name:<width$}  {:<12}  {what} of {}\n",
            short(&m.digest),
            short(&m.parent)
        )
    };
    let mut folded = 0;
    for (i, (t, place)) in r.tags.iter().zip(&tag_places).enumerate() {
        if *place != Place::Own {
            folded += 1;
            continue;
        }
        let under = |p: &Place| *p == Place::Under(i);
        let attached_tags = r.tags.iter().zip(&tag_places).filter(|(_, p)| under(p));
        let attached_manifests = r
            .manifests
            .iter()
            .zip(&manifest_places)
            .filter(|(_, p)| under(p));
        let count = attached_tags.clone().count() + attached_manifests.clone().count();
        s.push_str(&tag_line(t, "", if expand { 0 } else { count }));
        if expand {
            for (a, _) in attached_tags {
                s.push_str(&tag_line(a, indent, 0));
            }
            for (m, _) in attached_manifests {
                s.push_str(&manifest_line(m, indent));
            }
        }
    }
    for (m, place) in r.manifests.iter().zip(&manifest_places) {
        if *place == Place::Own {
            s.push_str(&manifest_line(m, ""));
        } else {
            folded += 1;
        }
    }
    for u in &r.untagged {
        let name = format!("{}@{}", u.repository, short(&u.digest));
        let result = paint(result_style(u.result), format!("{:<8}", u.result));
        let mut reason = u.reason.clone();
        if let Some(e) = &u.error {
            reason.push_str(&format!("; error: {e}"));
        }
        s.push_str(&format!(
            "{result} {name:<width$}  {:<12}  {reason}\n",
            short(&u.digest)
        ));
    }
    if folded > 0 && !expand {
        s.push_str(&format!(
            "{folded} attached artifact(s) (signatures, attestations, SBOMs, origin records) counted in their image's line; -v lists them\n"
        ));
    }
    let verb = if r.dry_run { "to delete" } else { "deleted" };
    if !r.untagged.is_empty() {
        let count = |what: &str| r.untagged.iter().filter(|u| u.result == what).count();
        let gone = if r.dry_run {
            count("planned")
        } else {
            count("deleted")
        };
        s.push_str(&format!(
            "untagged manifests: {} kept, {gone} {verb}\n",
            count("kept")
        ));
    }
    if !r.repositories.is_empty() {
        let rw = r
            .repositories
            .iter()
            .map(|e| e.repository.len())
            .max()
            .unwrap_or(10)
            .clamp(10, 80);
        let pw = r
            .repositories
            .iter()
            .map(|e| e.policy.len())
            .max()
            .unwrap_or(6)
            .max(6);
        s.push_str(&paint(
            console::Style::new().bold(),
            // A dry run deletes nothing: its column counts what is planned.
            format!(
                "{:<rw$}  {:<pw$}  KEPT  {}  FAILED",
                "REPOSITORY",
                "POLICY",
                if r.dry_run { "PLANNED" } else { "DELETED" }
            ),
        ));
        s.push('\n');
        for e in &r.repositories {
            let deferred = if e.deferred > 0 {
                format!("  ({} deferred)", e.deferred)
            } else {
                String::new()
            };
            s.push_str(&format!(
                "{:<rw$}  {:<pw$}  {:>4}  {:>7}  {:>6}{deferred}\n",
                e.repository, e.policy, e.kept, e.deleted, e.failed
            ));
        }
    }
    let failed = format!("{} failed", r.summary.failed);
    let failed = if r.summary.failed > 0 {
        paint(console::Style::new().red().bold(), failed)
    } else {
        failed
    };
    let deferred = if r.summary.deferred > 0 {
        format!(", {} deferred to the next run", r.summary.deferred)
    } else {
        String::new()
    };
    s.push_str(&format!(
        "{} kept, {} {verb}, {failed}{deferred}\n",
        r.summary.kept, r.summary.deleted
    ));
    if let Some(p) = &r.pace {
        s.push_str(&p.line());
        s.push('\n');
    }
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
        pace: None,
        untagged: Vec::new(),
        notices: Vec::new(),
        repositories: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untagged_manifests_and_notices_are_reported() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let plan = Plan {
            untagged: vec![
                super::super::model::UntaggedPlan {
                    repository: "r.example/app".into(),
                    digest: d('a'),
                    action: Action::Delete,
                    reason: "untagged, pushed 5d ago (registry); no kept image references it"
                        .into(),
                    index: false,
                },
                super::super::model::UntaggedPlan {
                    repository: "r.example/app".into(),
                    digest: d('b'),
                    action: Action::Keep,
                    reason: "untagged; push time unknown".into(),
                    index: false,
                },
            ],
            notices: vec!["--keep-pulled-within 7d: this registry records no pulls".into()],
            ..Plan::default()
        };
        let r = build("default", &plan, None);
        let t = table(&r, false, false);
        assert!(
            t.contains("planned  r.example/app@aaaaaaaaaaaa") && t.contains("no kept image"),
            "{t}"
        );
        assert!(t.contains("untagged manifests: 1 kept, 1 to delete"), "{t}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["untagged"][0]["result"], "planned");
        assert_eq!(json["untagged"][1]["result"], "kept");
        assert_eq!(json["notices"][0], plan.notices[0]);
        // Without them the document is as before.
        let plain = serde_json::to_value(build("default", &Plan::default(), None)).unwrap();
        assert!(plain.get("untagged").is_none() && plain.get("notices").is_none());
    }

    /// [`sample`] with attached artifacts: the fallback index and a signature of the deleted
    /// image, a signature of a kept one, and an attestation whose deletion failed (never folded).
    fn with_attached() -> Report {
        let mut r = sample();
        let hex = |c: char| c.to_string().repeat(64);
        let d = |c: char| format!("sha256:{}", hex(c));
        let attached = |subject: char, suffix: &str, digest: char, result: &'static str| TagEntry {
            repository: "registry.example.com/team/backend".into(),
            tag: format!("sha256-{}{suffix}", hex(subject)),
            digest: d(digest),
            action: if result == "kept" {
                Action::Keep
            } else {
                Action::Delete
            },
            reason: if result == "kept" {
                format!("attached to kept {}", short(&d(subject)))
            } else {
                format!("attached to {}, which is deleted", short(&d(subject)))
            },
            result,
            error: (result == "failed").then(|| "DELETE returned 500".to_string()),
        };
        r.tags.extend([
            attached('c', "", '1', "deleted"),
            attached('c', ".sig", '2', "deleted"),
            attached('b', ".sig", '3', "kept"),
            attached('c', ".att", '4', "failed"),
        ]);
        r.summary.kept += 1;
        r.summary.deleted += 2;
        r.summary.failed += 1;
        r
    }

    /// Counts per repository, as the summary counts them; the table gains the lines, and the JSON
    /// document the key only in this mode.
    #[test]
    fn repositories_are_counted_apart() {
        let mut r = sample();
        let plain = serde_json::to_value(&r).unwrap();
        assert!(plain.get("repositories").is_none());
        assert!(!table(&r, false, false).contains("REPOSITORY"));
        group(
            &mut r,
            &[
                ("registry.example.com/team/backend".into(), "back*".into()),
                ("registry.example.com/team/empty".into(), "default".into()),
            ],
        );
        let counts: Vec<_> = r
            .repositories
            .iter()
            .map(|e| (e.policy.as_str(), e.kept, e.deleted, e.failed))
            .collect();
        let s = &r.summary;
        assert_eq!(
            counts,
            vec![("back*", s.kept, s.deleted, s.failed), ("default", 0, 0, 0)]
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["repositories"][1]["policy"], "default");
        let t = table(&r, false, false);
        assert!(
            t.lines()
                .any(|l| l.starts_with("registry.example.com/team/backend  back*")),
            "{t}"
        );
        // The count column says what it counts: planned in a dry run, deleted otherwise.
        let column = |dry_run: bool| {
            let mut r = sample();
            r.dry_run = dry_run;
            group(
                &mut r,
                &[("registry.example.com/team/backend".into(), "default".into())],
            );
            let t = table(&r, false, false);
            t.lines()
                .find(|l| l.starts_with("REPOSITORY"))
                .unwrap()
                .to_string()
        };
        assert!(
            column(true).contains("KEPT  PLANNED  FAILED"),
            "{}",
            column(true)
        );
        assert!(
            column(false).contains("KEPT  DELETED  FAILED"),
            "{}",
            column(false)
        );
    }

    #[test]
    fn plan_table() {
        insta::assert_snapshot!(table(&sample(), false, false));
    }

    /// Attached tags and referrers fold into their image's line; a failure stays visible.
    #[test]
    fn plan_table_folds_attached() {
        let t = table(&with_attached(), false, false);
        assert!(!t.contains(".sig"), "{t}");
        assert!(t.contains("sha256-cccc"), "the failed one stays: {t}");
        assert!(
            t.contains("the branch feature/x is gone (+3 attached)"),
            "{t}"
        );
        assert!(t.contains("the branch main exists (+1 attached)"), "{t}");
        insta::assert_snapshot!(t);
    }

    /// `-v`: the attached rows are listed, indented under their image.
    #[test]
    fn plan_table_verbose() {
        let t = table(&with_attached(), false, true);
        assert!(!t.contains("attached)"), "{t}");
        for tag in ["sha256-cccc", ".sig", ".att"] {
            assert!(t.contains(tag), "{tag}: {t}");
        }
        insta::assert_snapshot!(t);
    }

    /// The JSON document does not fold: every tag and manifest, as without attached rows.
    #[test]
    fn json_lists_every_attached_artifact() {
        let r = with_attached();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["tags"].as_array().unwrap().len(), r.tags.len());
        assert_eq!(v["manifests"].as_array().unwrap().len(), r.manifests.len());
        assert!(
            v["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["tag"].as_str().unwrap().ends_with(".sig"))
        );
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
        insta::assert_snapshot!(table(&r, false, false));
    }

    /// Deferred deletions are counted apart and are no failure; the pace says how long the
    /// deletions take.
    #[test]
    fn deferred_and_pace_in_the_table_and_document() {
        let mut r = sample();
        r.tags[2].result = "deferred";
        r.summary.deleted = 0;
        r.summary.deferred = 1;
        r.pace = Some(Pace {
            deletions: 5000,
            requests: 5460,
            seconds: 6612.4,
            limits: "requests=5000/1h,points=900/1m".into(),
        });
        let t = table(&r, false, false);
        assert!(
            t.contains("0 deleted, 1 failed, 1 deferred to the next run"),
            "{t}"
        );
        assert!(
            t.contains(
                "deleting 5000 image(s) takes ~1h 50m at the API's rate limits \
                 (requests=5000/1h,points=900/1m; 5460 requests)"
            ),
            "{t}"
        );
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["summary"]["deferred"], 1);
        assert_eq!(v["pace"]["seconds"], 6612.4);
        assert!(
            serde_json::to_value(sample())
                .unwrap()
                .get("pace")
                .is_none()
        );
    }

    /// With colour on, the results are coloured (escapes written as `\e` to keep the snapshot
    /// readable) and the columns line up as without colour.
    #[test]
    fn plan_table_coloured() {
        let coloured = table(&sample(), true, false);
        let plain = console::strip_ansi_codes(&coloured).to_string();
        assert_eq!(plain, table(&sample(), false, false));
        insta::assert_snapshot!(coloured.replace('\x1b', "\\e"));
    }
}
