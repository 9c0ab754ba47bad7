//! `dockhand publish`: every configured image to every computed reference.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use super::context::Context;
use super::detect;
use crate::error::{Error, Result};
use crate::naming::layout::Layout;
use crate::naming::tags_from::names_repository;
use crate::origin::Origin;
use crate::publish::copy::{Engine, ImageTransfer};
use crate::publish::image::SourceImage;
use crate::publish::source::SourceSpec;
use crate::registry::distribution::Repo;
use crate::settings::{ImageSpec, Output, Settings, TagSpec, TagStrategy};

pub use crate::publish::report::{Failure, PublishReport, Published, Transfer};

/// Checks what can be checked without the network: images, sources, tags.
fn check_input(settings: &Settings) -> Result<()> {
    if settings.images.is_empty() {
        return Err(Error::input("no images to publish").with_hint(
            "list images in dockhand.yaml (image: NAME, source: ...) or pass --image NAME=SOURCE",
        ));
    }
    for image in &settings.images {
        let name = image.name.as_deref().unwrap_or("~");
        let Some(source) = &image.source else {
            return Err(Error::input(format!("image {name:?} has no source"))
                .with_hint(format!("add `source:` to its document in the config file, or pass --image {name}=SOURCE")));
        };
        SourceSpec::parse(source).map_err(|e| e.context(format!("image {name:?}")))?;
    }
    require_tags(settings, "publish")
}

/// At least one tag option: publish and promote write tags, nothing else.
pub(super) fn require_tags(settings: &Settings, verb: &str) -> Result<()> {
    if settings.tags.is_empty() && settings.tags_from.is_empty() && !settings.tag_by_digest {
        return Err(Error::input(format!("no tag to {verb} under")).with_hint(
            "pass --tag-custom TAG, --tag-git-branch BRANCH, --tag-git-tag TAG, --tag-git-commit SHA, --tags-from TEXT or --tag-by-digest",
        ));
    }
    Ok(())
}

/// The content-based tag: stable for identical content (the same root digest).
pub fn digest_tag(digest: &str) -> String {
    let hex = digest.split_once(':').map(|(_, h)| h).unwrap_or(digest);
    format!("digest-{}", &hex[..hex.len().min(16)])
}

struct Job {
    spec: ImageSpec,
    source: SourceImage,
    repo: Repo,
    tags: Vec<String>,
    references: Vec<String>,
    /// One origin record per tag, attached where the tag changes.
    origins: Vec<Origin>,
}

/// Where one image goes in one images repo: the repository, the tags the tag options compute,
/// the full references, and one origin record per tag. Publish and promote share it.
pub(super) struct Destination {
    pub repo: Repo,
    pub tags: Vec<String>,
    pub references: Vec<String>,
    pub origins: Vec<Origin>,
}

pub async fn run(settings: &Settings) -> Result<()> {
    let report = publish(settings).await?;
    finish(settings, &report, "publishing")
}

/// The report on stdout, the pipeline files, then the exit status (`what` failed names the work).
pub(super) fn finish(settings: &Settings, report: &PublishReport, what: &str) -> Result<()> {
    print(report, settings.output);
    crate::ci::outputs::write(
        settings.output_files(),
        &settings.pipeline,
        crate::ci::outputs::Results {
            publish: Some(report),
            cleanup: None,
        },
    )?;
    outcome_of(report, what)
}

/// Exit status of a publish: any failed image is exit 1, naming its references.
pub fn outcome(report: &PublishReport) -> Result<()> {
    outcome_of(report, "publishing")
}

/// [`outcome`], the message saying what failed (`publishing`, `promotion`).
pub fn outcome_of(report: &PublishReport, what: &str) -> Result<()> {
    if report.failed.is_empty() {
        Ok(())
    } else {
        let names: Vec<String> = report
            .failed
            .iter()
            .flat_map(|f| f.references.clone())
            .collect();
        let message = format!("{what} failed for {}", names.join(", "));
        if report
            .failed
            .iter()
            .all(|f| f.kind == crate::error::Kind::Auth)
        {
            Err(Error::auth(message)
                .with_hint("the registry refused the credentials for every image"))
        } else {
            Err(Error::operation(message))
        }
    }
}

