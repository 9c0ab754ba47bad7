//! `dockhand promote --from REF`: one tested image, by digest (platform children and referrers
//! included), into every destination images repo under the tags the tag options compute.

use std::sync::atomic::Ordering;

use super::context::Context;
use super::detect;
use super::publish::{
    self, Destination, Failure, PublishReport, Published, TargetReport, TargetTransfer, Transfer,
};
use crate::error::{Error, Result};
use crate::implementation::{Capabilities, registry_api_host};
use crate::naming::reference::Reference;
use crate::promote::{self, Pin};
use crate::publish::copy::{Engine, ImageTransfer};
use crate::publish::image::SourceImage;
use crate::registry::distribution::Repo;
use crate::settings::Settings;

pub async fn run(settings: &Settings) -> Result<()> {
    let report = promote(settings).await?;
    publish::finish(settings, &report, "promotion")
}

/// The source's digest to copy: `--from`'s digest, or its tag's digest now, which must be
/// `--from-digest` when that is given (else nothing is copied: exit 1).
async fn source_digest(settings: &Settings, ctx: &Context, from: &Reference) -> Result<String> {
    let src = Repo::new(registry_api_host(&from.registry), from.repository.clone());
    let tag = from.tag.as_deref().unwrap_or("latest");
    let current = match &from.digest {
        Some(_) => None,
        None => ctx.oci.head_manifest(&src, tag).await?.map(|d| d.digest),
    };
    match promote::pin(from, settings.from_digest.as_ref(), current.as_deref()) {
        Pin::Copy(d) => {
            if from.digest.is_none() {
                crate::log::info(&format!("{src}:{tag} is {d}"));
            }
            Ok(d)
        }
        Pin::Moved { tested, now } => Err(Error::operation(format!(
            "refused: {src}:{tag} now points at {now}, not at the tested {tested} (--from-digest); nothing was copied"
        ))
        .with_hint(
            "promote what was tested by its digest (--from REPO/NAME@DIGEST), or test the new image and pin its digest",
        )),
        Pin::Gone => Err(Error::operation(format!(
            "{src}:{tag} does not exist; nothing was copied"
        ))
        .with_hint("check --from, or promote by digest (--from REPO/NAME@DIGEST)")),
    }
}

