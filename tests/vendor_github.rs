//! GitHub Packages end to end: the real binary against the fake REST packages API
//! (`support::fake_github`) and a ghcr-like registry on the in-memory OCI fake (Bearer token at
//! `/token` with service `ghcr.io`, manifest DELETE 405, no referrers API, every manifest PUT a
//! package version). Outcomes are checked in the fakes (versions, tags, manifests), in the
//! requests sent (counted), in what the user saw and in the exit code.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use dockhand::fixtures::{self, File, Image};
use dockhand::naming::slug::slug_tag;
use reqwest::Method;
use serde_json::Value;
use support::fake_github::{FakeGitHub, GhState, Limit};

// ---------------------------------------------------------------------------------------------
// Running dockhand

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn dockhand(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dockhand"));
    cmd.args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", cwd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out: Output = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(r: Run) -> Run {
    assert_eq!(r.code, 0, "{r}");
    r
}

fn json(r: &Run) -> Value {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{r}"))
}

fn entries(doc: &Value) -> &Vec<Value> {
    doc["tags"].as_array().expect("tags[]")
}

fn entry<'a>(doc: &'a Value, tag: &str) -> &'a Value {
    let found: Vec<&Value> = entries(doc).iter().filter(|e| e["tag"] == tag).collect();
    assert_eq!(found.len(), 1, "one entry for {tag} expected in {doc:#}");
    found[0]
}

fn summary(doc: &Value, field: &str) -> u64 {
    doc["summary"][field]
        .as_u64()
        .unwrap_or_else(|| panic!("summary.{field} in {doc:#}"))
}

fn set<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> BTreeSet<String> {
    items.into_iter().map(Into::into).collect()
}

fn fallback_tag(digest: &str) -> String {
    digest.replace(':', "-")
}

// ---------------------------------------------------------------------------------------------
// Fixtures

fn image(content: &str, arch: &str) -> Image {
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

fn layout(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join("layouts").join(name);
    let digest = fixtures::write_layout(&path, "latest", &image(name, "amd64")).unwrap();
    (path, digest)
}

fn multiarch_layout(dir: &Path, name: &str) -> (PathBuf, String) {
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

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=dockhand test",
            "-c",
            "user.email=test@example.invalid",
            "-c",
            "commit.gpgsign=false",
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

fn git_repo(dir: &Path, branches: &[&str]) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "first"]);
    for b in branches {
        git(&repo, &["branch", b]);
    }
    repo
}

// ---------------------------------------------------------------------------------------------
// 4. Auto mode and nesting: ghcr.io nests; the legacy registry has fixed OWNER/REPO/IMAGE paths

fn detect(images_repo: &str, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["detect", "-i", images_repo, "--output", "json"];
    args.extend_from_slice(extra);
    dockhand(&args, dir.path(), &[])
}

#[test]
fn detect_auto_mode_and_nesting() {
    // ghcr.io nests: an account and a deeper path are both multirepo.
    for (addr, want) in [
        ("ghcr.io/acme", "ghcr.io/acme/backend"),
        ("ghcr.io/acme/project", "ghcr.io/acme/project/backend"),
    ] {
        let r = ok(detect(addr, &["--image", "backend"]));
        let doc = json(&r);
        assert_eq!(doc["implementation"], "github", "{r}");
        assert_eq!(doc["mode"], "multirepo", "{addr}: {r}");
        assert_eq!(doc["images"][0]["repository"], want, "{r}");
        assert_eq!(doc["capabilities"]["untag"], "safe-untag", "{r}");
        assert_eq!(doc["capabilities"]["digest_delete"], "vendor-api", "{r}");
    }
    // A bare ghcr.io has no owner: exit 2.
    let r = detect("ghcr.io", &[]);
    assert_eq!(r.code, 2, "{r}");

    // Legacy: the account is OWNER/REPOSITORY (→ one package per image), a full
    // OWNER/REPOSITORY/IMAGE path is one package the images share (→ monorepo).
    let r = ok(detect(
        "docker.pkg.github.com/acme/project",
        &["--image", "backend"],
    ));
    let doc = json(&r);
    assert_eq!(doc["implementation"], "github", "{r}");
    assert_eq!(doc["mode"], "multirepo", "{r}");
    assert_eq!(
        doc["images"][0]["repository"],
        "docker.pkg.github.com/acme/project/backend"
    );
    let r = ok(detect(
        "docker.pkg.github.com/acme/project/app",
        &["--image", "backend", "--tag-custom", "v1"],
    ));
    let doc = json(&r);
    assert_eq!(doc["mode"], "monorepo", "{r}");
    assert_eq!(
        doc["images"][0]["references"][0],
        "docker.pkg.github.com/acme/project/app:backend-v1"
    );
    // No nesting: too short, too deep, or a nested image name are input errors naming the shape.
    let r = detect("docker.pkg.github.com/acme", &[]);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("OWNER/PROJECT/IMAGE"), "{r}");
    let r = detect("docker.pkg.github.com/acme/project/app/deeper", &[]);
    assert_eq!(r.code, 2, "{r}");
    let r = detect(
        "docker.pkg.github.com/acme/project",
        &["--image", "team/backend"],
    );
    assert_eq!(r.code, 2, "{r}");
    let r = detect(
        "docker.pkg.github.com/acme/project/app",
        &["--images-repo-mode", "multirepo", "--image", "b"],
    );
    assert_eq!(r.code, 2, "{r}");
    // GitHub Enterprise Server: containers.<host> nests, docker.<host> is the legacy shape.
    let ghes = |addr: &str| {
        let dir = tempfile::tempdir().unwrap();
        dockhand(
            &["detect", "-i", addr, "--output", "json", "--image", "b"],
            dir.path(),
            &[("GITHUB_SERVER_URL", "https://ghe.example")],
        )
    };
    let r = ok(ghes("containers.ghe.example/acme"));
    assert_eq!(json(&r)["mode"], "multirepo", "{r}");
    assert_eq!(json(&r)["implementation"], "github", "{r}");
    let r = ok(ghes("docker.ghe.example/acme/project"));
    assert_eq!(json(&r)["mode"], "multirepo", "{r}");
    assert_eq!(json(&r)["capabilities"]["depth"]["max"], 3, "{r}");
    assert_eq!(ghes("docker.ghe.example/acme").code, 2);
}
