//! Plans cleanup for a synthetic repository of 100,000 tags (50,000 images, half of them with
//! origin records for branches of which half are gone) and prints how long planning took.
//! Run by `bench/cleanup`; the target is under one second.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime};

use dockhand::cleanup::model::{GitRefs, ImageScope, Inventory, ManifestInfo, Origin};
use dockhand::cleanup::plan::{PolicyInput, plan};
use dockhand::settings::TagStrategy;

fn main() {
    let tags: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let now = SystemTime::now();
    let mut inv = Inventory {
        repository: "registry.example/app".into(),
        ..Default::default()
    };
    let mut branches = BTreeSet::new();
    for i in 0..tags / 2 {
        let digest = format!("sha256:{i:064x}");
        let branch = format!("feature/{i}");
        if i % 2 == 0 {
            branches.insert(branch.clone());
        }
        let tag = format!("feature-{i}");
        let origins = if i % 2 == 0 || i % 3 == 0 {
            vec![Origin {
                image: Some("app".into()),
                tag: tag.clone(),
                strategy: TagStrategy::GitBranch,
                git_ref: Some(format!("refs/heads/{branch}")),
                commit: None,
                pushed: None,
            }]
        } else {
            Vec::new()
        };
        inv.manifests.insert(
            digest.clone(),
            ManifestInfo {
                digest: digest.clone(),
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                pushed: Some(now - Duration::from_secs(3600 * (i as u64 % 5000))),
                origins,
                ..Default::default()
            },
        );
        inv.tags.insert(tag, digest.clone());
        inv.tags.insert(format!("build-{i}"), digest);
    }
    let scopes = [ImageScope {
        image: Some("app".into()),
        repository: inv.repository.clone(),
        prefix: None,
    }];
    let policy = PolicyInput {
        keep_last: Some(100),
        keep_younger_than: Some(Duration::from_secs(30 * 86_400)),
        grace: Duration::from_secs(7200),
        git: Some(GitRefs {
            branches,
            ..Default::default()
        }),
        untag_possible: true,
        ..Default::default()
    };
    let started = Instant::now();
    let p = plan(&[inv], &scopes, &policy, now);
    let took = started.elapsed();
    let deletions = p.deletions().count();
    println!(
        "planned {} tags ({deletions} deletions) in {:.3} s",
        p.tags.len(),
        took.as_secs_f64()
    );
}
