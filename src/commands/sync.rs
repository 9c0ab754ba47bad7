//! `dockhand sync SRC DST`: list both → plan → (execute) → report.

use super::context::Context;
use crate::cleanup::guard::{self, Recheck};
use crate::error::{Error, Result};
use crate::implementation::{Capabilities, registry_api_host};
use crate::naming::reference::Reference;
use crate::registry::Registry;
use crate::registry::distribution::Repo;
use crate::settings::{Output, Settings};
use crate::sync::execute::{self, Side};
use crate::sync::{plan, report};

/// `host/path` as a repository (Docker's normalisation); a tag or digest is bad input.
fn repository(what: &str, text: &str) -> Result<Repo> {
    let r = Reference::parse(text).map_err(|e| {
        Error::input(format!("sync {what} {text:?}: {e}"))
            .with_source(e)
            .with_hint("give a repository as HOST/PATH, e.g. registry.example.com/team/app")
    })?;
    if r.tag.is_some() || r.digest.is_some() {
        return Err(Error::input(format!(
            "sync {what} {text:?} names a tag or digest; sync works on whole repositories"
        ))
        .with_hint("drop the :TAG or @DIGEST and choose tags with --only-tag REGEX"));
    }
    Ok(Repo::new(registry_api_host(&r.registry), r.repository))
}

/// Opens the registry serving `repo`, detected per host as publish and cleanup do.
async fn open(
    settings: &Settings,
    ctx: &Context,
    repo: &Repo,
    explicit: Option<crate::implementation::Implementation>,
) -> Result<(Box<dyn Registry>, Capabilities)> {
    let detection = crate::registry::probe::detect(
        &ctx.oci,
        &repo.host,
        explicit,
        &settings.ci,
        settings.probe,
    )
    .await;
    let caps = Capabilities::of(detection.implementation, &repo.host);
    let registry = crate::registry::open(
        caps,
        ctx.oci.clone(),
        &repo.host,
        &super::host::host_config(settings),
    )
    .await?;
    Ok((registry, caps))
}

pub async fn run(settings: &Settings, source: &str, destination: &str) -> Result<()> {
    let doc = sync(settings, source, destination).await?;
    match settings.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default()),
        Output::Text => print!("{}", report::table(&doc)),
    }
    if doc.summary.failed > 0 {
        return Err(Error::operation(format!(
            "{} tag(s) failed to sync; the report names each",
            doc.summary.failed
        )));
    }
    Ok(())
}

/// Plans and (unless a dry run) executes; returns the document.
pub async fn sync(settings: &Settings, source: &str, destination: &str) -> Result<report::Report> {
    // Bad input before any request (exit 2 with nothing sent).
    let src = repository("source", source)?;
    let dst = repository("destination", destination)?;
    if src == dst {
        return Err(Error::input(format!(
            "sync source and destination are the same repository ({src})"
        )));
    }
    // The registry credentials of the options are the mirror's (the side written to); the
    // source's come from the Docker config.
    let ctx = Context::logged_in(settings, Some(&dst.host))?;
    // --implementation names the mirror's registry (the one written to); the source is detected.
    let (src_registry, src_caps) = open(settings, &ctx, &src, None).await?;
    let (dst_registry, dst_caps) = open(settings, &ctx, &dst, settings.implementation).await?;
    let concurrency = settings.concurrency.unwrap_or(
        dst_caps
            .default_concurrency
            .min(src_caps.default_concurrency),
    );
    let none = Default::default();
    let source_tags = guard::look(
        src_registry.as_ref(),
        &src,
        &none,
        Recheck::New,
        concurrency,
    )
    .await?
    .tags;
    let mirror_tags = guard::look(
        dst_registry.as_ref(),
        &dst,
        &none,
        Recheck::New,
        concurrency,
    )
    .await?
    .tags;
    let the_plan = plan::plan(
        &source_tags,
        &mirror_tags,
        &settings.policy.only_tag,
        settings.delete_extra,
    );
    let results = if settings.dry_run {
        None
    } else {
        let work = execute::execute(
            Side {
                registry: src_registry.as_ref(),
                repo: &src,
            },
            Side {
                registry: dst_registry.as_ref(),
                repo: &dst,
            },
            &the_plan,
            settings.with_referrers,
            concurrency,
        );
        let todo = the_plan
            .steps
            .iter()
            .filter(|s| s.action != plan::Action::Unchanged)
            .count();
        Some(
            crate::ci::progress::watch(work, "syncing", || format!("syncing {todo} tag(s)"), None)
                .await,
        )
    };
    Ok(report::build(
        &src.to_string(),
        &dst.to_string(),
        &the_plan,
        results.as_ref().map(|(r, t)| (r, *t)),
    ))
}
