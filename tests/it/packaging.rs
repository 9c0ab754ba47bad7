//! The ways dockhand is shipped: action.yml, the GitLab template and component, the examples and
//! the runtime image. Each is checked with a real tool: check-jsonschema's GitHub and GitLab
//! schemas, gitlab-ci-local running the template, buildah building the image, and dockhand
//! publishing that image to a real registry.
//!
//! The tools come from `scripts/install-deps` (Debian packages) and `scripts/install-ci-tools`
//! (`.tools/`). Where one is missing the test skips with a message on a developer's machine, and
//! fails when `CI=true`: CI must run everything.

use crate::support;

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
        // Kebab-case, as actions name inputs; `dry-run` is the option `dry_run`.
        assert!(
            name == "token" || (!name.contains('_') && known(&name.replace('-', "_"))),
            "action input {name:?} is no option in kebab-case"
        );
        assert!(
            input["description"].as_str().is_some_and(|d| !d.is_empty()),
            "input {name:?} has no description"
        );
    }
    // The outputs declared are the ones a run writes (`ci::outputs::OUTPUTS`).
    let declared: Vec<&str> = action["outputs"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(
        declared,
        dockhand::ci::outputs::OUTPUTS,
        "action.yml outputs"
    );
    for output in declared {
        assert!(
            action["outputs"][output]["description"].is_string(),
            "output {output} has no description"
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

use crate::support::layouts::git_out as git;

/// The component, included as GitLab would (`component: HOST/PROJECT/dockhand@SHA`, typed
/// inputs), runs in gitlab-ci-local: its job publishes to the pipeline's CI_REGISTRY with the job
/// token, and a later job receives DOCKHAND_IMAGE_APP through the dotenv report.
///
/// gitlab-ci-local runs jobs with an `image:` through a Docker engine, which this machine lacks,
/// so the consuming pipeline sets the job's `image: null`: the job runs in gitlab-ci-local's shell
/// executor with the freshly built dockhand on PATH (the image itself is tested below). `null` is
/// not valid GitLab YAML, so gitlab-ci-local's own schema check is off for this run; the files
/// themselves pass the GitLab schema in `action_template_component_and_examples_validate`.
/// A project that holds the component (`templates/dockhand.yml`) and the seed example's layouts
/// under `build/`, committed; returns the commit and the backend image's digest.
fn component_project(p: &Path) -> (String, String) {
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
    (sha, digest)
}

/// Runs gitlab-ci-local in `p` with GitLab's predefined variables for the registry `host` and
/// the job `token`, the freshly built dockhand on PATH; returns its log (stdout and stderr).
fn run_gitlab_ci_local(glcl: &Path, p: &Path, host: &str, token: &str) -> String {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_dockhand")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(glcl);
    cmd.current_dir(p)
        .env("PATH", &path)
        .env("HOME", p)
        .env("NO_COLOR", "1")
        .args(["--json-schema-validation=false", "--no-shell-isolation"]);
    for (k, v) in [
        ("GITLAB_CI", "true".to_string()),
        ("CI_REGISTRY", host.to_string()),
        ("CI_REGISTRY_IMAGE", format!("{host}/tools/dockhand")),
        ("CI_REGISTRY_USER", "gitlab-ci-token".into()),
        ("CI_REGISTRY_PASSWORD", token.into()),
        ("CI_JOB_TOKEN", token.into()),
        ("CI_API_V4_URL", "http://127.0.0.1:9/api/v4".into()),
        ("DOCKHAND_INSECURE_REGISTRY", host.to_string()),
        // CI_REGISTRY makes the loopback registry GitLab's; it is a plain distribution registry.
        ("DOCKHAND_IMPLEMENTATION", "default".into()),
    ] {
        cmd.arg("--variable").arg(format!("{k}={v}"));
    }
    let out = run(&mut cmd);
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

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
    let (sha, digest) = component_project(p);
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
      needs: []
images-publish:
  image: null
verify:
  stage: verify
  needs: [images-publish]
  script:
    - echo "verify got $DOCKHAND_IMAGE_APP"
"#
        ),
    )
    .unwrap();
    let log = run_gitlab_ci_local(&glcl, p, &host, token);
    let reference = format!("{host}/tools/dockhand/app:main");
    assert!(
        log.contains(&format!("verify got {reference}@{digest}")),
        "the dotenv report did not reach the next job:\n{log}"
    );
    assert!(!log.contains(token), "the job token leaked:\n{log}");
    let dotenv = std::fs::read_to_string(p.join("dockhand.env")).unwrap();
    // The image line first, then the outputs (README, "Outputs").
    let lines: Vec<&str> = dotenv.lines().collect();
    assert_eq!(lines[0], format!("DOCKHAND_IMAGE_APP={reference}@{digest}"));
    assert!(
        lines.contains(&format!("DOCKHAND_DIGEST={digest}").as_str()),
        "{dotenv}"
    );
    // `main` is GitLab's default branch here, in a project without release tags: `latest` too.
    assert!(
        lines.contains(&format!("DOCKHAND_TAGS=main,{sha},latest").as_str()),
        "{dotenv}"
    );
    let junit = std::fs::read_to_string(p.join("dockhand-junit.xml")).unwrap();
    assert!(
        junit.contains(&format!("name=\"{host}/tools/dockhand/app:{sha}\"")),
        "{junit}"
    );
}

/// The component with `all_repositories`: the publish job publishes `images`, the cleanup job
/// cleans every repository under the images repo (the images left to the publish job), with
/// `delete_untagged` and `max_deletions` passed through.
#[test]
fn gitlab_component_cleans_every_repository_with_all_repositories() {
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
    let client = crate::support::client::BlockingClient::new(
        &reg.url(),
        crate::support::Creds::basic("gitlab-ci-token", token),
    );
    for (tag, days) in [("o1", 1), ("o2", 2), ("o3", 3), ("o4", 4)] {
        client.push("tools/dockhand/old", tag, &format!("old {tag}"), days);
    }
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let (sha, _) = component_project(p);
    std::fs::write(
        p.join(".gitlab-ci.yml"),
        format!(
            r#"stages: [deploy]
include:
  - component: 127.0.0.1/tools/dockhand/dockhand@{sha}
    inputs:
      job_prefix: images
      images: "app=oci:build/backend"
      keep_last: 1
      git_refs: none
      all_repositories: true
      delete_untagged: true
      max_deletions: "2"
      needs: []
images-publish:
  image: null
images-cleanup:
  image: null
  variables:
    # Any other option is a DOCKHAND_* variable of the job: these images are days old only by
    # their config, which the grace period does not trust.
    DOCKHAND_GRACE: "0"
"#
        ),
    )
    .unwrap();
    let log = run_gitlab_ci_local(&glcl, p, &host, token);
    // The app was published; `old` lost its two oldest (max_deletions 2 of the three beyond
    // keep_last 1), and the app, one image under three tags, kept them.
    assert_eq!(
        client.image_tags("tools/dockhand/app"),
        ["latest", "main"],
        "{log}"
    );
    assert_eq!(
        client.image_tags("tools/dockhand/old"),
        ["o1", "o2"],
        "{log}"
    );
    assert!(log.contains("deferred"), "{log}");
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

/// The runtime image index, built by `scripts/build-image` (buildah, no daemon, no base image
/// pulled) for linux/amd64 and linux/arm64:
///
/// - one OCI layout whose index lists both platforms, each under 20 MB (root filesystem and
///   compressed), with dockhand, the static busybox and the CA bundle, the OCI labels and every
///   time SOURCE_DATE_EPOCH; built twice it has the same digest;
/// - the amd64 image runs in buildah; the arm64 binary and shell (unpacked from the layout) run
///   under qemu-user;
/// - `scripts/attestations` adds the SBOM and provenance as referrers of the index;
/// - dockhand publishes its own release to a registry on loopback: the arm64 dockhand (under qemu)
///   the layout with `--with-referrers`, and the amd64 dockhand inside the image the oci-archive.
///   skopeo sees an index with both platforms whose digest is the layout's, and the SBOM and
///   provenance listed by it in the fallback referrers index.
///
/// Slow (two static release builds of dockhand the first time); part of `scripts/test` like
/// every other test.
#[test]
fn runtime_image_builds_runs_and_publishes_itself() {
    let tools = [
        ("buildah", "buildah"),
        ("file", "file"),
        ("skopeo", "skopeo"),
        ("jq", "jq"),
        ("qemu-aarch64-static", "qemu-aarch64-static"),
        ("aarch64-linux-gnu-gcc", "aarch64-linux-gnu-gcc"),
    ];
    if tools.iter().any(|(l, n)| tool(l, n).is_none()) {
        return;
    }
    let Some(python) = tool("venv/bin/python3", "python3") else {
        return;
    };
    let root = repo_root();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let archive = w.join("dockhand-image.tar");
    let image = format!("localhost/dockhand-test:{}", std::process::id());
    const EPOCH: &str = "1700000000";
    const CREATED: &str = "2023-11-14T22:13:20Z";
    let version = env!("CARGO_PKG_VERSION");
    let build = |oci: &Path, archive: Option<&Path>| -> String {
        let mut cmd = shell_command("bash");
        cmd.arg(root.join("scripts/build-image"))
            .args(["--tag", &image, "--oci"])
            .arg(oci)
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .current_dir(&root);
        if let Some(a) = archive {
            cmd.arg("--archive").arg(a);
        }
        let out = run(&mut cmd);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = stdout.lines();
        assert_eq!(lines.next(), Some(image.as_str()), "{stdout}");
        lines.next().unwrap().to_string()
    };
    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = Command::new("buildah")
                .args(["--storage-driver", "vfs", "manifest", "rm", &self.0])
                .output();
            let _ = Command::new("buildah")
                .args(["--storage-driver", "vfs", "rmi", "-f"])
                .args([format!("{}-amd64", self.0), format!("{}-arm64", self.0)])
                .output();
        }
    }
    let _images = Remove(image.clone());
    let oci = w.join("oci");
    let digest = build(&oci, Some(&archive));
    assert!(digest.starts_with("sha256:"), "{digest}");
    assert_eq!(
        std::fs::read_to_string(w.join("oci.digest"))
            .unwrap()
            .trim(),
        digest
    );

    let json_of = |bytes: &[u8]| -> serde_json::Value { serde_json::from_slice(bytes).unwrap() };
    let blob = |d: &str| -> Vec<u8> {
        std::fs::read(
            oci.join("blobs/sha256")
                .join(d.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let top = json_of(&std::fs::read(oci.join("index.json")).unwrap());
    assert_eq!(top["manifests"].as_array().unwrap().len(), 1, "{top}");
    assert_eq!(top["manifests"][0]["digest"], digest.as_str());
    let index_bytes = blob(&digest);
    assert_eq!(
        dockhand::registry::media::sha256_digest(&index_bytes),
        digest
    );
    let index = json_of(&index_bytes);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let platforms = |index: &serde_json::Value| -> Vec<String> {
        let mut p: Vec<String> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                format!(
                    "{}/{}",
                    m["platform"]["os"].as_str().unwrap(),
                    m["platform"]["architecture"].as_str().unwrap()
                )
            })
            .collect();
        p.sort();
        p
    };
    assert_eq!(platforms(&index), ["linux/amd64", "linux/arm64"]);

    const LIMIT: u64 = 20 * 1000 * 1000;
    let revision = git(&root, &["rev-parse", "HEAD"]);
    for child in index["manifests"].as_array().unwrap() {
        let arch = child["platform"]["architecture"].as_str().unwrap();
        let manifest = json_of(&blob(child["digest"].as_str().unwrap()));
        let config_bytes = blob(manifest["config"]["digest"].as_str().unwrap());
        let config = json_of(&config_bytes);
        let layers = manifest["layers"].as_array().unwrap();
        let compressed: u64 = config_bytes.len() as u64
            + layers
                .iter()
                .map(|l| l["size"].as_u64().unwrap())
                .sum::<u64>();
        let rootfs = tree_size(&root.join("dist/rootfs").join(arch));
        eprintln!(
            "linux/{arch}: root filesystem {rootfs} bytes, compressed image {compressed} bytes"
        );
        assert!(rootfs < LIMIT, "linux/{arch} holds {rootfs} bytes");
        assert!(compressed < LIMIT, "linux/{arch} is {compressed} bytes");
        assert_eq!(config["architecture"], arch);
        assert_eq!(config["created"], CREATED, "{config}");
        let c = &config["config"];
        assert_eq!(c["Entrypoint"][0], "/usr/local/bin/dockhand", "{c}");
        assert!(c.get("User").is_none_or(|u| u == ""), "no USER: {c}");
        let labels = &c["Labels"];
        for (k, v) in [
            ("source", env!("CARGO_PKG_REPOSITORY")),
            ("version", version),
            ("revision", revision.as_str()),
            ("licenses", "MIT OR Apache-2.0"),
        ] {
            assert_eq!(
                labels[format!("org.opencontainers.image.{k}")],
                v,
                "{labels}"
            );
        }
        // The layer as a container runtime unpacks it.
        let dir = w.join(format!("rootfs-{arch}"));
        std::fs::create_dir_all(&dir).unwrap();
        for l in layers {
            let path = oci
                .join("blobs/sha256")
                .join(l["digest"].as_str().unwrap().trim_start_matches("sha256:"));
            run(Command::new("tar")
                .arg("-xzf")
                .arg(&path)
                .arg("-C")
                .arg(&dir));
        }
        for f in ["usr/local/bin/dockhand", "bin/busybox"] {
            let out = run(Command::new("file").arg(dir.join(f)));
            let what = String::from_utf8_lossy(&out.stdout).into_owned();
            let machine = if arch == "arm64" {
                "ARM aarch64"
            } else {
                "x86-64"
            };
            assert!(what.contains(machine), "{what}");
            assert!(
                what.contains("statically linked") || what.contains("static-pie linked"),
                "{what}"
            );
        }
        assert!(dir.join("etc/ssl/certs/ca-certificates.crt").is_file());
        assert!(
            std::fs::symlink_metadata(dir.join("bin/sh"))
                .unwrap()
                .is_symlink()
        );
    }
    // Reproducible: the same commit and SOURCE_DATE_EPOCH build the same index.
    assert_eq!(build(&w.join("oci-again"), None), digest);

    // The arm64 binary and shell, under qemu-user.
    let arm = w.join("rootfs-arm64");
    let qemu = |args: &[&str]| -> String {
        let out = run(Command::new("qemu-aarch64-static").args(args));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let arm_dockhand = arm.join("usr/local/bin/dockhand");
    let arm_dockhand = arm_dockhand.to_str().unwrap();
    assert_eq!(
        qemu(&[arm_dockhand, "--version"]),
        format!("dockhand {version}")
    );
    assert_eq!(
        qemu(&[
            arm.join("bin/busybox").to_str().unwrap(),
            "sh",
            "-c",
            "echo arm64 shell"
        ]),
        "arm64 shell"
    );

    // The amd64 image in buildah: build-image also tags it IMAGE-amd64 (removed by `_images`).
    let ctr = buildah(&["from", "--pull-never", "--quiet", &format!("{image}-amd64")]);
    struct RemoveCtr(String);
    impl Drop for RemoveCtr {
        fn drop(&mut self) {
            let _ = Command::new("buildah")
                .args(["--storage-driver", "vfs", "rm", &self.0])
                .output();
        }
    }
    let _ctr = RemoveCtr(ctr.clone());
    let in_image = |args: &[&str]| -> String {
        let mut a = vec!["run", "--isolation", "chroot"];
        let volume = format!("{}:/work", w.display());
        a.extend(["--volume", &volume, &ctr, "--"]);
        a.extend(args);
        buildah(&a)
    };
    assert_eq!(
        in_image(&["dockhand", "--version"]),
        format!("dockhand {version}")
    );
    assert_eq!(
        in_image(&[
            "sh",
            "-c",
            "echo \"shell $0 in $(pwd), ls: $(ls /usr/local/bin)\""
        ]),
        "shell /bin/sh in /, ls: dockhand"
    );

    // The SBOM and the provenance, as referrers of the index in the layout.
    let out = run(Command::new(&python)
        .arg(root.join("scripts/attestations"))
        .arg(&oci)
        .args([
            "--builder",
            "https://ci.example/builder",
            "--commit",
            &revision,
        ])
        .arg("--out")
        .arg(w.join("attestations"))
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .current_dir(&root));
    let attached = String::from_utf8_lossy(&out.stdout).into_owned();
    let referrer = |kind: &str| -> String {
        attached
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{kind} ")))
            .unwrap_or_else(|| panic!("no {kind} in {attached}"))
            .to_string()
    };
    let (sbom, provenance) = (
        referrer("application/spdx+json"),
        referrer("application/vnd.in-toto+json"),
    );
    let sbom_doc = json_of(
        &std::fs::read(w.join(format!("attestations/dockhand-{version}.spdx.json"))).unwrap(),
    );
    assert_eq!(sbom_doc["spdxVersion"], "SPDX-2.3");
    let names: Vec<&str> = sbom_doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for crate_name in ["dockhand", "tokio", "reqwest", "rustls"] {
        assert!(names.contains(&crate_name), "{crate_name} not in the SBOM");
    }
    assert!(!names.contains(&"axum"), "a dev-dependency is in the SBOM");

    // dockhand publishes its own release: the arm64 build, under qemu, publishes the layout with
    // its referrers; the amd64 build, in the image, the oci-archive.
    let reg = RegistryServer::anonymous();
    let host = reg.host();
    let out = qemu(&[
        arm_dockhand,
        "publish",
        "-i",
        &format!("{host}/tools/dockhand"),
        "--insecure-registry",
        &host,
        "--image",
        &format!("~=oci:{}", oci.display()),
        "--tag-custom",
        version,
        "--with-referrers",
    ]);
    assert_eq!(out, format!("{host}/tools/dockhand:{version}@{digest}"));
    // By name in the image: the static binary resolves `localhost` through the image's NSS.
    let by_name = format!("localhost:{}", reg.port());
    let out = in_image(&[
        "dockhand",
        "publish",
        "-i",
        &format!("{by_name}/tools/dockhand"),
        "--insecure-registry",
        &by_name,
        "--image",
        "~=oci-archive:/work/dockhand-image.tar",
        "--tag-custom",
        "from-archive",
    ]);
    assert_eq!(
        out,
        format!("{by_name}/tools/dockhand:from-archive@{digest}")
    );

    let skopeo = |reference: &str| -> Vec<u8> {
        run(Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{host}/tools/dockhand{reference}"),
        ]))
        .stdout
    };
    for tag in [version, "from-archive"] {
        let raw = skopeo(&format!(":{tag}"));
        assert_eq!(dockhand::registry::media::sha256_digest(&raw), digest);
        assert_eq!(platforms(&json_of(&raw)), ["linux/amd64", "linux/arm64"]);
    }
    // distribution 2.x has no referrers API: the fallback index tagged sha256-<hex> lists them.
    let hex = digest.trim_start_matches("sha256:");
    let fallback = json_of(&skopeo(&format!(":sha256-{hex}")));
    let listed: Vec<(&str, &str)> = fallback["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["digest"].as_str().unwrap(),
                m["artifactType"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        listed.contains(&(sbom.as_str(), "application/spdx+json")),
        "{fallback}"
    );
    assert!(
        listed.contains(&(provenance.as_str(), "application/vnd.in-toto+json")),
        "{fallback}"
    );
    for r in [&sbom, &provenance] {
        let m = json_of(&skopeo(&format!("@{r}")));
        assert_eq!(m["subject"]["digest"], digest.as_str());
    }
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
        "src/forge/github_schema.graphql",
        "src/forge/github_refs.graphql",
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

/// The README's table of the action's inputs and outputs (between its marker comments) is
/// action.yml's: the same names, in the same order, with the same descriptions.
#[test]
fn readme_action_table_matches_action_yml() {
    let action: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(repo_root().join("action.yml")).unwrap())
            .unwrap();
    let mut want = Vec::new();
    for kind in ["inputs", "outputs"] {
        for (name, v) in action[kind].as_mapping().unwrap() {
            want.push((
                kind.trim_end_matches('s').to_string(),
                name.as_str().unwrap().to_string(),
                v["description"].as_str().unwrap().replace('|', "\\|"),
            ));
        }
    }
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let start = readme
        .find("<!-- action-table:start")
        .expect("README has no action-table:start marker");
    let end = readme
        .find("<!-- action-table:end -->")
        .expect("README has no action-table:end marker");
    let got: Vec<(String, String, String)> = readme[start..end]
        .lines()
        .filter(|l| l.starts_with("| input |") || l.starts_with("| output |"))
        .map(|l| {
            let cells: Vec<&str> = l
                .trim()
                .trim_start_matches("| ")
                .trim_end_matches(" |")
                .splitn(3, " | ")
                .collect();
            assert_eq!(cells.len(), 3, "README row {l:?}");
            (
                cells[0].to_string(),
                cells[1].trim_matches('`').to_string(),
                cells[2].to_string(),
            )
        })
        .collect();
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(w, g, "README action table differs from action.yml");
    }
    assert_eq!(
        want.len(),
        got.len(),
        "README action table has {} rows, action.yml {} inputs and outputs",
        got.len(),
        want.len()
    );
}
