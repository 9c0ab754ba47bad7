//! `dockhand run`: the stages in order (`DOCKHAND_STAGES`, default `publish,cleanup`), one exit
//! code. `promote` takes publish's place (a release pipeline: `promote,cleanup`; the settings
//! refuse both). Cleanup does not run after a failed publish or promotion: it could delete what
//! the failed images were to replace. With several targets, only the targets where publishing
//! failed are skipped.

use serde::Serialize;

use super::{cleanup, promote, publish};
use crate::cleanup::report::Report;
use crate::error::Result;
use crate::settings::{Output, Settings};

#[derive(Serialize)]
struct RunReport<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    publish: Option<&'a publish::PublishReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    promote: Option<&'a publish::PublishReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cleanup: Option<&'a Report>,
    /// Several targets: each one's cleanup (`cleanup` is then absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    cleanup_targets: Option<serde_json::Value>,
}

pub async fn run(settings: &Settings) -> Result<()> {
    let wants = |s: &str| settings.stages.iter().any(|x| x == s);
    let promoting = wants("promote");
    let published = if wants("publish") {
        let _stage = crate::log::stage("publish", "dockhand: publish");
        Some(publish::publish(settings).await?)
    } else if promoting {
        let _stage = crate::log::stage("promote", "dockhand: promote");
        Some(promote::promote(settings).await?)
    } else {
        None
    };
    let publish_ok = published.as_ref().map_or(Ok(()), |r| {
        publish::outcome_of(r, if promoting { "promotion" } else { "publishing" })
    });
    let cleaned = match (&publish_ok, wants("cleanup")) {
        (Ok(()), true) => {
            let _stage = crate::log::stage("cleanup", "dockhand: cleanup");
            let done = cleanup::cleanup_targets(settings).await;
            if done.is_err() {
                // What was published still goes to the pipeline's files before the error.
                write_outputs(settings, published.as_ref(), &[])?;
            }
            Some(done?)
        }
        (Err(_), true) => match published.as_ref().map(published_targets) {
            // Several targets: those where every image was published are cleaned up; the
            // others are not, as with one target.
            Some((ok, failed)) if !ok.is_empty() && settings.targets.len() > 1 => {
                crate::log::warn(&format!(
                    "cleanup skipped for {}: publishing failed there",
                    failed.join(", ")
                ));
                let keep: Vec<_> = settings
                    .targets
                    .iter()
                    .filter(|t| ok.contains(&t.images_repo.to_string()))
                    .cloned()
                    .collect();
                let narrowed = settings.with_targets(keep);
                let _stage = crate::log::stage("cleanup", "dockhand: cleanup");
                let done = cleanup::cleanup_targets(&narrowed).await;
                if done.is_err() {
                    write_outputs(settings, published.as_ref(), &[])?;
                }
                Some(done?)
            }
            _ => {
                crate::log::warn(if promoting {
                    "cleanup skipped: promotion failed"
                } else {
                    "cleanup skipped: publishing failed"
                });
                None
            }
        },
        _ => None,
    };
    let single: Option<&Report> = match cleaned.as_deref() {
        Some([one]) => one.result.as_ref().ok(),
        _ => None,
    };
    let several = cleaned.as_ref().is_some_and(|c| c.len() > 1);
    match settings.output {
        Output::Json => {
            let doc = RunReport {
                publish: published.as_ref().filter(|_| !promoting),
                promote: published.as_ref().filter(|_| promoting),
                cleanup: single,
                cleanup_targets: several
                    .then(|| cleaned.as_deref().map(cleanup::target_docs))
                    .flatten(),
            };
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Output::Text => {
            if let Some(p) = &published {
                publish::print(p, Output::Text);
            }
            if let Some(c) = &cleaned {
                cleanup::print_targets(c, Output::Text);
            }
        }
    }
    let reports = cleaned.as_deref().map(cleanup::reports).unwrap_or_default();
    write_outputs(settings, published.as_ref(), &reports)?;
    publish_ok?;
    cleaned.as_deref().map_or(Ok(()), cleanup::outcome_targets)
}

/// The images repos of a publish's targets: (all published, some failed).
fn published_targets(p: &publish::PublishReport) -> (Vec<String>, Vec<String>) {
    let (ok, failed): (Vec<_>, Vec<_>) = p.targets.iter().partition(|t| t.failed.is_empty());
    (
        ok.into_iter().map(|t| t.images_repo.clone()).collect(),
        failed.into_iter().map(|t| t.images_repo.clone()).collect(),
    )
}

fn write_outputs(
    settings: &Settings,
    publish: Option<&publish::PublishReport>,
    cleanups: &[(&str, &Report)],
) -> Result<()> {
    crate::ci::outputs::write_targets(
        settings.output_files(),
        &settings.pipeline,
        publish,
        cleanups,
    )
}
