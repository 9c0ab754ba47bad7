//! The publish-then-clean scenario the registry end-to-end tests share: one images repo, one
//! login, four images whose tags cover the verdicts (stale branch tag, kept custom tag, stale
//! multi-arch index with a signature, a tag on `main`, a stale tag a vendor rule protects).

use std::path::{Path, PathBuf};

use dockhand::fixtures;
use dockhand::naming::slug::slug_tag;
use serde_json::Value;

use super::fake_oci::FakeOci;
use super::layouts::{git, git_repo_main_ahead, layout, multiarch_layout, oci};
use super::report::verdicts_by_repository;
use super::run::{Run, dockhand, with};

/// Runs of dockhand in `cwd` against `images_repo`, each with `login` appended.
pub struct Session<'a> {
    pub cwd: &'a Path,
    pub images_repo: String,
    pub login: Vec<String>,
}

impl Session<'_> {
    pub fn run(&self, args: &[&str]) -> Run {
        dockhand(&with(args, &self.login), self.cwd)
    }

    /// Publishes the seed example's images under the tag `tag` (auto mode); returns their
    /// (name, digest) pairs and the run.
    pub fn publish_seed_example(&self) -> (Vec<(String, String)>, Run) {
        let seeded = fixtures::seed_example(&self.cwd.join("images")).unwrap();
        let image = |name: &str| format!("{name}={}", oci(&self.cwd.join("images").join(name)));
        let (backend, frontend) = (image("backend"), image("frontend"));
        let r = self
            .run(&[
                "publish",
                "-i",
                &self.images_repo,
                "--image",
                &backend,
                "--image",
                &frontend,
                "--tag-custom",
                "tag",
            ])
            .ok();
        (seeded, r)
    }

    /// Publishes `layout` as image `name` with the tag options `tags`; expects success.
    pub fn publish(&self, name: &str, layout: &Path, tags: &[&str]) {
        let image = format!("{name}={}", oci(layout));
        let mut args = vec!["publish", "-i", &self.images_repo, "--image", &image];
        args.extend_from_slice(tags);
        self.run(&args).ok();
    }
}

/// What [`MixedPlan::publish`] left in the registry, under `namespace/{api,app,web,lib}`.
pub struct MixedPlan {
    /// The checkout: `main`, and the branches `feature/{x,m,z}` until
    /// [`delete_branches`](Self::delete_branches).
    pub repo: PathBuf,
    pub tag_x: String,
    pub tag_m: String,
    pub tag_z: String,
    /// api's one digest, tagged `tag_x` (stale) and `keepme` (kept).
    pub api_digest: String,
    /// app's multi-arch index (tagged `tag_m`, stale), its two children and a cosign signature.
    pub index: String,
    pub children: Vec<String>,
    pub sig_tag: String,
    pub sig: String,
    /// web, tagged `main` (kept).
    pub web_digest: String,
    /// lib, tagged `tag_z` (stale; the vendor test protects it).
    pub lib_digest: String,
}

impl MixedPlan {
    /// Publishes the four images through `session`; web gets `web_tags` besides `main`.
    pub fn publish(
        session: &Session,
        fake: &FakeOci,
        namespace: &str,
        web_tags: &[&str],
    ) -> MixedPlan {
        let repo = git_repo_main_ahead(session.cwd, &["feature/x", "feature/m", "feature/z"]);
        let (l, api_digest) = layout(session.cwd, "shared");
        session.publish(
            "api",
            &l,
            &["--tag-git-branch", "feature/x", "--tag-custom", "keepme"],
        );
        let (l, index) = multiarch_layout(session.cwd, "app");
        session.publish("app", &l, &["--tag-git-branch", "feature/m"]);
        let app = format!("{namespace}/app");
        let children = fake.manifest(&app, &index).unwrap().children.clone();
        assert_eq!(children.len(), 2);
        let sig_tag = format!("{}.sig", index.replace(':', "-"));
        let sig = fake.with_store(|s| {
            s.seed_image(
                &app,
                Some(&sig_tag),
                &[b"cosign signature"],
                "2024-05-01T12:00:00Z",
            )
        });
        let (l, web_digest) = layout(session.cwd, "web");
        let mut tags = vec!["--tag-git-branch", "main"];
        tags.extend_from_slice(web_tags);
        session.publish("web", &l, &tags);
        let (l, lib_digest) = layout(session.cwd, "lib");
        session.publish("lib", &l, &["--tag-git-branch", "feature/z"]);
        MixedPlan {
            repo,
            tag_x: slug_tag("feature/x"),
            tag_m: slug_tag("feature/m"),
            tag_z: slug_tag("feature/z"),
            api_digest,
            index,
            children,
            sig_tag,
            sig,
            web_digest,
            lib_digest,
        }
    }

