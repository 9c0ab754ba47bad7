//! The ways dockhand is shipped: action.yml, the GitLab template and component, the examples and
//! the runtime image. Each is checked with a real tool: check-jsonschema's GitHub and GitLab
//! schemas, gitlab-ci-local running the template, buildah building the image, and dockhand
//! publishing that image to a real registry.
//!
//! The tools come from `scripts/install-deps` (Debian packages) and `scripts/install-ci-tools`
//! (`.tools/`). Where one is missing the test skips with a message on a developer's machine, and
//! fails when `CI=true`: CI must run everything.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::*;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tool from `.tools/` or PATH; `None` (skip) only outside CI.
fn tool(local: &str, name: &str) -> Option<PathBuf> {
    let p = repo_root().join(".tools").join(local);
    if p.exists() {
        return Some(p);
    }
    if let Some(found) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    }) {
        return Some(found);
    }
    let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    assert!(
        !in_ci,
        "{name} is missing: scripts/install-deps (and scripts/install-ci-tools) must install it"
    );
    eprintln!("skipped: {name} is missing (run scripts/install-ci-tools)");
    None
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The CI/CD component split into its header and its jobs (one YAML document each).
fn component_documents(dir: &Path) -> (PathBuf, PathBuf) {
    let text = std::fs::read_to_string(repo_root().join("templates/dockhand.yml")).unwrap();
    let (head, body) = text.split_once("\n---\n").expect("a spec header, then ---");
    let (h, b) = (
        dir.join("component-spec.yml"),
        dir.join("component-jobs.yml"),
    );
    std::fs::write(&h, format!("{head}\n")).unwrap();
    std::fs::write(&b, body).unwrap();
    (h, b)
}