/// Checks the input, pins the source, then copies it into each target in turn; a failed
/// target is reported and the others still go.
pub async fn promote(settings: &Settings) -> Result<PublishReport> {
    // Bad input before any request (exit 2 with nothing sent).
    let from = settings.from.as_ref().ok_or_else(|| {
        Error::input("nothing to promote: --from is not given").with_hint(
            "pass --from REPO/NAME@DIGEST, or REPO/NAME:TAG with --from-digest DIGEST (DOCKHAND_FROM, DOCKHAND_FROM_DIGEST)",
        )
    })?;
    publish::require_tags(settings, "promote")?;
    let configured: Vec<Option<String>> = settings.images.iter().map(|i| i.name.clone()).collect();
    let name = promote::image_name(&settings.image_flags, &configured, from).map_err(|e| {
        Error::input(e.to_string())
            .with_source(e)
            .with_hint("choose the image with --image NAME")
    })?;
    // Each target with its own settings (images repo, mode, implementation, login); every
    // target's names are checked before the first request.
    let targets = publish::narrowed(settings)?;
    for t in &targets {
        detect::check_offline(t)?;
    }
    let ctx = publish::run_context(settings)?;
    let digest = source_digest(settings, &ctx, from).await?;
    let text = format!("docker://{}/{}@{digest}", from.registry, from.repository);
    let source = SourceImage::open(&text, &ctx.oci).await?;

    let mut per_target = Vec::new();
    let mut transfer = Transfer::default();
    for ts in &targets {
        let resolved = detect::resolve(ts, &ctx).await?;
        resolved.layout.check_image(name.as_deref())?;
        let mut bound = vec![false; ts.tags_from.len()];
        let mut dest =
            publish::destination(name.as_deref(), &digest, &resolved.layout, ts, &mut bound)?;
        let firsts: Vec<&String> = dest.references.iter().take(1).collect();
        publish::check_tags_from_bound(ts, &bound, &firsts)?;
        let caps = Capabilities::of(
            resolved.detection.implementation,
            &resolved.layout.repo.host,
        );
        let at = if targets.len() > 1 {
            format!("{}: ", resolved.layout.repo)
        } else {
            String::new()
        };
        if !publish::attach_origins(ts, &caps, &at) {
            dest.origins.clear();
        }
        let mut target = TargetReport {
            images_repo: resolved.layout.repo.to_string(),
            implementation: resolved.detection.implementation.name(),
            images: Vec::new(),
            failed: Vec::new(),
            transfer: TargetTransfer::default(),
        };
        let engine = Engine::new(
            ctx.oci.clone(),
            caps.cross_repo_mount,
            ts.dry_run,
            ts.concurrency.unwrap_or(caps.default_concurrency),
        );
        let work = copy(ts, &ctx, caps, &engine, &source, &dest);
        let result = crate::ci::progress::watch(
            work,
            "promoting",
            || {
                let s = &engine.stats;
                format!(
                    "{} blob(s) uploaded ({}), {} mounted, {} present",
                    s.blobs_uploaded.load(Ordering::Relaxed),
                    publish::human_bytes(s.bytes_uploaded.load(Ordering::Relaxed)),
                    s.blobs_mounted.load(Ordering::Relaxed),
                    s.blobs_present.load(Ordering::Relaxed),
                )
            },
            None,
        )
        .await;
        match result {
            Ok((t, referrers)) => {
                publish::log_transfer(&dest.tags, &dest.references, &digest, &t, ts.dry_run);
                if referrers > 0 {
                    crate::log::info(&format!("copied {referrers} referrer(s) of {text}"));
                }
                for (tag, reference) in dest.tags.iter().zip(&dest.references) {
                    target.images.push(Published {
                        image: name.clone(),
                        reference: reference.clone(),
                        digest: digest.clone(),
                        pushed: t.changed_tags.contains(tag),
                    });
                }
            }
            Err(e) => {
                crate::log::error(&format!("{}: {e}", dest.references.join(", ")));
                target.failed.push(Failure {
                    image: name.clone(),
                    references: dest.references.clone(),
                    error: e.to_string(),
                    kind: e.kind,
                });
            }
        }
        let s = &engine.stats;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        target.transfer = TargetTransfer {
            blobs_uploaded: load(&s.blobs_uploaded),
            bytes_uploaded: load(&s.bytes_uploaded),
            blobs_mounted: load(&s.blobs_mounted),
            blobs_present: load(&s.blobs_present),
        };
        transfer.blobs_uploaded += load(&s.blobs_uploaded);
        transfer.bytes_uploaded += load(&s.bytes_uploaded);
        transfer.blobs_mounted += load(&s.blobs_mounted);
        transfer.blobs_present += load(&s.blobs_present);
        transfer.manifests_put += load(&s.manifests_put);
        per_target.push(target);
    }
    transfer.requests = ctx.oci.transport().requests_sent();
    Ok(PublishReport {
        implementation: per_target.first().map_or("", |t| t.implementation),
        dry_run: settings.dry_run,
        images: per_target.iter().flat_map(|t| t.images.clone()).collect(),
        failed: per_target.iter().flat_map(|t| t.failed.clone()).collect(),
        transfer,
        targets: per_target,
    })
}

/// One target: the image under its tags (what is there already is skipped; blobs of the same
/// registry are mounted), then its referrers. A dry run only looks.
async fn copy(
    settings: &Settings,
    ctx: &Context,
    caps: Capabilities,
    engine: &Engine,
    source: &SourceImage,
    dest: &Destination,
) -> Result<(ImageTransfer, usize)> {
    let registry = crate::registry::open(
        caps,
        ctx.oci.clone(),
        &dest.repo.host,
        &super::host::host_config(settings),
    )
    .await?;
    if !settings.dry_run {
        registry.ensure_repository(&dest.repo).await?;
    }
    let t = engine
        .publish(source, &dest.repo, &dest.tags, &dest.origins)
        .await?;
    let referrers = if settings.dry_run {
        0
    } else {
        engine.copy_referrers(source, &dest.repo).await?
    };
    Ok((t, referrers))
}
