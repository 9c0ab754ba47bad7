//! The images and the git checkout the end-to-end tests publish and clean up: OCI layouts whose
//! content (and so digest) is unique to a name, and a repository with branches.

use std::path::{Path, PathBuf};
use std::process::Command;

use dockhand::fixtures::{self, File, Image};

/// A one-layer image whose only file holds `content`.
pub fn image(content: &str, arch: &str) -> Image {
    Image {
        layers: vec![fixtures::tar(&[File {
            path: "app/id",
            content: content.as_bytes(),
        }])],
        created: "2024-05-01T12:00:00Z".into(),
        cmd: vec!["/app/id".into()],
        platform: ("linux".into(), arch.into()),
    }
}

/// A one-image OCI layout under `dir/layouts/name`; returns its path and the manifest digest.
pub fn layout(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join("layouts").join(name);
    let digest = fixtures::write_layout(&path, "latest", &image(name, "amd64")).unwrap();
    (path, digest)
}

/// A two-platform layout under `dir/layouts/name`; returns its path and the index digest.
pub fn multiarch_layout(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join("layouts").join(name);
    let digest = fixtures::write_multiarch_layout(
        &path,
        "latest",
        &[
            image(&format!("{name} x86"), "amd64"),
            image(&format!("{name} arm"), "arm64"),
        ],
    )
    .unwrap();
    (path, digest)
}

/// The `--image` source of a layout.
pub fn oci(p: &Path) -> String {
    format!("oci:{}", p.display())
}

/// The tag dockhand gives a digest that has no tag of its own.
pub fn fallback_tag(digest: &str) -> String {
    digest.replace(':', "-")
}

/// Runs git in `repo`, isolated from the user's and the system's settings; returns stdout.
pub fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=dockhand test",
            "-c",
            "user.email=test@example.invalid",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
        ])
        .arg("-C")
        .arg(repo)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", repo)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// [`git`]'s output without its final newline (a commit id, a branch name).
pub fn git_out(repo: &Path, args: &[&str]) -> String {
    git(repo, args).trim().to_string()
}

/// `dir/repo`: one commit on `main`, and `branches` pointing at it.
pub fn git_repo(dir: &Path, branches: &[&str]) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "first"]);
    for b in branches {
        git(&repo, &["branch", b]);
    }
    repo
}

/// [`git_repo`] with `main` one commit ahead of the branches, so the branches' commit is not
/// the checkout's HEAD.
pub fn git_repo_main_ahead(dir: &Path, branches: &[&str]) -> PathBuf {
    let repo = git_repo(dir, branches);
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "second"]);
    repo
}
