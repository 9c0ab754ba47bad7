//! `dockhand detect`: the implementation, the repository mode, each image's reference, and why.

use serde::Serialize;

use super::context::Context;
use crate::detect::Detection;
use crate::error::Result;
use crate::implementation::{Capabilities, Implementation};
use crate::naming::layout::{Layout, Mode};
use crate::registry::probe;
use crate::settings::{Output, Settings};

/// What detection decided for the images repo.
pub struct Resolved {
    pub detection: Detection,
    pub layout: Layout,
}

/// What can be checked of the images repo without the network: with the implementation known
/// offline (explicit, CI, host pattern), its real rules; otherwise the generic registry's, the
/// most permissive ones. Every reference (image × tag) is built too: a monorepo tag `NAME-TAG`
/// over 128 characters fails here.
pub fn check_offline(settings: &Settings) -> Result<()> {
    let repo = settings.require_images_repo()?;
    let offline = crate::detect::detect_offline(&repo.host, settings.implementation, &settings.ci)
        .map_or(Implementation::Default, |d| d.implementation);
    let early = Layout::resolve(
        repo.clone(),
        settings.mode,
        Capabilities::of(offline, &repo.host),
    )?;
    for image in &settings.images {
        early.check_image(image.name.as_deref())?;
        for t in &settings.tags {
            early.target(image.name.as_deref(), &t.tag)?;
        }
    }
    Ok(())
}

/// Detects the implementation and resolves the layout; checks every image fits it.
pub async fn resolve(settings: &Settings, ctx: &Context) -> Result<Resolved> {
    // Bad input is exit 2 only if nothing was sent, so everything that can be checked is checked
    // before the probe.
    check_offline(settings)?;
    let repo = settings.require_images_repo()?;
    let detection = probe::detect(
        &ctx.oci,
        &repo.host,
        settings.implementation,
        &settings.ci,
        settings.probe,
    )
    .await;
    let caps = Capabilities::of(detection.implementation, &repo.host);
    let layout = Layout::resolve(repo.clone(), settings.mode, caps)?;
    for image in &settings.images {
        layout.check_image(image.name.as_deref())?;
    }
    Ok(Resolved { detection, layout })
}

#[derive(Serialize)]
struct Report<'a> {
    images_repo: String,
    registry: &'a str,
    implementation: &'static str,
    title: &'static str,
    detection: &'a Detection,
    mode: Mode,
    mode_reason: &'a str,
    capabilities: Capabilities,
    images: Vec<ImageReport>,
}

#[derive(Serialize)]
struct ImageReport {
    image: Option<String>,
    repository: String,
    /// One reference per requested tag; empty when no tag option was given.
    references: Vec<String>,
    /// The shape of its references, with `<tag>` for the tag.
    pattern: String,
}

/// `dockhand detect`: the report of the images repo, or with several targets one per target
/// (JSON: `{"targets": [...]}`; text: the tables one after the other).
pub async fn run(settings: &Settings) -> Result<()> {
    if settings.targets.len() < 2 {
        let (doc, table) = one(settings).await?;
        match settings.output {
            Output::Json => println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default()),
            Output::Text => print!("{table}"),
        }
        return Ok(());
    }
    let narrowed: Vec<Settings> = settings
        .targets
        .iter()
        .map(|t| settings.for_target(t))
        .collect();
    // Every target's names are checked before the first probe.
    for n in &narrowed {
        check_offline(n)?;
    }
    let mut docs = Vec::new();
    let mut tables = Vec::new();
    for n in &narrowed {
        let (doc, table) = one(n).await?;
        docs.push(doc);
        tables.push(table);
    }
    match settings.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "targets": docs }))
                .unwrap_or_default()
        ),
        Output::Text => print!("{}", tables.join("\n")),
    }
    Ok(())
}

/// The detection report of one images repo: the JSON document and the table.
async fn one(settings: &Settings) -> Result<(serde_json::Value, String)> {
    let ctx = Context::new(settings)?;
    let r = resolve(settings, &ctx).await?;
    let layout = &r.layout;
    let names: Vec<Option<String>> = if settings.images.is_empty() {
        vec![Some("<image>".to_string())]
    } else {
        settings.images.iter().map(|i| i.name.clone()).collect()
    };
    let mut images = Vec::new();
    for name in names {
        let placeholder = name.as_deref() == Some("<image>");
        // A valid name that no address contains, replaced by `<image>` in what is shown.
        const SENTINEL: &str = "dockhand-image-placeholder";
        let probe_name = if placeholder {
            Some(SENTINEL)
        } else {
            name.as_deref()
        };
        let repository = layout.repository(probe_name)?;
        let mut pattern = layout.pattern(probe_name)?;
        let mut references = Vec::new();
        if placeholder {
            pattern = pattern.replace(SENTINEL, "<image>");
        } else {
            for t in &settings.tags {
                references.push(layout.target(name.as_deref(), &t.tag)?.to_string());
            }
        }
        images.push(ImageReport {
            image: name,
            repository: repository.replace(SENTINEL, "<image>"),
            references,
            pattern,
        });
    }
    let caps = Capabilities::of(r.detection.implementation, &layout.repo.host);
    let report = Report {
        images_repo: layout.repo.to_string(),
        registry: &layout.repo.host,
        implementation: r.detection.implementation.name(),
        title: r.detection.implementation.title(),
        detection: &r.detection,
        mode: layout.mode,
        mode_reason: &layout.reason,
        capabilities: caps,
        images,
    };
    Ok((
        serde_json::to_value(&report).unwrap_or_default(),
        text(&report),
    ))
}

fn text(r: &Report) -> String {
    let mut s = String::new();
    s.push_str(&format!("images repo     {}\n", r.images_repo));
    s.push_str(&format!(
        "implementation  {} ({})\n",
        r.implementation, r.title
    ));
    s.push_str(&format!("  because       {}\n", r.detection.reason));
    s.push_str(&format!("mode            {}\n", r.mode));
    s.push_str(&format!("  because       {}\n", r.mode_reason));
    s.push_str("images\n");
    let width = r
        .images
        .iter()
        .map(|i| i.image.as_deref().unwrap_or("~").len())
        .max()
        .unwrap_or(1)
        .max(8);
    for i in &r.images {
        let name = i.image.as_deref().unwrap_or("~");
        if i.references.is_empty() {
            s.push_str(&format!("  {name:<width$}  {}\n", i.pattern));
        }
        for reference in &i.references {
            s.push_str(&format!("  {name:<width$}  {reference}\n"));
        }
    }
    s
}
