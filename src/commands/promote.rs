//! `dockhand promote --from REF`: one tested image, by digest (platform children and referrers
//! included), into every destination images repo under the tags the tag options compute.

use std::sync::atomic::Ordering;

use super::context::Context;
use super::detect;
use super::publish::{self, Destination, Failure, PublishReport, Published, Transfer};
use crate::error::{Error, Result};
use crate::implementation::{Capabilities, registry_api_host};
use crate::naming::reference::{ImagesRepo, Reference};
use crate::promote::{self, Pin};
use crate::publish::copy::{Engine, ImageTransfer};
use crate::publish::image::SourceImage;
use crate::registry::distribution::Repo;
use crate::settings::Settings;

/// The images repos promoted to: today the one `--images-repo`; the list is where several
/// targets come in.
pub fn targets(settings: &Settings) -> Result<Vec<ImagesRepo>> {
    Ok(vec![settings.require_images_repo()?.clone()])
}

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
    let targets = targets(settings)?;
    let ctx = Context::new(settings)?;
    let digest = source_digest(settings, &ctx, from).await?;
    let text = format!("docker://{}/{}@{digest}", from.registry, from.repository);
    let source = SourceImage::open(&text, &ctx.oci).await?;

    let mut implementation = "";
    let mut images = Vec::new();
    let mut failed = Vec::new();
    let mut transfer = Transfer::default();
    for target in &targets {
        let resolved = detect::resolve_repo(settings, &ctx, target).await?;
        resolved.layout.check_image(name.as_deref())?;
        let mut bound = vec![false; settings.tags_from.len()];
        let mut dest = publish::destination(
            name.as_deref(),
            &digest,
            &resolved.layout,
            settings,
            &mut bound,
        )?;
        let firsts: Vec<&String> = dest.references.iter().take(1).collect();
        publish::check_tags_from_bound(settings, &bound, &firsts)?;
        let caps = Capabilities::of(
            resolved.detection.implementation,
            &resolved.layout.repo.host,
        );
        if !publish::attach_origins(settings, &caps) {
            dest.origins.clear();
        }
        if implementation.is_empty() {
            implementation = resolved.detection.implementation.name();
        }
        let engine = Engine::new(
            ctx.oci.clone(),
            caps.cross_repo_mount,
            settings.dry_run,
            settings.concurrency.unwrap_or(caps.default_concurrency),
        );
        let work = copy(settings, &ctx, caps, &engine, &source, &dest);
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
                publish::log_transfer(&dest.tags, &dest.references, &digest, &t, settings.dry_run);
                if referrers > 0 {
                    crate::log::info(&format!("copied {referrers} referrer(s) of {text}"));
                }
                for (tag, reference) in dest.tags.iter().zip(&dest.references) {
                    images.push(Published {
                        image: name.clone(),
                        reference: reference.clone(),
                        digest: digest.clone(),
                        pushed: t.changed_tags.contains(tag),
                    });
                }
            }
            Err(e) => {
                crate::log::error(&format!("{}: {e}", dest.references.join(", ")));
                failed.push(Failure {
                    image: name.clone(),
                    references: dest.references.clone(),
                    error: e.to_string(),
                    kind: e.kind,
                });
            }
        }
        let s = &engine.stats;
        transfer.blobs_uploaded += s.blobs_uploaded.load(Ordering::Relaxed);
        transfer.bytes_uploaded += s.bytes_uploaded.load(Ordering::Relaxed);
        transfer.blobs_mounted += s.blobs_mounted.load(Ordering::Relaxed);
        transfer.blobs_present += s.blobs_present.load(Ordering::Relaxed);
        transfer.manifests_put += s.manifests_put.load(Ordering::Relaxed);
    }
    transfer.requests = ctx.oci.transport().requests_sent();
    Ok(PublishReport {
        implementation,
        dry_run: settings.dry_run,
        images,
        failed,
        transfer,
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