    /// Deletes the feature branches: their tags become stale.
    pub fn delete_branches(&self) {
        for b in ["feature/x", "feature/m", "feature/z"] {
            git(&self.repo, &["branch", "-D", b]);
        }
    }

    /// `cleanup` of the four images by the local branches, without grace; the JSON document.
    pub fn cleanup(&self, session: &Session) -> Value {
        session
            .run(&[
                "cleanup",
                "-i",
                &session.images_repo,
                "--image",
                "api",
                "--image",
                "app",
                "--image",
                "web",
                "--image",
                "lib",
                "--git-dir",
                self.repo.to_str().unwrap(),
                "--git-refs",
                "local",
                "--grace",
                "0",
                "--output",
                "json",
            ])
            .ok()
            .json()
    }

    /// The verdicts of `doc` every registry gives: the stale tags deleted, lib's refused and kept.
    pub fn assert_verdicts(&self, doc: &Value, images_repo: &str) {
        let v = verdicts_by_repository(doc);
        let want = |n: &str, t: &str, a: &str, res: &str| {
            assert_eq!(
                v.get(&(format!("{images_repo}/{n}"), t.to_string())),
                Some(&(a.to_string(), res.to_string())),
                "{n}:{t} in {doc:#}"
            );
        };
        want("api", &self.tag_x, "delete", "deleted");
        want("api", "keepme", "keep", "kept");
        want("app", &self.tag_m, "delete", "deleted");
        want("app", &self.sig_tag, "delete", "deleted");
        want("web", "main", "keep", "kept");
        want("lib", &self.tag_z, "delete", "kept");
    }
}

/// The other shared scenario, for registries that judge the seed example by one branch: backend
/// and frontend tagged `feature/x`, backend also `stable` (one digest, a stale and a kept tag),
/// and two multi-arch images, `app` on `feature/x` and `other` on `main`.
pub struct BranchPlan {
    /// The checkout: `main`, and `feature/x` until the test deletes it.
    pub repo: PathBuf,
    pub tag_x: String,
    /// The seed example's (name, digest) pairs, backend first.
    pub seeded: Vec<(String, String)>,
    pub app_index: String,
    pub other_index: String,
}

impl BranchPlan {
    /// Publishes it all with `publish`, which runs `dockhand publish` with these extra arguments.
    pub fn publish(cwd: &Path, publish: impl Fn(&[&str])) -> BranchPlan {
        let repo = super::layouts::git_repo(cwd, &["feature/x"]);
        let seeded = fixtures::seed_example(&cwd.join("images")).unwrap();
        let backend = format!("backend={}", oci(&cwd.join("images/backend")));
        let frontend = format!("frontend={}", oci(&cwd.join("images/frontend")));
        publish(&[
            "--image",
            &backend,
            "--image",
            &frontend,
            "--tag-git-branch",
            "feature/x",
        ]);
        publish(&["--image", &backend, "--tag-custom", "stable"]);
        let (app_layout, app_index) = multiarch_layout(cwd, "app");
        let (other_layout, other_index) = multiarch_layout(cwd, "other");
        publish(&[
            "--image",
            &format!("app={}", oci(&app_layout)),
            "--tag-git-branch",
            "feature/x",
        ]);
        publish(&[
            "--image",
            &format!("other={}", oci(&other_layout)),
            "--tag-git-branch",
            "main",
        ]);
        BranchPlan {
            repo,
            tag_x: slug_tag("feature/x"),
            seeded,
            app_index,
            other_index,
        }
    }
}
