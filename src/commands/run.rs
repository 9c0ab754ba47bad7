//! `dockhand run`: the stages in order (`DOCKHAND_STAGES`, default `publish,cleanup`), one exit
//! code. `promote` takes publish's place (a release pipeline: `promote,cleanup`; the settings
//! refuse both). Cleanup does not run after a failed publish or promotion: it could delete what
//! the failed images were to replace.

use serde::Serialize;

use super::{cleanup, promote, publish};
use crate::cleanup::report::{self, Report};
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
            let doc = cleanup::cleanup(settings).await;
            if doc.is_err() {
                // What was published still goes to the pipeline's files before the error.
                write_outputs(settings, published.as_ref(), None)?;
            }
            Some(doc?)
        }
        (Err(_), true) => {
            crate::log::warn(if promoting {
                "cleanup skipped: promotion failed"
            } else {
                "cleanup skipped: publishing failed"
            });
            None
        }
        _ => None,
    };
    match settings.output {
        Output::Json => {
            let doc = RunReport {
                publish: published.as_ref().filter(|_| !promoting),
                promote: published.as_ref().filter(|_| promoting),
                cleanup: cleaned.as_ref(),
            };
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Output::Text => {
            if let Some(p) = &published {
                publish::print(p, Output::Text);
            }
            if let Some(c) = &cleaned {
                print!(
                    "{}",
                    report::table(c, crate::log::stdout_color(), crate::log::verbosity() >= 2)
                );
            }
        }
    }
    write_outputs(settings, published.as_ref(), cleaned.as_ref())?;
    publish_ok?;
    cleaned.as_ref().map_or(Ok(()), cleanup::outcome)
}

fn write_outputs(
    settings: &Settings,
    publish: Option<&publish::PublishReport>,
    cleanup: Option<&Report>,
) -> Result<()> {
    crate::ci::outputs::write(
        settings.output_files(),
        &settings.pipeline,
        crate::ci::outputs::Results { publish, cleanup },
    )
}