pub async fn publish(settings: &Settings) -> Result<PublishReport> {
    check_input(settings)?;
    let ctx = Context::new(settings)?;
    // Local sources are read before anything is sent, so a broken one is bad input (exit 2).
    let mut sources = Vec::new();
    for spec in &settings.images {
        let source_text = spec.source.as_deref().unwrap_or_default();
        let source = SourceImage::open(source_text, &ctx.oci)
            .await
            .map_err(|e| e.context(format!("image {:?}", spec.name.as_deref().unwrap_or("~"))))?;
        if source.converted {
            crate::log::verbose(&format!(
                "{source_text}: a docker-archive without an OCI index; its manifest is built by dockhand"
            ));
        }
        sources.push((spec, source));
    }
    let resolved = detect::resolve(settings, &ctx).await?;
    let layout = &resolved.layout;
    let mut jobs = Vec::new();
    let mut bound = vec![false; settings.tags_from.len()];
    for (spec, source) in sources {
        jobs.push(job(spec, source, layout, settings, &mut bound)?);
    }
    let firsts: Vec<&String> = jobs.iter().filter_map(|j| j.references.first()).collect();
    check_tags_from_bound(settings, &bound, &firsts)?;
    let caps = layout_caps(&resolved);
    if !attach_origins(settings, &caps) {
        jobs.iter_mut().for_each(|j| j.origins.clear());
    }
    let registry = crate::registry::open(
        caps,
        ctx.oci.clone(),
        &crate::implementation::registry_api_host(&layout.repo.host),
        &super::host::host_config(settings),
    )
    .await?;
    if !settings.dry_run {
        for job in &jobs {
            registry.ensure_repository(&job.repo).await?;
        }
    }
    let concurrency = settings.concurrency.unwrap_or(caps.default_concurrency);
    let engine = Engine::new(
        ctx.oci.clone(),
        caps.cross_repo_mount,
        settings.dry_run,
        concurrency,
    );
    // Bytes uploaded per image, for the progress bars on a terminal.
    let uploaded: Vec<std::sync::Arc<std::sync::atomic::AtomicU64>> =
        jobs.iter().map(|_| Default::default()).collect();
    let work = futures_util::future::join_all(jobs.iter().zip(&uploaded).map(|(j, counter)| {
        crate::publish::copy::counting(
            counter.clone(),
            engine.publish(&j.source, &j.repo, &j.tags, &j.origins),
        )
    }));
    let results = crate::ci::progress::watch(
        work,
        "publishing",
        || {
            let s = &engine.stats;
            format!(
                "{} blob(s) uploaded ({}), {} mounted, {} present, {} manifest(s) put",
                s.blobs_uploaded.load(Ordering::Relaxed),
                human_bytes(s.bytes_uploaded.load(Ordering::Relaxed)),
                s.blobs_mounted.load(Ordering::Relaxed),
                s.blobs_present.load(Ordering::Relaxed),
                s.manifests_put.load(Ordering::Relaxed),
            )
        },
        Some(crate::ci::progress::Meter::Bytes {
            parts: jobs
                .iter()
                .zip(&uploaded)
                .map(|(j, c)| (j.spec.name.clone().unwrap_or_else(|| "~".into()), &**c))
                .collect(),
        }),
    )
    .await;

    let mut images = Vec::new();
    let mut failed = Vec::new();
    for (job, result) in jobs.iter().zip(results) {
        match result {
            Ok(t) => {
                log_transfer(
                    &job.tags,
                    &job.references,
                    &job.source.root.digest,
                    &t,
                    settings.dry_run,
                );
                if settings.with_referrers && !settings.dry_run {
                    match engine.copy_referrers(&job.source, &job.repo).await {
                        Ok(0) => {}
                        Ok(n) => crate::log::info(&format!(
                            "copied {n} referrer(s) of {}",
                            job.source.label
                        )),
                        Err(e) => {
                            crate::log::error(&format!(
                                "{}: referrers: {e}",
                                job.references.join(", ")
                            ));
                            failed.push(Failure {
                                image: job.spec.name.clone(),
                                references: job.references.clone(),
                                error: format!("copying referrers: {e}"),
                                kind: e.kind,
                            });
                        }
                    }
                }
                for (tag, reference) in job.tags.iter().zip(&job.references) {
                    images.push(Published {
                        image: job.spec.name.clone(),
                        reference: reference.clone(),
                        digest: job.source.root.digest.clone(),
                        pushed: t.changed_tags.contains(tag),
                    });
                }
            }
            Err(e) => {
                crate::log::error(&format!("{}: {e}", job.references.join(", ")));
                failed.push(Failure {
                    image: job.spec.name.clone(),
                    references: job.references.clone(),
                    error: e.to_string(),
                    kind: e.kind,
                });
            }
        }
    }
    let s = &engine.stats;
    Ok(PublishReport {
        implementation: resolved.detection.implementation.name(),
        dry_run: settings.dry_run,
        images,
        failed,
        transfer: Transfer {
            blobs_uploaded: s.blobs_uploaded.load(Ordering::Relaxed),
            bytes_uploaded: s.bytes_uploaded.load(Ordering::Relaxed),
            blobs_mounted: s.blobs_mounted.load(Ordering::Relaxed),
            blobs_present: s.blobs_present.load(Ordering::Relaxed),
            manifests_put: s.manifests_put.load(Ordering::Relaxed),
            requests: ctx.oci.transport().requests_sent(),
        },
    })
}

