//! Files a pipeline reads back after a run: GitHub step outputs and job summary, GitLab's dotenv
//! report, a JUnit report. The text of each is built by a pure function; [`write`] appends or
//! writes the files the settings and the pipeline name.
//!
//! The outputs ([`OUTPUTS`], declared in action.yml and tabled in the README): `digest` (the
//! digest when one image was published, as docker/build-push-action's output), `tags` and `refs`
//! (the published tags and references), `images` (the publish document's `images`, compact
//! JSON), `digests` (`REF@DIGEST`), `deleted`, `kept`, `failed` (cleanup counts) and
//! `deleted-tags` (`REPO:TAG`); `deleted_tags` is the older name of `deleted-tags`. On GitHub,
//! lists are one item a line, and multi-line values use the heredoc form with a random delimiter
//! (https://docs.github.com/en/actions/writing-workflows/choosing-what-your-workflow-does/workflow-commands-for-github-actions#multiline-strings).
//! GitLab's dotenv report has the same names upper-cased with `DOCKHAND_` (`DOCKHAND_DELETED_TAGS`),
//! lists comma-separated, since it takes no multi-line value
//! (https://docs.gitlab.com/ci/yaml/artifacts_reports/#artifactsreportsdotenv).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::Pipeline;
use crate::cleanup::report::Report;
use crate::error::{Classify, Error, Kind, Result};
use crate::publish::report::PublishReport;

/// What a command produced.
#[derive(Clone, Copy, Default)]
pub struct Results<'a> {
    pub publish: Option<&'a PublishReport>,
    pub cleanup: Option<&'a Report>,
}

/// The report files the user asked for (`--dotenv`, `--junit`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Files<'a> {
    pub dotenv: Option<&'a Path>,
    pub junit: Option<&'a Path>,
}

/// Writes every output file that applies. Secrets are never part of any of them.
pub fn write(files: Files, pipeline: &Pipeline, r: Results) -> Result<()> {
    if let Some(path) = &pipeline.github_output {
        append(path, &github_outputs(r, &delimiter()), "GITHUB_OUTPUT")?;
    }
    if let Some(path) = &pipeline.github_summary {
        append(path, &summary(r), "GITHUB_STEP_SUMMARY")?;
    }
    if let Some(path) = files
        .dotenv
        .filter(|_| r.publish.is_some() || r.cleanup.is_some())
    {
        let (text, warnings) = dotenv(r);
        for w in warnings {
            crate::log::warn(&w);
        }
        std::fs::write(path, text).map_err(|e| OutputError::write("--dotenv", path, e))?;
    }
    if let Some(path) = files.junit {
        std::fs::write(path, junit(r)).map_err(|e| OutputError::write("--junit", path, e))?;
    }
    Ok(())
}

/// [`write`] for a run over several targets: the publish document (its `targets` give a summary
/// table each) and each target's cleanup. The outputs add the cleanups up (`deleted`, `kept`,
/// `failed` summed, `deleted-tags` joined; every tag names its registry), and the job summary
/// has a cleanup table per target. One cleanup (or none) is exactly [`write`].
pub fn write_targets(
    files: Files,
    pipeline: &Pipeline,
    publish: Option<&PublishReport>,
    cleanups: &[(&str, &Report)],
) -> Result<()> {
    if cleanups.len() < 2 {
        return write(
            files,
            pipeline,
            Results {
                publish,
                cleanup: cleanups.first().map(|(_, r)| *r),
            },
        );
    }
    let pairs = combined_values(publish, cleanups);
    if let Some(path) = &pipeline.github_output {
        append(path, &github_text(&pairs, &delimiter()), "GITHUB_OUTPUT")?;
    }
    if let Some(path) = &pipeline.github_summary {
        let mut text = summary(Results {
            publish,
            cleanup: None,
        });
        for (repo, r) in cleanups {
            let one = summary(Results {
                publish: None,
                cleanup: Some(r),
            });
            // The section's heading names its target.
            text.push_str(&one.replacen("\n", &format!(": `{}`\n", cell(repo)), 1));
        }
        append(path, &text, "GITHUB_STEP_SUMMARY")?;
    }
    if let Some(path) = files.dotenv {
        let (text, warnings) = dotenv_text(publish, pairs);
        for w in warnings {
            crate::log::warn(&w);
        }
        std::fs::write(path, text).map_err(|e| OutputError::write("--dotenv", path, e))?;
    }
    if let Some(path) = files.junit {
        // One JUnit document: the publish, and a cleanup suite per target.
        std::fs::write(path, junit_targets(publish, cleanups))
            .map_err(|e| OutputError::write("--junit", path, e))?;
    }
    Ok(())
}

