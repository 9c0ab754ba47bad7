//! `dockhand publish`: every configured image to every computed reference.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use super::context::Context;
use super::detect;
use crate::error::{Error, Result};
use crate::naming::layout::Layout;
use crate::naming::tags_from::names_repository;
use crate::origin::Origin;
use crate::publish::copy::{Engine, ImageTransfer, SourceStats};
use crate::publish::fanout::{Upload, fan_out};
use crate::publish::image::SourceImage;
use crate::publish::source::SourceSpec;
use crate::registry::distribution::Repo;
use crate::registry::media::Descriptor;
use crate::settings::{ImageSpec, Output, Settings, TagSpec, TagStrategy};
use futures_util::StreamExt;

pub use crate::publish::report::{
    Failure, PublishReport, Published, TargetReport, TargetTransfer, Transfer,
};

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
    source: Arc<SourceImage>,
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

/// Exit status of a publish: any failed image is exit 1, naming its references; exit 3 when the
/// registry refused the credentials for every image (with several targets: every target refused,
/// so nothing was published anywhere).
pub fn outcome(report: &PublishReport) -> Result<()> {
    outcome_of(report, "publishing")
}

/// [`outcome`], the message saying what failed (`publishing`, `promotion`).
pub fn outcome_of(report: &PublishReport, what: &str) -> Result<()> {
    if report.failed.is_empty() {
        Ok(())
    } else if report.targets.len() > 1 && !report.images.is_empty() {
        let failed: Vec<&str> = report
            .targets
            .iter()
            .filter(|t| !t.failed.is_empty())
            .map(|t| t.images_repo.as_str())
            .collect();
        Err(Error::operation(format!(
            "publishing failed for {} of {} targets: {}",
            failed.len(),
            report.targets.len(),
            failed.join(", ")
        ))
        .with_hint("the other targets were published; see the errors above"))
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

/// One target's part of a publish: its settings, what detection decided, and its jobs.
struct TargetRun {
    settings: Settings,
    implementation: crate::implementation::Implementation,
    caps: crate::implementation::Capabilities,
    images_repo: String,
    jobs: Vec<Job>,
}

/// The settings of each target (one for a single images repo).
pub(super) fn narrowed(settings: &Settings) -> Result<Vec<Settings>> {
    settings.require_images_repo()?;
    if settings.targets.is_empty() {
        return Ok(vec![settings.clone()]);
    }
    Ok(settings
        .targets
        .iter()
        .map(|t| settings.for_target(t))
        .collect())
}

/// The run's connection: one transport, with each target's login given to its host.
pub(super) fn run_context(settings: &Settings) -> Result<Context> {
    if settings.targets.len() < 2 {
        return Context::new(settings);
    }
    let credentials =
        crate::registry::credentials::CredentialStore::load(settings.docker_config.as_deref())?;
    for t in &settings.targets {
        if let Some(c) = &t.registry_credential {
            credentials.set(
                &crate::implementation::registry_api_host(&t.images_repo.host),
                c.clone(),
            );
        }
    }
    let transport = crate::registry::transport::Transport::new(
        super::context::transport_config(settings),
        credentials,
    )?;
    Ok(Context {
        oci: crate::registry::distribution::Distribution::new(transport),
    })
}

pub async fn publish(settings: &Settings) -> Result<PublishReport> {
    check_input(settings)?;
    let ctx = run_context(settings)?;
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
        sources.push((spec, Arc::new(source)));
    }
    let narrowed = narrowed(settings)?;
    let several = narrowed.len() > 1;
    // Every target's names are checked before the first probe: bad input sends nothing.
    for n in &narrowed {
        detect::check_offline(n)?;
    }
    let mut runs = Vec::new();
    let mut bound = vec![false; settings.tags_from.len()];
    for n in narrowed {
        let resolved = detect::resolve(&n, &ctx).await?;
        let mut jobs = Vec::new();
        for (spec, source) in &sources {
            jobs.push(job(spec, source.clone(), &resolved.layout, &n, &mut bound)?);
        }
        let caps = layout_caps(&resolved);
        let at = if several {
            format!("{}: ", resolved.layout.repo)
        } else {
            String::new()
        };
        if !attach_origins(&n, &caps, &at) {
            jobs.iter_mut().for_each(|j| j.origins.clear());
        }
        runs.push(TargetRun {
            images_repo: resolved.layout.repo.to_string(),
            implementation: resolved.detection.implementation,
            caps,
            settings: n,
            jobs,
        });
    }
    let firsts: Vec<&String> = runs
        .iter()
        .flat_map(|r| &r.jobs)
        .filter_map(|j| j.references.first())
        .collect();
    check_tags_from_bound(settings, &bound, &firsts)?;
    // Each target is opened (vendor logins) and its repositories made; a target that fails
    // here fails alone, the others go on.
    let opened = futures_util::future::join_all(runs.iter().map(|r| open_target(r, &ctx))).await;
    // Bad input found there (a missing Harbor project, a half-given vendor login) stops the run
    // before any push, as with one target; so does any failure when there is one target.
    for (r, o) in runs.iter().zip(&opened) {
        if let Err(e) = o
            && (!several || e.kind == crate::error::Kind::Input)
        {
            return Err(if several {
                e.clone().context(r.images_repo.clone())
            } else {
                e.clone()
            });
        }
    }
    // One engine per registry: a blob goes to one repository of it and is mounted into the others.
    let source_stats = Arc::new(SourceStats::default());
    let mut engines: HashMap<String, Arc<Engine>> = HashMap::new();
    for (r, o) in runs.iter().zip(&opened) {
        if o.is_err() {
            continue;
        }
        for j in &r.jobs {
            engines
                .entry(j.repo.host.to_ascii_lowercase())
                .or_insert_with(|| {
                    Arc::new(
                        Engine::new(
                            ctx.oci.clone(),
                            r.caps.cross_repo_mount,
                            r.settings.dry_run,
                            r.settings.concurrency.unwrap_or(r.caps.default_concurrency),
                        )
                        .with_source_stats(source_stats.clone()),
                    )
                });
        }
    }
    let engine_of = |j: &Job| engines[&j.repo.host.to_ascii_lowercase()].clone();
    let live: Vec<&TargetRun> = runs
        .iter()
        .zip(&opened)
        .filter(|(_, o)| o.is_ok())
        .map(|(r, _)| r)
        .collect();
    let fanned = if settings.dry_run {
        HashMap::new()
    } else {
        share_reads(&live, &engine_of, &source_stats, settings.concurrency).await
    };
    // Bytes uploaded per image (and target), for the progress bars on a terminal.
    let pairs: Vec<(&TargetRun, &Job)> = live
        .iter()
        .flat_map(|r| r.jobs.iter().map(move |j| (*r, j)))
        .collect();
    let uploaded: Vec<Arc<AtomicU64>> = pairs.iter().map(|_| Default::default()).collect();
    let work =
        futures_util::future::join_all(pairs.iter().zip(&uploaded).map(|((_, j), counter)| {
            let engine = engine_of(j);
            async move {
                crate::publish::copy::counting(
                    counter.clone(),
                    engine.publish(&j.source, &j.repo, &j.tags, &j.origins),
                )
                .await
            }
        }));
    let all_engines: Vec<Arc<Engine>> = engines.values().cloned().collect();
    let sum = |f: fn(&crate::publish::copy::Stats) -> &AtomicU64| {
        all_engines
            .iter()
            .map(|e| f(&e.stats).load(Ordering::Relaxed))
            .sum::<u64>()
    };
    let results = crate::ci::progress::watch(
        work,
        "publishing",
        || {
            format!(
                "{} blob(s) uploaded ({}), {} mounted, {} present, {} manifest(s) put",
                sum(|s| &s.blobs_uploaded),
                human_bytes(sum(|s| &s.bytes_uploaded)),
                sum(|s| &s.blobs_mounted),
                sum(|s| &s.blobs_present),
                sum(|s| &s.manifests_put),
            )
        },
        Some(crate::ci::progress::Meter::Bytes {
            parts: pairs
                .iter()
                .zip(&uploaded)
                .map(|((r, j), c)| {
                    let name = j.spec.name.clone().unwrap_or_else(|| "~".into());
                    let label = if several {
                        format!("{name} → {}", r.images_repo)
                    } else {
                        name
                    };
                    (label, &**c)
                })
                .collect(),
        }),
    )
    .await;

    let mut per_target: Vec<TargetReport> = runs
        .iter()
        .map(|r| TargetReport {
            images_repo: r.images_repo.clone(),
            implementation: r.implementation.name(),
            images: Vec::new(),
            failed: Vec::new(),
            transfer: TargetTransfer::default(),
        })
        .collect();
    for ((r, o), t) in runs.iter().zip(&opened).zip(per_target.iter_mut()) {
        if let Err(e) = o {
            crate::log::error(&format!("{}: {e}", r.images_repo));
            for j in &r.jobs {
                t.failed.push(Failure {
                    image: j.spec.name.clone(),
                    references: j.references.clone(),
                    error: e.to_string(),
                    kind: e.kind,
                });
            }
        }
    }
    for ((r, job), result) in pairs.iter().zip(results) {
        let index = runs
            .iter()
            .position(|x| std::ptr::eq(x, *r))
            .unwrap_or_default();
        let target = &mut per_target[index];
        let engine = engine_of(job);
        match result {
            Ok(mut t) => {
                // Blobs the shared reads put into this repository were uploads for this image,
                // though the copy then found them present.
                if let Some((n, bytes)) = fanned.get(&(r.images_repo.clone(), job.repo.to_string()))
                {
                    t.uploaded += n;
                    t.uploaded_bytes += bytes;
                    t.present = t.present.saturating_sub(*n);
                }
                log_transfer(
                    &job.tags,
                    &job.references,
                    &job.source.root.digest,
                    &t,
                    r.settings.dry_run,
                );
                target.transfer.blobs_uploaded += t.uploaded;
                target.transfer.bytes_uploaded += t.uploaded_bytes;
                target.transfer.blobs_mounted += t.mounted;
                target.transfer.blobs_present += t.present;
                if r.settings.with_referrers && !r.settings.dry_run {
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
                            target.failed.push(Failure {
                                image: job.spec.name.clone(),
                                references: job.references.clone(),
                                error: format!("copying referrers: {e}"),
                                kind: e.kind,
                            });
                        }
                    }
                }
                for (tag, reference) in job.tags.iter().zip(&job.references) {
                    target.images.push(Published {
                        image: job.spec.name.clone(),
                        reference: reference.clone(),
                        digest: job.source.root.digest.clone(),
                        pushed: t.changed_tags.contains(tag),
                    });
                }
            }
            Err(e) => {
                crate::log::error(&format!("{}: {e}", job.references.join(", ")));
                target.failed.push(Failure {
                    image: job.spec.name.clone(),
                    references: job.references.clone(),
                    error: e.to_string(),
                    kind: e.kind,
                });
            }
        }
    }
    let images = per_target.iter().flat_map(|t| t.images.clone()).collect();
    let failed = per_target.iter().flat_map(|t| t.failed.clone()).collect();
    Ok(PublishReport {
        implementation: runs
            .first()
            .map_or(crate::implementation::Implementation::Default.name(), |r| {
                r.implementation.name()
            }),
        dry_run: settings.dry_run,
        images,
        failed,
        transfer: Transfer {
            blobs_uploaded: sum(|s| &s.blobs_uploaded),
            bytes_uploaded: sum(|s| &s.bytes_uploaded),
            blobs_mounted: sum(|s| &s.blobs_mounted),
            blobs_present: sum(|s| &s.blobs_present),
            manifests_put: sum(|s| &s.manifests_put),
            requests: ctx.oci.transport().requests_sent(),
            source_blobs_read: source_stats.blobs_read.load(Ordering::Relaxed),
            source_bytes_read: source_stats.bytes_read.load(Ordering::Relaxed),
        },
        targets: per_target,
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
/// `at` prefixes the notice (the target, when there are several).
pub(super) fn attach_origins(
    settings: &Settings,
    caps: &crate::implementation::Capabilities,
    at: &str,
) -> bool {
    match crate::origin::decide(settings.origin_records, caps) {
        crate::origin::Decision::Attach => true,
        crate::origin::Decision::Off => {
            crate::log::verbose("origin records off (--origin-records off)");
            false
        }
        crate::origin::Decision::AutoOff(why) => {
            crate::log::notice(&format!("{at}{why}"));
            false
        }
    }
}

/// Opens a target's registry (vendor logins happen here) and makes its repositories.
async fn open_target(r: &TargetRun, ctx: &Context) -> Result<Box<dyn crate::registry::Registry>> {
    let host = r.jobs.first().map_or_else(
        || crate::implementation::registry_api_host(&r.images_repo),
        |j| j.repo.host.clone(),
    );
    let registry = crate::registry::open(
        r.caps,
        ctx.oci.clone(),
        &host,
        &super::host::host_config(&r.settings),
    )
    .await?;
    if !r.settings.dry_run {
        for job in &r.jobs {
            registry.ensure_repository(&job.repo).await?;
        }
    }
    Ok(registry)
}

/// Before the copy, with more than one registry: each blob that several registries lack is read
/// from its source once and uploaded to all of them together (`publish::fanout`). Returns the
/// uploads done, per (target's images repo, repository the blob went to): (blobs, bytes).
async fn share_reads(
    live: &[&TargetRun],
    engine_of: &dyn Fn(&Job) -> Arc<Engine>,
    stats: &Arc<SourceStats>,
    concurrency: Option<usize>,
) -> HashMap<(String, String), (u64, u64)> {
    let mut done: HashMap<(String, String), (u64, u64)> = HashMap::new();
    let hosts: std::collections::HashSet<String> = live
        .iter()
        .flat_map(|r| r.jobs.iter().map(|j| j.repo.host.to_ascii_lowercase()))
        .collect();
    if hosts.len() < 2 {
        return done;
    }
    // Per blob digest, per registry host: the first repository (and its target) that needs it,
    // with the source to read it from.
    struct Want<'a> {
        source: Arc<SourceImage>,
        blob: Descriptor,
        places: Vec<(&'a str, &'a Job)>,
    }
    let limit = concurrency.unwrap_or(4).max(1);
    // A repository that holds the image's root manifest holds its content (a registry accepts a
    // manifest only once what it references is there): one HEAD per image instead of one per
    // blob, so a re-publish of unchanged images reads and checks no blob.
    let jobs: Vec<(&TargetRun, &Job)> = live
        .iter()
        .flat_map(|r| r.jobs.iter().map(move |j| (*r, j)))
        .collect();
    let complete = futures_util::stream::iter(jobs.iter().map(|(_, j)| async move {
        matches!(
            engine_of(j)
                .oci()
                .head_manifest(&j.repo, &j.source.root.digest)
                .await,
            Ok(Some(_))
        )
    }))
    .buffered(limit)
    .collect::<Vec<bool>>()
    .await;
    let mut wants: Vec<Want> = Vec::new();
    for ((r, j), complete) in jobs.iter().zip(complete) {
        // A registry source on the same registry is mounted from, never read.
        if complete
            || j.source
                .registry_repo()
                .is_some_and(|s| s.host.eq_ignore_ascii_case(&j.repo.host))
        {
            continue;
        }
        let Ok(blobs) = j.source.blobs() else {
            continue;
        };
        for b in blobs {
            let w = match wants.iter_mut().find(|w| w.blob.digest == b.digest) {
                Some(w) => w,
                None => {
                    wants.push(Want {
                        source: j.source.clone(),
                        blob: b.clone(),
                        places: Vec::new(),
                    });
                    wants.last_mut().expect("just pushed")
                }
            };
            if !w
                .places
                .iter()
                .any(|(_, p)| p.repo.host.eq_ignore_ascii_case(&j.repo.host))
            {
                w.places.push((r.images_repo.as_str(), j));
            }
        }
    }
    wants.retain(|w| w.places.len() >= 2);
    // Which of those places lack the blob (a HEAD each; what is there is noted for the copy).
    let checks = futures_util::stream::iter(wants.iter().flat_map(|w| {
        w.places.iter().map(move |(_, j)| async move {
            let engine = engine_of(j);
            match engine.oci().head_blob(&j.repo, &w.blob.digest).await {
                Ok(Some(_)) => {
                    engine.note_present(&j.repo, &w.blob.digest);
                    false
                }
                Ok(None) => true,
                // The copy meets the same error and reports it with its image.
                Err(_) => false,
            }
        })
    }))
    .buffered(limit)
    .collect::<Vec<bool>>()
    .await;
    let mut missing = checks.into_iter();
    let mut plans = Vec::new();
    for w in &wants {
        let lacking: Vec<(&str, &Job)> = w
            .places
            .iter()
            .filter(|_| missing.next().unwrap_or(false))
            .copied()
            .collect();
        if lacking.len() >= 2 {
            plans.push((w, lacking));
        }
    }
    let results = futures_util::stream::iter(plans.iter().map(|(w, lacking)| async move {
        let engines: Vec<Arc<Engine>> = lacking.iter().map(|(_, j)| engine_of(j)).collect();
        let uploads: Vec<Upload> = lacking
            .iter()
            .zip(&engines)
            .map(|((_, j), e)| Upload {
                engine: e,
                repo: &j.repo,
            })
            .collect();
        let r = fan_out(&w.source, &w.blob, &uploads, stats).await;
        (w, lacking, r)
    }))
    .buffer_unordered(limit)
    .collect::<Vec<_>>()
    .await;
    for (w, lacking, r) in results {
        for ((repo, j), result) in lacking.iter().zip(r) {
            match result {
                Ok(()) => {
                    let e = done
                        .entry((repo.to_string(), j.repo.to_string()))
                        .or_default();
                    e.0 += 1;
                    e.1 += w.blob.size;
                }
                Err(e) => crate::log::verbose(&format!(
                    "shared upload of {} to {} failed ({e}); the copy uploads it again",
                    w.blob.digest, j.repo
                )),
            }
        }
    }
    done
}

fn layout_caps(r: &detect::Resolved) -> crate::implementation::Capabilities {
    crate::implementation::Capabilities::of(r.detection.implementation, &r.layout.repo.host)
}

fn job(
    spec: &ImageSpec,
    source: Arc<SourceImage>,
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

    fn target(repo: &str, published: usize, failed: &[crate::error::Kind]) -> TargetReport {
        TargetReport {
            images_repo: repo.into(),
            implementation: "default",
            images: (0..published)
                .map(|i| Published {
                    image: None,
                    reference: format!("{repo}:t{i}"),
                    digest: "sha256:aa".into(),
                    pushed: true,
                })
                .collect(),
            failed: failed
                .iter()
                .map(|k| Failure {
                    image: None,
                    references: vec![format!("{repo}:t")],
                    error: "refused".into(),
                    kind: *k,
                })
                .collect(),
            transfer: TargetTransfer::default(),
        }
    }

    fn report_of(targets: Vec<TargetReport>) -> PublishReport {
        PublishReport {
            implementation: "default",
            dry_run: false,
            images: targets.iter().flat_map(|t| t.images.clone()).collect(),
            failed: targets.iter().flat_map(|t| t.failed.clone()).collect(),
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
            targets,
        }
    }

    #[test]
    fn exit_codes_over_targets() {
        use crate::error::Kind::{Auth, Operation};
        let ok = report_of(vec![target("a", 2, &[]), target("b", 2, &[])]);
        assert!(outcome(&ok).is_ok());
        // One target refusing while another published: exit 1, naming the target.
        let e = outcome(&report_of(vec![
            target("a", 2, &[]),
            target("b", 0, &[Auth, Auth]),
        ]))
        .unwrap_err();
        assert_eq!(e.kind, Operation);
        assert!(e.message.contains("1 of 2 targets: b"), "{e}");
        // Every target refusing: exit 3.
        let e = outcome(&report_of(vec![
            target("a", 0, &[Auth]),
            target("b", 0, &[Auth]),
        ]))
        .unwrap_err();
        assert_eq!(e.kind, Auth);
        // One target: as before (every image refused is exit 3, even beside published ones).
        let e = outcome(&report_of(vec![target("a", 1, &[Auth])])).unwrap_err();
        assert_eq!(e.kind, Auth);
        // The document shows `targets` only with more than one.
        let one = serde_json::to_value(report_of(vec![target("a", 1, &[])])).unwrap();
        assert!(one.get("targets").is_none(), "{one}");
        let two = serde_json::to_value(&ok).unwrap();
        assert_eq!(two["targets"][1]["images_repo"], "b");
        assert_eq!(two["transfer"]["source_blobs_read"], 0);
    }

    #[test]
    fn bytes_read_well() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024 / 2), "1.5 MiB");
    }
}