/// A `--tags-from` reference must name a repository this run writes to (`bound`: which did;
/// `firsts`: one reference of each image, to name the repositories in the hint).
pub(super) fn check_tags_from_bound(
    settings: &Settings,
    bound: &[bool],
    firsts: &[&String],
) -> Result<()> {
    if let Some((e, _)) = settings.tags_from.iter().zip(bound).find(|(_, b)| !**b) {
        let targets: Vec<String> = firsts
            .iter()
            .map(|r| {
                r.rsplit_once(':')
                    .map_or(r.as_str(), |(repo, _)| repo)
                    .to_string()
            })
            .collect();
        return Err(Error::input(format!(
            "--tags-from: {:?} names a repository this run does not publish to",
            e.text
        ))
        .with_hint(format!(
            "give bare tags, or references to {}",
            targets.join(", ")
        )));
    }
    Ok(())
}

/// Whether origin records go with the tags on a registry of `caps` (`--origin-records`); says
/// why not when that was decided for the user.
pub(super) fn attach_origins(
    settings: &Settings,
    caps: &crate::implementation::Capabilities,
) -> bool {
    match crate::origin::decide(settings.origin_records, caps) {
        crate::origin::Decision::Attach => true,
        crate::origin::Decision::Off => {
            crate::log::verbose("origin records off (--origin-records off)");
            false
        }
        crate::origin::Decision::AutoOff(why) => {
            crate::log::notice(&why);
            false
        }
    }
}

fn layout_caps(r: &detect::Resolved) -> crate::implementation::Capabilities {
    crate::implementation::Capabilities::of(r.detection.implementation, &r.layout.repo.host)
}

fn job(
    spec: &ImageSpec,
    source: SourceImage,
    layout: &Layout,
    settings: &Settings,
    bound: &mut [bool],
) -> Result<Job> {
    let d = destination(
        spec.name.as_deref(),
        &source.root.digest,
        layout,
        settings,
        bound,
    )?;
    Ok(Job {
        spec: spec.clone(),
        source,
        repo: d.repo,
        tags: d.tags,
        references: d.references,
        origins: d.origins,
    })
}