/// The outputs of a publish and of several cleanups, added up.
fn combined_values(
    publish: Option<&PublishReport>,
    cleanups: &[(&str, &Report)],
) -> Vec<(&'static str, Vec<String>)> {
    let mut pairs = output_values(Results {
        publish,
        cleanup: None,
    });
    let mut cleanup: Vec<(&'static str, Vec<String>)> = Vec::new();
    for (_, r) in cleanups {
        for (name, items) in output_values(Results {
            publish: None,
            cleanup: Some(r),
        }) {
            match cleanup.iter_mut().find(|(n, _)| *n == name) {
                None => cleanup.push((name, items)),
                Some((_, have)) if ["deleted", "kept", "failed"].contains(&name) => {
                    let sum: usize = have
                        .iter()
                        .chain(&items)
                        .filter_map(|v| v.parse::<usize>().ok())
                        .sum();
                    *have = vec![sum.to_string()];
                }
                Some((_, have)) => have.extend(items),
            }
        }
    }
    pairs.extend(cleanup);
    pairs
}

fn append(path: &Path, text: &str, what: &'static str) -> Result<()> {
    // Other steps' writers share these files: append, never truncate.
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| OutputError::write(what, path, e))
}

/// An output file that could not be written (`what`: `--dotenv`, `--junit`, `GITHUB_OUTPUT`, …).
#[derive(Debug, thiserror::Error)]
#[error("cannot write {what} {}: {source}", path.display())]
pub struct OutputError {
    pub what: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl OutputError {
    fn write(what: &'static str, path: &Path, source: std::io::Error) -> Error {
        Error::from_layer(OutputError {
            what,
            path: path.to_path_buf(),
            source,
        })
    }
}

impl Classify for OutputError {
    fn kind(&self) -> Kind {
        Kind::Operation
    }
}

/// A heredoc delimiter no value can guess: `ghadelimiter_<random hex>` (std's per-process
/// random hash keys, no extra dependency).
fn delimiter() -> String {
    use std::hash::{BuildHasher, RandomState};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let a = RandomState::new().hash_one(nanos);
    let b = RandomState::new().hash_one(a);
    format!("ghadelimiter_{a:016x}{b:016x}")
}

/// Every output a run can write, in the order written (`deleted_tags` is the older name of
/// `deleted-tags`, still written).
pub const OUTPUTS: &[&str] = &[
    "digest",
    "tags",
    "refs",
    "images",
    "digests",
    "targets",
    "deleted",
    "kept",
    "failed",
    "deleted-tags",
    "deleted_tags",
];

/// The tag of a reference (`host:5000/a/b:tag` → `tag`).
fn tag_of(reference: &str) -> &str {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    last.rsplit_once(':').map_or("", |(_, t)| t)
}

fn unique(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items.filter(|i| seen.insert(i.clone())).collect()
}

/// The outputs of a run as (name, items): a list has one item per entry, a scalar one item.
/// Lists are joined per file format (lines on GitHub, commas in a dotenv).
pub fn output_values(r: Results) -> Vec<(&'static str, Vec<String>)> {
    let mut pairs: Vec<(&'static str, Vec<String>)> = Vec::new();
    if let Some(p) = r.publish {
        let digests = unique(p.images.iter().map(|i| i.digest.clone()));
        // One image (under any number of tags): its digest, else empty.
        let digest = match digests.as_slice() {
            [one] => one.clone(),
            _ => String::new(),
        };
        pairs.push(("digest", vec![digest]));
        pairs.push((
            "tags",
            unique(p.images.iter().map(|i| tag_of(&i.reference).to_string())),
        ));
        pairs.push(("refs", unique(p.images.iter().map(|i| i.reference.clone()))));
        pairs.push((
            "images",
            vec![serde_json::to_string(&p.images).unwrap_or_default()],
        ));
        pairs.push((
            "digests",
            p.images
                .iter()
                .map(|i| format!("{}@{}", i.reference, i.digest))
                .collect(),
        ));
        // Each target's images repo, implementation, images, failures and transfer (a publish
        // run has at least one).
        if !p.targets.is_empty() {
            pairs.push((
                "targets",
                vec![serde_json::to_string(&p.targets).unwrap_or_default()],
            ));
        }
    }
    if let Some(c) = r.cleanup {
        pairs.push(("deleted", vec![c.summary.deleted.to_string()]));
        pairs.push(("kept", vec![c.summary.kept.to_string()]));
        pairs.push(("failed", vec![c.summary.failed.to_string()]));
        let tags: Vec<String> = c
            .tags
            .iter()
            .filter(|t| t.result == "deleted" || t.result == "planned")
            .map(|t| format!("{}:{}", t.repository, t.tag))
            .collect();
        pairs.push(("deleted-tags", tags.clone()));
        pairs.push(("deleted_tags", tags));
    }
    pairs
}

/// `name=value` lines, or the heredoc form for multi-line values.
pub fn github_outputs(r: Results, delimiter: &str) -> String {
    github_text(&output_values(r), delimiter)
}

fn github_text(pairs: &[(&'static str, Vec<String>)], delimiter: &str) -> String {
    let mut out = String::new();
    for (name, items) in pairs {
        let value = items.join("\n");
        if value.contains('\n') || value.contains('\r') {
            // A value holding the delimiter would end the heredoc early; ours is random, but the
            // check keeps a crafted registry answer from injecting outputs.
            let value = value.replace(delimiter, "");
            let _ = writeln!(out, "{name}<<{delimiter}\n{value}\n{delimiter}");
        } else {
            let _ = writeln!(out, "{name}={value}");
        }
    }
    out
}

/// An output's name in the dotenv report: `deleted-tags` → `DOCKHAND_DELETED_TAGS`.
pub fn dotenv_output_key(name: &str) -> String {
    format!("DOCKHAND_{}", name.to_ascii_uppercase().replace('-', "_"))
}

/// The dotenv names of the outputs (the older `deleted_tags` is the same name there).
pub fn dotenv_output_keys() -> Vec<String> {
    unique(OUTPUTS.iter().map(|o| dotenv_output_key(o)))
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn short(d: &str) -> &str {
    let hex = d.split_once(':').map_or(d, |(_, h)| h);
    &hex[..hex.len().min(12)]
}

/// Rows shown per table: summaries are capped at 1 MiB.
const MAX_ROWS: usize = 500;

fn publish_table(
    s: &mut String,
    images: &[crate::publish::report::Published],
    failed: &[crate::publish::report::Failure],
    dry_run: bool,
) {
    if images.is_empty() {
        s.push_str("Nothing was published.\n");
    } else {
        s.push_str("| image | reference | digest | |\n|---|---|---|---|\n");
        for i in images.iter().take(MAX_ROWS) {
            let state = match (dry_run, i.pushed) {
                (true, _) => "would push",
                (false, true) => "pushed",
                (false, false) => "unchanged",
            };
            let _ = writeln!(
                s,
                "| {} | `{}` | `{}` | {state} |",
                cell(i.image.as_deref().unwrap_or("~")),
                cell(&i.reference),
                i.digest
            );
        }
        if images.len() > MAX_ROWS {
            let _ = writeln!(s, "\n… and {} more.", images.len() - MAX_ROWS);
        }
    }
    if !failed.is_empty() {
        s.push_str("\n**Failed**\n\n");
        for f in failed {
            let _ = writeln!(
                s,
                "- `{}`: {}",
                cell(&f.references.join(", ")),
                cell(&f.error)
            );
        }
    }
    s.push('\n');
}

/// The job summary (GitHub-flavoured Markdown).
pub fn summary(r: Results) -> String {
    let mut s = String::new();
    if let Some(p) = r.publish {
        let verb = if p.dry_run { " (dry run)" } else { "" };
        if p.targets.len() < 2 {
            let _ = writeln!(s, "### dockhand: published{verb}\n");
            publish_table(&mut s, &p.images, &p.failed, p.dry_run);
        } else {
            // A table per target, each under its images repo.
            for t in &p.targets {
                let _ = writeln!(
                    s,
                    "### dockhand: published{verb}: `{}` ({})\n",
                    cell(&t.images_repo),
                    t.implementation
                );
                publish_table(&mut s, &t.images, &t.failed, p.dry_run);
            }
        }
    }
    if let Some(c) = r.cleanup {
        let (verb, title) = if c.dry_run {
            ("to delete", " (dry run)")
        } else {
            ("deleted", "")
        };
        let _ = writeln!(s, "### dockhand: cleanup{title}\n");
        let _ = writeln!(
            s,
            "{} kept, {} {verb}, {} failed\n",
            c.summary.kept, c.summary.deleted, c.summary.failed
        );
        if !c.tags.is_empty() {
            s.push_str("| result | tag | digest | reason |\n|---|---|---|---|\n");
            // Failures first, then deletions, then what was kept: the rows a reader acts on.
            let mut rows: Vec<_> = c.tags.iter().collect();
            rows.sort_by_key(|t| match t.result {
                "failed" => 0,
                "deleted" | "planned" => 1,
                _ => 2,
            });
            for t in rows.iter().take(MAX_ROWS) {
                let reason = match &t.error {
                    Some(e) => format!("{}; error: {e}", t.reason),
                    None => t.reason.clone(),
                };
                let _ = writeln!(
                    s,
                    "| {} | `{}:{}` | `{}` | {} |",
                    t.result,
                    cell(&t.repository),
                    cell(&t.tag),
                    short(&t.digest),
                    cell(&reason)
                );
            }
            if rows.len() > MAX_ROWS {
                let _ = writeln!(s, "\n… and {} more.", rows.len() - MAX_ROWS);
            }
        }
        s.push('\n');
    }
    s
}

/// `DOCKHAND_IMAGE_<NAME>`: GitLab accepts letters, digits and `_` in dotenv keys. The unnamed
/// image is `DOCKHAND_IMAGE_UNNAMED`: plain `DOCKHAND_IMAGE` is the `--image` option, and a later
/// job that runs dockhand would read it as one.
pub fn dotenv_key(image: Option<&str>) -> String {
    match image {
        None => "DOCKHAND_IMAGE_UNNAMED".to_string(),
        Some(n) => {
            let name: String = n
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("DOCKHAND_IMAGE_{name}")
        }
    }
}

/// GitLab's most variables and bytes in a dotenv report (self-managed defaults).
const DOTENV_MAX_VARIABLES: usize = 20;
const DOTENV_MAX_BYTES: usize = 5 * 1024;

/// GitLab's dotenv report: one `DOCKHAND_IMAGE_<NAME>=REF@DIGEST` per image (its first
/// reference), then the outputs (`DOCKHAND_DIGEST`, `DOCKHAND_DELETED`, …) while GitLab's limits
/// (20 variables, 5 KB) leave room; warnings name what the limits cost.
pub fn dotenv(r: Results) -> (String, Vec<String>) {
    dotenv_text(r.publish, output_values(r))
}

/// The dotenv text of a publish's images and the outputs `pairs`. With several targets, the
/// images of the second and later targets are `DOCKHAND_IMAGE_<NAME>_<N>` (N: the target's
/// number), so each target's reference reaches later jobs.
fn dotenv_text(
    publish: Option<&PublishReport>,
    pairs: Vec<(&'static str, Vec<String>)>,
) -> (String, Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    let mut text = String::new();
    let mut lines = |images: &[crate::publish::report::Published], suffix: String| {
        for i in images {
            let key = format!("{}{suffix}", dotenv_key(i.image.as_deref()));
            if seen.insert(key.clone()) {
                let value = format!("{}@{}", i.reference, i.digest).replace(['\n', '\r'], "");
                let _ = writeln!(text, "{key}={value}");
            }
        }
    };
    match publish {
        Some(p) if p.targets.len() > 1 => {
            for (n, t) in p.targets.iter().enumerate() {
                let suffix = if n == 0 {
                    String::new()
                } else {
                    format!("_{}", n + 1)
                };
                lines(&t.images, suffix);
            }
        }
        Some(p) => lines(&p.images, String::new()),
        None => {}
    }
    let mut warnings = Vec::new();
    if seen.len() > DOTENV_MAX_VARIABLES {
        warnings.push(format!(
            "the dotenv report has {} variables; GitLab keeps at most 20 on self-managed instances by default",
            seen.len()
        ));
    }
    let mut left_out = Vec::new();
    for (name, items) in pairs {
        let key = dotenv_output_key(name);
        if !seen.insert(key.clone()) {
            continue;
        }
        // One line per variable: a line break in a value (a crafted tag name) would add variables.
        let value = items.join(",").replace(['\n', '\r'], "");
        let line = format!("{key}={value}\n");
        if seen.len() > DOTENV_MAX_VARIABLES || text.len() + line.len() > DOTENV_MAX_BYTES {
            left_out.push(key);
        } else {
            text.push_str(&line);
        }
    }
    if !left_out.is_empty() {
        warnings.push(format!(
            "the dotenv report leaves out {} to stay within GitLab's limits (20 variables, 5 KB)",
            left_out.join(", ")
        ));
    }
    if text.len() > DOTENV_MAX_BYTES {
        warnings.push(format!(
            "the dotenv report is {} bytes; GitLab refuses more than 5 KB",
            text.len()
        ));
    }
    (text, warnings)
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A JUnit report: a test case per published reference and per planned deletion.
pub fn junit(r: Results) -> String {
    let cleanups: Vec<(&str, &Report)> = r.cleanup.iter().map(|c| ("", *c)).collect();
    junit_targets(r.publish, &cleanups)
}

/// [`junit`] with a cleanup suite per target (named after its images repo when there are
/// several).
pub fn junit_targets(publish: Option<&PublishReport>, cleanups: &[(&str, &Report)]) -> String {
    let mut suites = String::new();
    let mut total = 0;
    let mut failures = 0;
    let mut suite = |name: String, cases: String, n: usize, f: usize| {
        let _ = write!(
            suites,
            "  <testsuite name=\"{}\" tests=\"{n}\" failures=\"{f}\">\n{cases}  </testsuite>\n",
            xml(&name)
        );
        total += n;
        failures += f;
    };
    if let Some(p) = publish {
        let mut cases = String::new();
        let mut n = 0;
        let mut f = 0;
        for i in &p.images {
            n += 1;
            let _ = writeln!(
                cases,
                "    <testcase classname=\"publish.{}\" name=\"{}\"><system-out>{}</system-out></testcase>",
                xml(i.image.as_deref().unwrap_or("~")),
                xml(&i.reference),
                xml(&i.digest)
            );
        }
        for fail in &p.failed {
            for reference in &fail.references {
                n += 1;
                f += 1;
                let _ = writeln!(
                    cases,
                    "    <testcase classname=\"publish.{}\" name=\"{}\"><failure message=\"{}\"/></testcase>",
                    xml(fail.image.as_deref().unwrap_or("~")),
                    xml(reference),
                    xml(&fail.error)
                );
            }
        }
        suite("dockhand publish".to_string(), cases, n, f);
    }
    for (repo, c) in cleanups {
        let mut cases = String::new();
        let mut n = 0;
        let mut f = 0;
        for t in c.tags.iter().filter(|t| t.result != "kept") {
            n += 1;
            let body = match (t.result, &t.error) {
                ("failed", e) => {
                    f += 1;
                    format!(
                        "<failure message=\"{}\"/>",
                        xml(e.as_deref().unwrap_or("failed"))
                    )
                }
                ("planned", _) => "<skipped message=\"dry run\"/>".to_string(),
                ("deferred", _) => "<skipped message=\"deferred to the next run\"/>".to_string(),
                _ => String::new(),
            };
            let _ = writeln!(
                cases,
                "    <testcase classname=\"cleanup.{}\" name=\"{}:{}\">{body}</testcase>",
                xml(&t.repository),
                xml(&t.repository),
                xml(&t.tag)
            );
        }
        let name = if cleanups.len() > 1 {
            format!("dockhand cleanup {repo}")
        } else {
            "dockhand cleanup".to_string()
        };
        suite(name, cases, n, f);
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"dockhand\" tests=\"{total}\" failures=\"{failures}\">\n{suites}</testsuites>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::report::{Failure, Published, Transfer};

    fn report() -> PublishReport {
        PublishReport {
            implementation: "default",
            dry_run: false,
            images: vec![
                Published {
                    image: Some("back-end".into()),
                    reference: "r.example/x/back-end:main".into(),
                    digest: "sha256:aa".into(),
                    pushed: true,
                },
                Published {
                    image: Some("back-end".into()),
                    reference: "r.example/x/back-end:abc".into(),
                    digest: "sha256:aa".into(),
                    pushed: false,
                },
                Published {
                    image: None,
                    reference: "r.example/x:main".into(),
                    digest: "sha256:bb".into(),
                    pushed: true,
                },
            ],
            failed: vec![Failure {
                image: Some("web".into()),
                references: vec!["r.example/x/web:main".into()],
                error: "upload <failed> | 500".into(),
                kind: crate::error::Kind::Operation,
            }],
            transfer: Transfer {
                blobs_uploaded: 0,
                bytes_uploaded: 0,
                blobs_mounted: 0,
                blobs_present: 0,
                manifests_put: 0,
                requests: 0,
                source_blobs_read: 0,
                source_bytes_read: 0,
            },
            targets: Vec::new(),
        }
    }

    /// Two targets: the same image to each; the second target's failure.
    fn two_targets() -> PublishReport {
        use crate::publish::report::{TargetReport, TargetTransfer};
        let mut p = report();
        let first = Published {
            image: Some("api".into()),
            reference: "a.example/x/api:main".into(),
            digest: "sha256:aa".into(),
            pushed: true,
        };
        let failure = Failure {
            image: Some("api".into()),
            references: vec!["b.example/y/api:main".into()],
            error: "denied".into(),
            kind: crate::error::Kind::Auth,
        };
        p.images = vec![first.clone()];
        p.failed = vec![failure.clone()];
        p.targets = vec![
            TargetReport {
                images_repo: "a.example/x".into(),
                implementation: "default",
                images: vec![first],
                failed: vec![],
                transfer: TargetTransfer::default(),
            },
            TargetReport {
                images_repo: "b.example/y".into(),
                implementation: "quay",
                images: vec![],
                failed: vec![failure],
                transfer: TargetTransfer::default(),
            },
        ];
        p
    }

    #[test]
    fn outputs_per_target() {
        let p = two_targets();
        let r = Results {
            publish: Some(&p),
            cleanup: None,
        };
        let values = output_values(r);
        let targets = &values.iter().find(|(n, _)| *n == "targets").unwrap().1[0];
        let doc: serde_json::Value = serde_json::from_str(targets).unwrap();
        assert_eq!(doc[0]["images_repo"], "a.example/x");
        assert_eq!(doc[1]["failed"][0]["error"], "denied");
        let text = summary(r);
        assert!(
            text.contains("### dockhand: published: `a.example/x` (default)"),
            "{text}"
        );
        assert!(
            text.contains("### dockhand: published: `b.example/y` (quay)"),
            "{text}"
        );
        assert!(text.contains("Nothing was published."), "{text}");
        // One target's outputs are as before, with `targets` added.
        let one = report();
        let values = output_values(Results {
            publish: Some(&one),
            cleanup: None,
        });
        assert!(
            values.iter().all(|(n, _)| *n != "targets"),
            "a report without targets"
        );
        assert!(
            summary(Results {
                publish: Some(&one),
                cleanup: None
            })
            .starts_with("### dockhand: published\n")
        );
    }

    #[test]
    fn dotenv_names_each_targets_image() {
        let mut p = two_targets();
        let second = Published {
            image: Some("api".into()),
            reference: "b.example/y/api:main".into(),
            digest: "sha256:aa".into(),
            pushed: true,
        };
        p.targets[1].images.push(second);
        let (text, _) = dotenv(Results {
            publish: Some(&p),
            cleanup: None,
        });
        assert!(
            text.contains("DOCKHAND_IMAGE_API=a.example/x/api:main@sha256:aa\n"),
            "{text}"
        );
        assert!(
            text.contains("DOCKHAND_IMAGE_API_2=b.example/y/api:main@sha256:aa\n"),
            "{text}"
        );
    }

    #[test]
    fn github_outputs_use_heredocs_for_multiple_lines() {
        let p = report();
        let out = github_outputs(
            Results {
                publish: Some(&p),
                cleanup: None,
            },
            "ghadelimiter_X",
        );
        let mut lines = out.lines();
        assert_eq!(
            lines.next(),
            Some("digest="),
            "two images: no single digest"
        );
        assert_eq!(
            lines.by_ref().take(4).collect::<Vec<_>>(),
            vec!["tags<<ghadelimiter_X", "main", "abc", "ghadelimiter_X"]
        );
        assert_eq!(
            lines.by_ref().take(5).collect::<Vec<_>>(),
            vec![
                "refs<<ghadelimiter_X",
                "r.example/x/back-end:main",
                "r.example/x/back-end:abc",
                "r.example/x:main",
                "ghadelimiter_X",
            ]
        );
        let images = lines.next().unwrap();
        assert!(images.starts_with("images=[{"), "{out}");
        let json: serde_json::Value =
            serde_json::from_str(images.strip_prefix("images=").unwrap()).unwrap();
        assert_eq!(json[0]["reference"], "r.example/x/back-end:main");
        assert_eq!(
            lines.collect::<Vec<_>>(),
            vec![
                "digests<<ghadelimiter_X",
                "r.example/x/back-end:main@sha256:aa",
                "r.example/x/back-end:abc@sha256:aa",
                "r.example/x:main@sha256:bb",
                "ghadelimiter_X",
            ]
        );
        // One image under two tags: its digest.
        let mut one = report();
        one.images.truncate(2);
        let out = github_outputs(
            Results {
                publish: Some(&one),
                cleanup: None,
            },
            "ghadelimiter_X",
        );
        assert!(out.starts_with("digest=sha256:aa\n"), "{out}");
        assert_eq!(tag_of("localhost:5000/a/b:v1.2"), "v1.2");
        assert_eq!(tag_of("localhost:5000/a/b"), "");
    }

    #[test]
    fn every_output_is_listed_and_has_a_dotenv_name() {
        let p = report();
        let names: Vec<&str> = output_values(Results {
            publish: Some(&p),
            cleanup: None,
        })
        .into_iter()
        .map(|(n, _)| n)
        .collect();
        assert!(names.iter().all(|n| OUTPUTS.contains(n)), "{names:?}");
        assert_eq!(dotenv_output_key("deleted-tags"), "DOCKHAND_DELETED_TAGS");
        assert_eq!(dotenv_output_keys().len(), OUTPUTS.len() - 1);
    }

    #[test]
    fn dotenv_keys_and_values() {
        let p = report();
        let (text, warnings) = dotenv(Results {
            publish: Some(&p),
            cleanup: None,
        });
        let json = serde_json::to_string(&p.images).unwrap();
        assert_eq!(
            text,
            format!(
                "DOCKHAND_IMAGE_BACK_END=r.example/x/back-end:main@sha256:aa\n\
                 DOCKHAND_IMAGE_UNNAMED=r.example/x:main@sha256:bb\n\
                 DOCKHAND_DIGEST=\n\
                 DOCKHAND_TAGS=main,abc\n\
                 DOCKHAND_REFS=r.example/x/back-end:main,r.example/x/back-end:abc,r.example/x:main\n\
                 DOCKHAND_IMAGES={json}\n\
                 DOCKHAND_DIGESTS=r.example/x/back-end:main@sha256:aa,r.example/x/back-end:abc@sha256:aa,r.example/x:main@sha256:bb\n"
            )
        );
        assert!(warnings.is_empty());
    }

    #[test]
    fn dotenv_leaves_outputs_out_within_gitlabs_limits() {
        let mut p = report();
        let first = p.images[0].clone();
        p.images = (0..18)
            .map(|n| Published {
                image: Some(format!("img{n}")),
                reference: format!("r.example/x/img{n}:{}", "t".repeat(100)),
                ..first.clone()
            })
            .collect();
        let (text, warnings) = dotenv(Results {
            publish: Some(&p),
            cleanup: None,
        });
        assert_eq!(text.lines().count(), 20, "{text}");
        assert!(text.len() <= DOTENV_MAX_BYTES);
        assert!(text.contains("DOCKHAND_DIGEST=sha256:aa\n"), "{text}");
        p.images.truncate(1);
        p.images[0].reference = "r.example/x/img0:a\nDOCKHAND_EVIL=1".into();
        let (text, _) = dotenv(Results {
            publish: Some(&p),
            cleanup: None,
        });
        assert!(
            !text.lines().any(|l| l.starts_with("DOCKHAND_EVIL")),
            "{text}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("leaves out") && w.contains("DOCKHAND_REFS")),
            "{warnings:?}"
        );
    }

    #[test]
    fn summary_and_junit_escape_what_they_show() {
        let p = report();
        let r = Results {
            publish: Some(&p),
            cleanup: None,
        };
        let md = summary(r);
        assert!(
            md.contains("| back-end | `r.example/x/back-end:main` | `sha256:aa` | pushed |"),
            "{md}"
        );
        assert!(md.contains("upload <failed> \\| 500"), "{md}");
        let x = junit(r);
        assert!(x.contains("tests=\"4\" failures=\"1\""), "{x}");
        assert!(x.contains("message=\"upload &lt;failed&gt; | 500\""), "{x}");
    }

    #[test]
    fn junit_has_a_cleanup_suite_per_target() {
        let a = crate::cleanup::report::sample();
        let mut b = crate::cleanup::report::sample();
        let deferred = b.tags.iter().position(|t| t.result != "kept").unwrap();
        b.tags[deferred].result = "deferred";
        let x = junit_targets(None, &[("a.example/x", &a), ("b.example/y", &b)]);
        assert!(
            x.contains("<testsuite name=\"dockhand cleanup a.example/x\""),
            "{x}"
        );
        assert!(
            x.contains("<testsuite name=\"dockhand cleanup b.example/y\""),
            "{x}"
        );
        assert!(
            x.contains("<skipped message=\"deferred to the next run\"/>"),
            "{x}"
        );
        // One target: the suite keeps its old name.
        let one = junit_targets(None, &[("a.example/x", &a)]);
        assert!(
            one.contains("<testsuite name=\"dockhand cleanup\""),
            "{one}"
        );
    }

    /// The job summary of a run that published and cleaned up, pinned as a whole.
    #[test]
    fn job_summary() {
        let p = report();
        let c = crate::cleanup::report::sample();
        insta::assert_snapshot!(summary(Results {
            publish: Some(&p),
            cleanup: Some(&c),
        }));
    }

    /// The messages of the typed output errors, pinned (they must not change).
    #[test]
    fn write_error_messages_are_pinned() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("no-such-dir").join("f");
        let reason = "No such file or directory (os error 2)";
        let r = Results::default();
        let publish = report();
        let with = Results {
            publish: Some(&publish),
            cleanup: None,
        };
        for (files, what) in [
            (
                Files {
                    dotenv: Some(&bad),
                    junit: None,
                },
                "--dotenv",
            ),
            (
                Files {
                    dotenv: None,
                    junit: Some(&bad),
                },
                "--junit",
            ),
        ] {
            let e = write(files, &Pipeline::default(), with).unwrap_err();
            assert_eq!(e.kind, crate::error::Kind::Operation);
            assert!(e.layer::<OutputError>().is_some());
            assert_eq!(
                e.message,
                format!("cannot write {what} {}: {reason}", bad.display())
            );
        }
        let pipeline = Pipeline {
            github_output: Some(bad.clone()),
            ..Pipeline::default()
        };
        let e = write(Files::default(), &pipeline, r).unwrap_err();
        assert_eq!(
            e.message,
            format!("cannot write GITHUB_OUTPUT {}: {reason}", bad.display())
        );
    }
}