#[test]
fn action_template_component_and_examples_validate() {
    let Some(check) = tool("venv/bin/check-jsonschema", "check-jsonschema") else {
        return;
    };
    let root = repo_root();
    let dir = tempfile::tempdir().unwrap();
    let (spec, jobs) = component_documents(dir.path());
    for (schema, files) in [
        ("vendor.github-actions", vec![root.join("action.yml")]),
        (
            "vendor.github-workflows",
            vec![
                root.join("examples/github/workflow.yml"),
                root.join(".github/workflows/ci.yml"),
                root.join(".github/workflows/release.yml"),
            ],
        ),
        (
            "vendor.gitlab-ci",
            vec![
                root.join(".gitlab-ci-template.yml"),
                root.join(".gitlab-ci.yml"),
                root.join("examples/gitlab/gitlab-ci.yml"),
                spec,
                jobs,
            ],
        ),
    ] {
        run(Command::new(&check)
            .arg("--builtin-schema")
            .arg(schema)
            .args(&files));
    }
    // The validator does reject a broken file (so a pass above means something).
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "job:\n  script: dockhand run\n  artifacts: {when: sometimes}\n",
    )
    .unwrap();
    let out = Command::new(&check)
        .args(["--builtin-schema", "vendor.gitlab-ci"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// Every action input and every DOCKHAND_* variable the GitLab files set is an option dockhand
/// knows (else the runner's INPUT_X would be ignored silently).
#[test]
fn inputs_and_variables_name_real_options() {
    let known = |name: &str| {
        dockhand::settings::options::OPTIONS
            .iter()
            .any(|(o, _)| *o == name)
    };
    let action: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(repo_root().join("action.yml")).unwrap())
            .unwrap();
    for (name, input) in action["inputs"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        assert!(
            name == "token" || known(name),
            "action input {name:?} is no option"
        );
        assert!(
            input["description"].as_str().is_some_and(|d| !d.is_empty()),
            "input {name:?} has no description"
        );
    }
    for outputs in [
        "images",
        "digests",
        "deleted",
        "kept",
        "failed",
        "deleted_tags",
    ] {
        assert!(
            action["outputs"][outputs]["description"].is_string(),
            "output {outputs} is not declared"
        );
    }
    for file in [".gitlab-ci-template.yml", "templates/dockhand.yml"] {
        let text = std::fs::read_to_string(repo_root().join(file)).unwrap();
        for var in text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter_map(|w| w.strip_prefix("DOCKHAND_"))
            .filter(|v| !v.is_empty())
        {
            let name = var.to_ascii_lowercase();
            assert!(
                known(&name) || name.starts_with("image_"),
                "{file}: DOCKHAND_{var} is no option"
            );
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = run(Command::new("git")
        .args(["-c", "user.name=ci", "-c", "user.email=ci@example.com"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1"));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The component, included as GitLab would (`component: HOST/PROJECT/dockhand@SHA`, typed
/// inputs), runs in gitlab-ci-local: its job publishes to the pipeline's CI_REGISTRY with the job
/// token, and a later job receives DOCKHAND_IMAGE_APP through the dotenv report.
///
/// gitlab-ci-local runs jobs with an `image:` through a Docker engine, which this machine lacks,
/// so the consuming pipeline sets the job's `image: null`: the job runs in gitlab-ci-local's shell
/// executor with the freshly built dockhand on PATH (the image itself is tested below). `null` is
/// not valid GitLab YAML, so gitlab-ci-local's own schema check is off for this run; the files
/// themselves pass the GitLab schema in `action_template_component_and_examples_validate`.
#[test]
fn gitlab_component_runs_in_gitlab_ci_local() {
    let Some(glcl) = tool("npm/node_modules/.bin/gitlab-ci-local", "gitlab-ci-local") else {
        return;
    };
    tool("rsync", "rsync");
    let token = "glcbt-64_componentJobToken42";
    let reg = RegistryServer::start(RegistryOptions {
        auth: RegistryAuth::Htpasswd(vec![("gitlab-ci-token", token)]),
        delete_enabled: true,
    });
    let host = reg.host();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    std::fs::create_dir_all(p.join("templates")).unwrap();
    std::fs::copy(
        repo_root().join("templates/dockhand.yml"),
        p.join("templates/dockhand.yml"),
    )
    .unwrap();
    std::fs::write(p.join(".gitignore"), "build/\n.gitlab-ci-local/\n").unwrap();
    git(p, &["init", "-q", "-b", "main"]);
    // Parsed for the project path only; nothing is fetched from it.
    git(
        p,
        &[
            "remote",
            "add",
            "origin",
            "http://127.0.0.1:9/tools/dockhand.git",
        ],
    );
    git(p, &["add", "-A"]);
    git(p, &["commit", "-qm", "component"]);
    let sha = git(p, &["rev-parse", "HEAD"]);
    let digest = dockhand::fixtures::seed_example(&p.join("build")).unwrap()[0]
        .1
        .clone();
    // gitlab-ci-local resolves a component of the project itself at the checked-out commit.
    std::fs::write(
        p.join(".gitlab-ci.yml"),
        format!(
            r#"stages: [publish, verify]
include:
  - component: 127.0.0.1/tools/dockhand/dockhand@{sha}
    inputs:
      stage: publish
      job_prefix: images
      stages: publish
      images: "app=oci:build/backend"
      tag_ci_commit: true
images:
  image: null
verify:
  stage: verify
  needs: [images]
  script:
    - echo "verify got $DOCKHAND_IMAGE_APP"
"#
        ),
    )
    .unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_dockhand")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(&glcl);
    cmd.current_dir(p)
        .env("PATH", &path)
        .env("HOME", p)
        .env("NO_COLOR", "1")
        .args(["--json-schema-validation=false", "--no-shell-isolation"]);
    for (k, v) in [
        ("GITLAB_CI", "true".to_string()),
        ("CI_REGISTRY", host.clone()),
        ("CI_REGISTRY_IMAGE", format!("{host}/tools/dockhand")),
        ("CI_REGISTRY_USER", "gitlab-ci-token".into()),
        ("CI_REGISTRY_PASSWORD", token.into()),
        ("CI_JOB_TOKEN", token.into()),
        ("CI_API_V4_URL", "http://127.0.0.1:9/api/v4".into()),
        ("DOCKHAND_INSECURE_REGISTRY", host.clone()),
        // CI_REGISTRY makes the loopback registry GitLab's; it is a plain distribution registry.
        ("DOCKHAND_IMPLEMENTATION", "default".into()),
    ] {
        cmd.arg("--variable").arg(format!("{k}={v}"));
    }
    let out = run(&mut cmd);
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let reference = format!("{host}/tools/dockhand/app:main");
    assert!(
        log.contains(&format!("verify got {reference}@{digest}")),
        "the dotenv report did not reach the next job:\n{log}"
    );
    assert!(!log.contains(token), "the job token leaked:\n{log}");
    let dotenv = std::fs::read_to_string(p.join("dockhand.env")).unwrap();
    assert_eq!(dotenv, format!("DOCKHAND_IMAGE_APP={reference}@{digest}\n"));
    let junit = std::fs::read_to_string(p.join("dockhand-junit.xml")).unwrap();
    assert!(
        junit.contains(&format!("name=\"{host}/tools/dockhand/app:{sha}\"")),
        "{junit}"
    );
}

fn buildah(args: &[&str]) -> String {
    let out = run(Command::new("buildah")
        .arg("--storage-driver")
        .arg("vfs")
        .args(args));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Bytes of the files under `dir` (symlinks counted as links, not targets).
fn tree_size(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = std::fs::symlink_metadata(entry.path()).unwrap();
        total += if meta.is_dir() {
            tree_size(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

/// The runtime image, built from the Dockerfile with buildah (no daemon, no base image pulled):
/// under 20 MB, its dockhand and its shell run, and dockhand — running inside the image — publishes
/// the image itself (an OCI archive written by buildah) to a registry on loopback.
///
/// Slow (a static release build of dockhand the first time); part of `scripts/test` like every
/// other test.
#[test]
fn runtime_image_builds_runs_and_publishes_itself() {
    if tool("buildah", "buildah").is_none() || tool("file", "file").is_none() {
        return;
    }
    let root = repo_root();
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("dockhand-image.tar");
    let image = format!("localhost/dockhand-test:{}", std::process::id());
    // The nested cargo must see the environment a shell would: the variables cargo sets for a
    // test binary would change its fingerprints and rebuild everything.
    let mut build = Command::new("bash");
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if (k.starts_with("CARGO_") && k != "CARGO_HOME")
            || k.starts_with("RUST") && k != "RUSTUP_HOME"
            || k.starts_with("NEXTEST")
        {
            build.env_remove(k.as_ref());
        }
    }
    run(build
        .arg(root.join("scripts/build-image"))
        .args(["--tag", &image, "--archive"])
        .arg(&archive)
        .current_dir(&root));
    let rootfs_bytes = tree_size(&root.join("dist/rootfs"));
    let archive_bytes = std::fs::metadata(&archive).unwrap().len();
    eprintln!(
        "image {image}: root filesystem {rootfs_bytes} bytes, OCI archive {archive_bytes} bytes"
    );
    const LIMIT: u64 = 20 * 1000 * 1000;
    assert!(rootfs_bytes < LIMIT, "the image holds {rootfs_bytes} bytes");
    assert!(
        archive_bytes < LIMIT,
        "the archive is {archive_bytes} bytes"
    );

    let ctr = buildah(&["from", "--pull-never", "--quiet", &image]);
    struct Remove(String, String);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = Command::new("buildah")
                .args(["--storage-driver", "vfs", "rm", &self.0])
                .output();
            let _ = Command::new("buildah")
                .args(["--storage-driver", "vfs", "rmi", "-f", &self.1])
                .output();
        }
    }
    let _cleanup = Remove(ctr.clone(), image.clone());
    let in_image = |args: &[&str]| -> String {
        let mut a = vec!["run", "--isolation", "chroot"];
        let volume = format!("{}:/work", work.path().display());
        a.extend(["--volume", &volume, &ctr, "--"]);
        a.extend(args);
        buildah(&a)
    };
    assert_eq!(
        in_image(&["dockhand", "--version"]),
        format!("dockhand {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        in_image(&[
            "sh",
            "-c",
            "echo \"shell $0 in $(pwd), ls: $(ls /usr/local/bin)\""
        ]),
        "shell /bin/sh in /, ls: dockhand"
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&buildah(&["inspect", "--type", "image", &image])).unwrap();
    let config = &inspect["OCIv1"]["config"];
    assert_eq!(
        config["Entrypoint"][0], "/usr/local/bin/dockhand",
        "{config}"
    );
    assert!(
        config.get("User").is_none_or(|u| u == ""),
        "no USER: {config}"
    );

    let reg = RegistryServer::anonymous();
    // By name: the static binary resolves `localhost` through the image's NSS (files, then DNS).
    let host = format!("localhost:{}", reg.port());
    let out = in_image(&[
        "dockhand",
        "publish",
        "-i",
        &format!("{host}/tools/dockhand"),
        "--insecure-registry",
        &host,
        "--image",
        &format!("~=oci-archive:/work/dockhand-image.tar:{image}"),
        "--tag-custom",
        env!("CARGO_PKG_VERSION"),
    ]);
    let reference = format!("{host}/tools/dockhand:{}", env!("CARGO_PKG_VERSION"));
    assert!(out.starts_with(&format!("{reference}@sha256:")), "{out}");
    let digest = out.rsplit_once('@').unwrap().1;
    let reference = format!(
        "{}/tools/dockhand:{}",
        reg.host(),
        env!("CARGO_PKG_VERSION")
    );
    let raw = run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]));
    assert_eq!(
        dockhand::registry::media::sha256_digest(&raw.stdout),
        digest
    );
}

/// A `Command` for a nested cargo or script that sees the environment a shell would: the
/// variables cargo sets for a test binary would change fingerprints and rebuild everything.
fn shell_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if (k.starts_with("CARGO_") && k != "CARGO_HOME")
            || k.starts_with("RUST") && k != "RUSTUP_HOME"
            || k.starts_with("NEXTEST")
        {
            cmd.env_remove(k.as_ref());
        }
    }
    cmd
}

/// One version, one image name: Cargo.toml's version and `[package.metadata.dockhand]` image and
/// action are what action.yml, the component, the classic template, the README, the examples and
/// the workflows name (`scripts/release-refs --check`). A copy with a bumped version and a fork's
/// image name disagrees everywhere until `scripts/release-refs` rewrites it.
#[test]
fn release_references_agree() {
    let Some(python) = tool("venv/bin/python3", "python3") else {
        return;
    };
    let root = repo_root();
    let script = root.join("scripts/release-refs");
    run(Command::new(&python).arg(&script).arg("--check"));

    let copy = tempfile::tempdir().unwrap();
    let c = copy.path();
    for f in [
        "Cargo.toml",
        "README.md",
        "action.yml",
        ".gitlab-ci-template.yml",
        "templates/dockhand.yml",
        "examples/github/workflow.yml",
        "examples/gitlab/gitlab-ci.yml",
        "examples/jenkins/Jenkinsfile",
        "examples/shell/publish.sh",
    ] {
        std::fs::create_dir_all(c.join(f).parent().unwrap()).unwrap();
        std::fs::copy(root.join(f), c.join(f)).unwrap();
    }
    let cargo = std::fs::read_to_string(c.join("Cargo.toml")).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let cargo = cargo
        .replacen(
            &format!("version = \"{version}\""),
            "version = \"7.3.1\"",
            1,
        )
        .replacen(
            "image = \"ghcr.io/dockhand/dockhand\"",
            "image = \"registry.example.com/fork/dh\"",
            1,
        )
        .replacen("action = \"dockhand/dockhand\"", "action = \"fork/dh\"", 1);
    std::fs::write(c.join("Cargo.toml"), cargo).unwrap();
    let out = Command::new(&python)
        .arg(&script)
        .args(["--check", "--root"])
        .arg(c)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let listing = String::from_utf8_lossy(&out.stdout);
    for file in [
        "action.yml:",
        "templates/dockhand.yml:",
        ".gitlab-ci-template.yml:",
        "README.md:",
        "examples/github/workflow.yml:",
        "examples/jenkins/Jenkinsfile:",
    ] {
        assert!(
            listing.lines().any(|l| l.starts_with(file)),
            "{file} not flagged:\n{listing}"
        );
    }
    run(Command::new(&python).arg(&script).arg("--root").arg(c));
    run(Command::new(&python)
        .arg(&script)
        .args(["--check", "--root"])
        .arg(c));
    let action = std::fs::read_to_string(c.join("action.yml")).unwrap();
    assert!(action.contains("image: docker://registry.example.com/fork/dh:7.3.1"));
    let workflow = std::fs::read_to_string(c.join("examples/github/workflow.yml")).unwrap();
    assert!(workflow.contains("uses: fork/dh@v7"), "{workflow}");
    assert!(workflow.contains("uses: actions/checkout@v4"), "{workflow}");
}

/// The crate as published: licence files and metadata present, and `cargo package` takes the
/// sources and what they compile in, not the tests, scripts or CI files. (`.ci/run` runs the full
/// `cargo package --locked`, which also builds the packaged crate.)
#[test]
fn crate_metadata_and_package_contents() {
    let root = repo_root();
    let cargo: serde_json::Value = {
        let out = run(shell_command("cargo")
            .args(["metadata", "--no-deps", "--format-version", "1", "--locked"])
            .current_dir(&root));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let pkg = &cargo["packages"][0];
    assert_eq!(pkg["license"], "MIT OR Apache-2.0");
    for field in ["description", "repository", "readme", "rust_version"] {
        assert!(
            pkg[field].as_str().is_some_and(|s| !s.is_empty()),
            "Cargo.toml lacks {field}"
        );
    }
    for field in ["keywords", "categories"] {
        assert!(
            pkg[field].as_array().is_some_and(|s| !s.is_empty()),
            "Cargo.toml lacks {field}"
        );
    }
    let mit = std::fs::read_to_string(root.join("LICENSE-MIT")).unwrap();
    assert!(mit.contains("Copyright (c) the dockhand authors"));
    assert!(mit.contains("THE SOFTWARE IS PROVIDED \"AS IS\""));
    let apache = std::fs::read_to_string(root.join("LICENSE-APACHE")).unwrap();
    assert!(apache.contains("Apache License") && apache.contains("Version 2.0, January 2004"));
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("org.opencontainers.image.licenses=\"MIT OR Apache-2.0\""));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(readme.contains("cargo install dockhand --locked"));

    // --allow-dirty: the list is checked in working trees with uncommitted edits too.
    let out = run(shell_command("cargo")
        .args(["package", "--list", "--locked", "--allow-dirty"])
        .current_dir(&root));
    let list = String::from_utf8_lossy(&out.stdout);
    let files: Vec<&str> = list.lines().collect();
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "README.md",
        "LICENSE-MIT",
        "LICENSE-APACHE",
        "src/main.rs",
        "src/lib.rs",
        "src/cleanup/forge/github_schema.graphql",
        "src/cleanup/forge/github_refs.graphql",
    ] {
        assert!(files.contains(&needed), "{needed} not packaged:\n{list}");
    }
    for f in &files {
        assert!(
            ![
                "tests/",
                "scripts/",
                "examples/",
                "bench/",
                ".github/",
                "docs/",
                "target/"
            ]
            .iter()
            .any(|d| f.starts_with(d))
                && !f.ends_with(".yml"),
            "{f} should not be packaged"
        );
    }
}

/// The pipelines of the repository itself: CI runs `.ci/run`; the release workflow runs on `v*`
/// tags, publishes the image index with dockhand itself (with its referrers) under the version,
/// MAJOR.MINOR, MAJOR and latest, uploads the binaries with SHA256SUMS and moves the action's major
/// tag; the GitLab mirror's pipeline includes the component of its own commit with inputs the
/// component declares, and releases it on a tag. (The schemas are checked in
/// `action_template_component_and_examples_validate`.)
#[test]
fn repository_pipelines_release_with_dockhand() {
    let root = repo_root();
    let yaml = |f: &str| -> serde_yaml_ng::Value {
        serde_yaml_ng::from_str(&std::fs::read_to_string(root.join(f)).unwrap()).unwrap()
    };
    let scripts = |job: &serde_yaml_ng::Value| -> String {
        job["steps"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|s| s["run"].as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let ci = yaml(".github/workflows/ci.yml");
    assert!(scripts(&ci["jobs"]["test"]).contains(".ci/run"));

    let release = yaml(".github/workflows/release.yml");
    assert_eq!(release["on"]["push"]["tags"][0], "v*");
    assert_eq!(release["permissions"]["packages"], "write");
    assert_eq!(release["permissions"]["contents"], "write");
    let run = scripts(&release["jobs"]["release"]);
    for needed in [
        "scripts/release-refs --print version",
        "scripts/build-image --oci dist/oci",
        "scripts/attestations dist/oci",
        "x86_64-linux\" publish",
        "--image \"~=oci:dist/oci\"",
        "--with-referrers",
        "tags=\"$version,$minor,$major,latest\"",
        "sha256sum dockhand-* > SHA256SUMS",
        "gh release create",
        "git push -f origin \"refs/tags/v$MAJOR\"",
        "ghcr.io/${GITHUB_REPOSITORY,,}",
    ] {
        assert!(run.contains(needed), "release.yml lacks {needed:?}");
    }

    let gitlab = yaml(".gitlab-ci.yml");
    let include = &gitlab["include"][0];
    assert_eq!(
        include["component"],
        "$CI_SERVER_FQDN/$CI_PROJECT_PATH/dockhand@$CI_COMMIT_SHA"
    );
    let spec_text = std::fs::read_to_string(root.join("templates/dockhand.yml")).unwrap();
    let spec: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(spec_text.split_once("\n---\n").unwrap().0).unwrap();
    for (name, _) in include["inputs"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        assert!(
            spec["spec"]["inputs"][name].is_mapping(),
            "the component has no input {name}"
        );
    }
    let prefix = include["inputs"]["job_prefix"].as_str().unwrap();
    assert!(gitlab[prefix]["needs"][0] == "image-index");
    let release_job = &gitlab["catalog-release"];
    assert_eq!(release_job["release"]["tag_name"], "$VERSION");
    assert!(
        release_job["rules"][0]["if"]
            .as_str()
            .unwrap()
            .contains("$CI_COMMIT_TAG")
    );
}