/// The destination of image `name` (root digest `digest`) in `layout`: the tag options'
/// tags, `--tags-from` references that name its repository (marked in `bound`), the digest tag.
pub(super) fn destination(
    name: Option<&str>,
    digest: &str,
    layout: &Layout,
    settings: &Settings,
    bound: &mut [bool],
) -> Result<Destination> {
    let mut tags: Vec<TagSpec> = settings.tags.clone();
    // `--tags-from` references whose repository is this image's.
    let repository = layout.target(name, "latest")?.repository;
    for (e, b) in settings.tags_from.iter().zip(bound.iter_mut()) {
        if names_repository(e, &repository) {
            *b = true;
            if !tags.iter().any(|s| s.tag == e.tag) {
                tags.push(TagSpec {
                    tag: e.tag.clone(),
                    strategy: TagStrategy::Custom,
                    source_value: e.tag.clone(),
                });
            }
        }
    }
    if settings.tag_by_digest {
        let t = digest_tag(digest);
        if !tags.iter().any(|s| s.tag == t) {
            tags.push(TagSpec {
                tag: t.clone(),
                strategy: TagStrategy::Digest,
                source_value: t,
            });
        }
    }
    let pushed = SystemTime::now();
    let commit = tags
        .iter()
        .find(|t| t.strategy == TagStrategy::GitCommit)
        .map(|t| t.source_value.clone());
    let mut d = Destination {
        repo: Repo::new("", ""),
        tags: Vec::new(),
        references: Vec::new(),
        origins: Vec::new(),
    };
    let mut repository = String::new();
    for t in &tags {
        let target = layout.target(name, &t.tag)?;
        d.references.push(target.to_string());
        repository = target.repository.clone();
        let git_ref = match t.strategy {
            TagStrategy::GitBranch => Some(format!("refs/heads/{}", t.source_value)),
            TagStrategy::GitTag => Some(format!("refs/tags/{}", t.source_value)),
            _ => None,
        };
        d.origins.push(Origin {
            image: name.map(str::to_string),
            tag: target.tag.clone(),
            strategy: t.strategy,
            git_ref,
            commit: commit.clone(),
            pushed: Some(pushed),
        });
        d.tags.push(target.tag);
    }
    let (host, path) = repository.split_once('/').unwrap_or((&repository, ""));
    d.repo = Repo::new(crate::implementation::registry_api_host(host), path);
    Ok(d)
}

/// One line per reference: pushed (with what moved), unchanged, or what a dry run would do.
pub(super) fn log_transfer(
    tags: &[String],
    references: &[String],
    digest: &str,
    t: &ImageTransfer,
    dry_run: bool,
) {
    let moved = if dry_run {
        format!(
            "would upload {} blob(s), {}; {} present",
            t.missing + t.mounted,
            human_bytes(t.missing_bytes),
            t.present
        )
    } else {
        format!(
            "uploaded {} blob(s), {}; mounted {}; {} present",
            t.uploaded,
            human_bytes(t.uploaded_bytes),
            t.mounted,
            t.present
        )
    };
    for (tag, reference) in tags.iter().zip(references) {
        let state = if t.unchanged_tags.contains(tag) {
            "unchanged"
        } else if dry_run {
            "would push"
        } else {
            "pushed"
        };
        let detail = if t.unchanged_tags.contains(tag) {
            String::new()
        } else {
            format!(" ({moved})")
        };
        crate::log::info(&format!("{state:<10} {reference}@{digest}{detail}"));
    }
}

pub fn print(report: &PublishReport, output: Output) {
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        ),
        Output::Text => {
            for i in &report.images {
                println!("{}@{}", i.reference, i.digest);
            }
        }
    }
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_tags_are_stable_and_valid() {
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(digest_tag(&d), "digest-abababababababab");
        crate::naming::tag::validate_tag(&digest_tag(&d)).unwrap();
    }

    #[test]
    fn bytes_read_well() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024 / 2), "1.5 MiB");
    }
}
