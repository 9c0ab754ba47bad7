//! The examples run as copied: the apps under `examples/apps/` build with buildah, and each
//! pipeline example's dockhand step runs as written against a registry on loopback.
//!
//! - GitHub (`examples/github/*.yml`): every step that uses the dockhand action runs the dockhand
//!   binary with the environment the runner gives a Docker container action (`GITHUB_*`, every
//!   input declared in action.yml with its default, then the step's `with:` as `INPUT_<NAME>`).
//! - GitLab (`examples/gitlab/*.yml`): the pipeline runs in gitlab-ci-local with the component of
//!   this checkout; only `image:` of the jobs is set to null (no Docker engine here: the jobs run
//!   in gitlab-ci-local's shell with the dockhand binary on PATH).
//! - Jenkins (`examples/jenkins/Jenkinsfile`): the publish stage's `environment` and `sh` step.
//!
//! The build steps use `docker buildx build` (GitHub, Jenkins) or buildah in a container (GitLab);
//! here buildah builds the same directories, which the test reads from each file's `for app in`
//! loop, and writes the same OCI archives (`build/<app>.tar`). The apps start `FROM busybox:1.36`;
//! nothing is pulled: a local image of that name is made from Debian's static busybox, in a
//! buildah storage of the test's own.
//!
//! What the test changes, and only that: the images repo points at the loopback registry
//! (`DOCKHAND_IMAGES_REPO`, `CI_REGISTRY_IMAGE`, the Jenkinsfile's value), GitHub's GraphQL API is
//! a small fake on loopback (git-aware cleanup asks it for the branches), GitLab's and Jenkins'
//! APIs are closed loopback ports, and cleanups run with `DOCKHAND_GRACE=0`, standing in for the
//! hours that pass between a push and a cleanup (everything here is seconds old).
//!
//! Tools come from `scripts/install-deps` (buildah, busybox-static, rsync) and
//! `scripts/install-ci-tools` (check-jsonschema, gitlab-ci-local under `.tools/`). A missing tool
//! skips a test with a message on a developer's machine, and fails it when `CI` is set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::*;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
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
    assert!(
        !in_ci(),
        "{name} is missing: scripts/install-deps (and scripts/install-ci-tools) must install it"
    );
    eprintln!("skipped: {name} is missing (run scripts/install-deps)");
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

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The apps under examples/apps (each a directory with a Dockerfile), sorted.
fn example_apps() -> Vec<String> {
    let mut apps: Vec<String> = std::fs::read_dir(repo_root().join("examples/apps"))
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            e.path()
                .join("Dockerfile")
                .is_file()
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
        .collect();
    apps.sort();
    apps
}

/// The apps a build script loops over (`for app in A B; do`), checked against examples/apps.
fn apps_built_by(script: &str, file: &str) -> Vec<String> {
    let line = script
        .lines()
        .find_map(|l| l.trim().strip_prefix("for app in "))
        .unwrap_or_else(|| panic!("{file}: no `for app in …; do` build loop"));
    let mut apps: Vec<String> = line
        .trim_end_matches("; do")
        .split_whitespace()
        .map(String::from)
        .collect();
    apps.sort();
    assert_eq!(apps, example_apps(), "{file} builds other apps");
    assert!(
        script.contains("examples/apps/$app"),
        "{file}: the build does not use examples/apps/$app"
    );
    apps
}

/// buildah with a storage of its own (removed with the test's temp dir).
struct Buildah {
    root: PathBuf,
}

impl Buildah {
    fn cmd(&self, args: &[&str]) -> String {
        let out = run(Command::new("buildah")
            .args(["--storage-driver", "vfs", "--root"])
            .arg(self.root.join("root"))
            .arg("--runroot")
            .arg(self.root.join("run"))
            .args(args));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

/// Builds `apps` from examples/apps with buildah into `work/build/<app>.tar` (OCI archives), as
/// the examples' build steps do. `None` when buildah is missing outside CI.
fn build_apps(work: &Path, apps: &[String]) -> Option<()> {
    let builds: Vec<Build> = apps
        .iter()
        .map(|app| Build {
            name: app.clone(),
            context: format!("examples/apps/{app}"),
            target: None,
        })
        .collect();
    build_images(work, &builds)
}

/// One image to build: `context` (relative to the repository) with its Dockerfile, maybe a target.
struct Build {
    name: String,
    context: String,
    target: Option<String>,
}

/// The external bases of a Dockerfile: each `FROM IMAGE` that is not an earlier stage.
fn external_bases(dockerfile: &str) -> Vec<String> {
    let mut stages = Vec::new();
    let mut bases = Vec::new();
    for line in dockerfile.lines() {
        let Some(rest) = line.strip_prefix("FROM ") else {
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        let image = words[0].to_string();
        if !stages.contains(&image) && !bases.contains(&image) {
            bases.push(image);
        }
        if words.len() == 3 && words[1].eq_ignore_ascii_case("as") {
            stages.push(words[2].to_string());
        }
    }
    bases
}

/// Builds each of `builds` with buildah into `work/build/<name>.tar` (an OCI archive). The bases
/// are made locally under their names from the static busybox; nothing is pulled. `None` when
/// buildah or busybox is missing outside CI.
fn build_images(work: &Path, builds: &[Build]) -> Option<()> {
    tool("buildah", "buildah")?;
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.is_file() || !in_ci(),
        "busybox-static is missing: scripts/install-deps must install it"
    );
    if !busybox.is_file() {
        eprintln!("skipped: /bin/busybox is missing (run scripts/install-deps)");
        return None;
    }
    let b = Buildah {
        root: work.join("buildah"),
    };
    let mut bases: Vec<String> = Vec::new();
    for build in builds {
        let file = format!("{}/Dockerfile", build.context);
        let found = external_bases(&read(&file));
        assert!(!found.is_empty(), "{file} has no FROM");
        for from in found {
            assert!(
                from.starts_with("busybox:"),
                "{file}: the test can stand in for busybox only, not {from}"
            );
            if !bases.contains(&from) {
                bases.push(from);
            }
        }
    }
    let rootfs = work.join("base-rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
    for applet in ["sh", "httpd", "chmod", "date", "sleep", "echo", "ls", "cat"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    for base in &bases {
        let c = b.cmd(&["from", "scratch"]);
        b.cmd(&["copy", &c, rootfs.to_str().unwrap(), "/"]);
        b.cmd(&["config", "--cmd", "[\"sh\"]", &c]);
        b.cmd(&["commit", "-q", &c, &format!("docker.io/library/{base}")]);
        b.cmd(&["rm", &c]);
    }
    std::fs::create_dir_all(work.join("build")).unwrap();
    for build in builds {
        let dir = repo_root().join(&build.context);
        let mut args = vec![
            "build",
            "-q",
            "--pull=never",
            "--isolation",
            "chroot",
            "-t",
            &build.name,
        ];
        if let Some(t) = &build.target {
            args.extend(["--target", t]);
        }
        args.push(dir.to_str().unwrap());
        b.cmd(&args);
        let archive = work.join(format!("build/{}.tar", build.name));
        b.cmd(&[
            "push",
            "-q",
            &build.name,
            &format!("oci-archive:{}", archive.display()),
        ]);
        assert!(archive.is_file());
    }
    Some(())
}

fn tags(reg: &RegistryServer, repo: &str) -> Vec<String> {
    let client = RegistryClient::new(&reg.url(), Creds::Anonymous);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(client.tags(repo))
        .into_iter()
        .filter(|t| !t.starts_with("sha256-"))
        .collect()
}

fn tags_as(reg: &RegistryServer, repo: &str, user: &str, password: &str) -> Vec<String> {
    let client = RegistryClient::new(&reg.url(), Creds::basic(user, password));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(client.tags(repo))
        .into_iter()
        .filter(|t| !t.starts_with("sha256-"))
        .collect()
}

struct Ran {
    code: i32,
    log: String,
}

fn dockhand(cwd: &Path, args: &[&str], env: &BTreeMap<String, String>) -> Ran {
    let out = Command::new(env!("CARGO_BIN_EXE_dockhand"))
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .output()
        .unwrap();
    Ran {
        code: out.status.code().unwrap_or(-1),
        log: String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr),
    }
}

/// Twelve older images (other digests) of image `name` tagged `old-0`…`old-11`, pushed one after the
/// other, so a `keep-last: 10` cleanup has something to delete.
fn seed_old_images(reg: &RegistryServer, work: &Path, images_repo: &str, name: &str) {
    for i in 0..12 {
        let dir = work.join(format!("old/{i}"));
        dockhand::fixtures::seed_example_variant(&dir, Some(&format!("old {i}"))).unwrap();
        let out = dockhand(
            work,
            &[
                "publish",
                "-q",
                "-i",
                &format!("{}/{images_repo}", reg.host()),
                "--image",
                &format!("{name}=oci:{}", dir.join("backend").display()),
                "--tag-custom",
                &format!("old-{i}"),
            ],
            &BTreeMap::new(),
        );
        assert_eq!(out.code, 0, "{}", out.log);
    }
}

// ---------------------------------------------------------------------------------------------
// GitHub

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// GitHub's GraphQL refs query, answered for a repository whose only branch is `main` and that
/// has no tags (git-aware cleanup asks it; the runner's token reaches it).
struct FakeGitHubRefs {
    url: String,
    _rt: tokio::runtime::Runtime,
}

fn fake_github_refs() -> FakeGitHubRefs {
    use axum::routing::post;
    async fn graphql(body: axum::body::Bytes) -> axum::Json<serde_json::Value> {
        let req: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let names: Vec<serde_json::Value> = match req["variables"]["refPrefix"].as_str() {
            Some("refs/heads/") => vec![serde_json::json!({ "name": "main" })],
            _ => Vec::new(),
        };
        axum::Json(serde_json::json!({
            "data": { "repository": { "refs": {
                "totalCount": names.len(),
                "pageInfo": { "hasNextPage": false, "endCursor": null },
                "nodes": names
            } } }
        }))
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/graphql", post(graphql));
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    FakeGitHubRefs {
        url: format!("http://{addr}"),
        _rt: rt,
    }
}

/// The dockhand steps of a workflow: (job name, step), in file order.
fn dockhand_steps(workflow: &serde_yaml_ng::Value) -> Vec<(String, serde_yaml_ng::Value)> {
    let mut out = Vec::new();
    for (job, body) in workflow["jobs"].as_mapping().unwrap() {
        for step in body["steps"].as_sequence().unwrap() {
            if step["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("dockhand/dockhand@"))
            {
                out.push((job.as_str().unwrap().to_string(), step.clone()));
            }
        }
    }
    out
}

/// A `with:` value as the runner passes it: a string (YAML numbers and booleans as written).
fn input_value(v: &serde_yaml_ng::Value) -> String {
    let s = match v {
        serde_yaml_ng::Value::String(s) => s.clone(),
        serde_yaml_ng::Value::Number(n) => n.to_string(),
        serde_yaml_ng::Value::Bool(b) => b.to_string(),
        other => panic!("unexpected input value {other:?}"),
    };
    assert!(
        !s.contains("${{"),
        "the test does not evaluate expressions: {s}"
    );
    s
}

/// The environment of the dockhand action's container for `step`: what the runner sets, every
/// input declared in action.yml with its default, then the step's `with:` values.
fn github_env(
    work: &Path,
    event: &str,
    payload: &str,
    step: &serde_yaml_ng::Value,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let event_path = work.join(format!("event-{event}.json"));
    std::fs::write(&event_path, payload).unwrap();
    let (git_ref, ref_name) = match event {
        "pull_request" => ("refs/pull/7/merge", "7/merge"),
        _ => ("refs/heads/main", "main"),
    };
    for (k, v) in [
        ("CI", "true"),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", "Octo-Org/Hello-World"),
        ("GITHUB_REPOSITORY_OWNER", "Octo-Org"),
        ("GITHUB_ACTOR", "octocat"),
        ("GITHUB_EVENT_NAME", event),
        ("GITHUB_REF", git_ref),
        ("GITHUB_REF_NAME", ref_name),
        ("GITHUB_REF_TYPE", "branch"),
        ("GITHUB_SHA", COMMIT),
        ("GITHUB_RUN_ID", "1234"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        // Closed loopback ports: nothing here may need GitHub's API.
        ("GITHUB_API_URL", "http://127.0.0.1:9/api"),
        ("GITHUB_GRAPHQL_URL", "http://127.0.0.1:9/api/graphql"),
        ("RUNNER_OS", "Linux"),
    ] {
        env.insert(k.to_string(), v.to_string());
    }
    if event == "pull_request" {
        env.insert("GITHUB_HEAD_REF".into(), "feature/x".into());
        env.insert("GITHUB_BASE_REF".into(), "main".into());
    }
    let p = |f: &str| work.join(f).display().to_string();
    env.insert("HOME".into(), p("home"));
    env.insert("GITHUB_WORKSPACE".into(), work.display().to_string());
    env.insert("GITHUB_EVENT_PATH".into(), event_path.display().to_string());
    env.insert("GITHUB_OUTPUT".into(), p("github_output"));
    env.insert("GITHUB_STEP_SUMMARY".into(), p("step_summary"));
    let action = yaml("action.yml");
    for (name, input) in action["inputs"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        let default = input["default"].as_str().unwrap_or_default();
        let value = if default == "${{ github.token }}" {
            "ghs_exampleToken"
        } else {
            default
        };
        // The runner's rule: INPUT_ + name upper-cased, spaces to `_` (hyphens stay).
        env.insert(
            format!("INPUT_{}", name.to_uppercase().replace(' ', "_")),
            value.into(),
        );
    }
    if let Some(with) = step["with"].as_mapping() {
        for (k, v) in with {
            let key = format!(
                "INPUT_{}",
                k.as_str().unwrap().to_uppercase().replace(' ', "_")
            );
            assert!(env.contains_key(&key), "action.yml declares no input {k:?}");
            env.insert(key, input_value(v));
        }
    }
    env
}

/// The publish and cleanup jobs of examples/github/workflow.yml and the nightly cleanup of
/// examples/github/scheduled-cleanup.yml, each dockhand step run as written: a push to main
/// publishes both apps under `main`, the cleanup keeps the newest 10 images of each (the
/// older seeded ones go), the nightly cleanup (keep-younger-than 30d) deletes nothing, and a
/// pull request from a fork publishes nothing and succeeds.
#[test]
fn github_workflows_run_as_written() {
    let workflow = yaml("examples/github/workflow.yml");
    let scheduled = yaml("examples/github/scheduled-cleanup.yml");

    // Safe by default: cleanup is serialised per repository, across refs and workflows.
    let group = "dockhand-cleanup-${{ github.repository }}";
    assert_eq!(workflow["jobs"]["cleanup"]["concurrency"]["group"], group);
    assert_eq!(
        workflow["jobs"]["cleanup"]["concurrency"]["cancel-in-progress"],
        false
    );
    assert_eq!(scheduled["concurrency"]["group"], group);
    assert_eq!(
        workflow["jobs"]["cleanup"]["if"],
        "github.event_name == 'push'"
    );
    assert!(scheduled["on"]["schedule"][0]["cron"].is_string());

    let build_run: String = workflow["jobs"]["publish"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let apps = apps_built_by(&build_run, "examples/github/workflow.yml");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    if build_apps(w, &apps).is_none() {
        return;
    }
    let reg = RegistryServer::anonymous();
    let host = reg.host();
    let repo = "octo-org/hello-world";
    seed_old_images(&reg, w, repo, "hello-web");
    let oldest: Vec<String> = (0..3).map(|i| format!("old-{i}")).collect();

    let steps = dockhand_steps(&workflow);
    let jobs: Vec<&str> = steps.iter().map(|(j, _)| j.as_str()).collect();
    assert_eq!(jobs, ["publish", "cleanup"]);
    let push = r#"{"ref":"refs/heads/main","repository":{"default_branch":"main","full_name":"Octo-Org/Hello-World"}}"#;
    let api = fake_github_refs();
    let with_loopback = |mut env: BTreeMap<String, String>| {
        env.insert("DOCKHAND_IMAGES_REPO".into(), format!("{host}/{repo}"));
        env.insert("GITHUB_API_URL".into(), api.url.clone());
        env.insert("GITHUB_GRAPHQL_URL".into(), format!("{}/graphql", api.url));
        env
    };

    // A pull request from a fork: skipped with a notice, nothing sent.
    let fork = r#"{"number":7,"pull_request":{"number":7,"head":{"sha":"0123456789abcdef0123456789abcdef01234567","ref":"feature/x","repo":{"full_name":"someone/Hello-World","fork":true}},"base":{"ref":"main","repo":{"full_name":"Octo-Org/Hello-World"}}},"repository":{"full_name":"Octo-Org/Hello-World"}}"#;
    let env = with_loopback(github_env(w, "pull_request", fork, &steps[0].1));
    let ran = dockhand(w, &["run"], &env);
    assert_eq!(ran.code, 0, "{}", ran.log);
    assert!(
        tags(&reg, &format!("{repo}/hello-worker")).is_empty(),
        "{}",
        ran.log
    );

    // The push: publish, then cleanup.
    let env = with_loopback(github_env(w, "push", push, &steps[0].1));
    let ran = dockhand(w, &["run"], &env);
    assert_eq!(ran.code, 0, "{}", ran.log);
    for app in &apps {
        assert!(
            tags(&reg, &format!("{repo}/{app}")).contains(&"main".to_string()),
            "{app}:main not published\n{}",
            ran.log
        );
    }
    let outputs = std::fs::read_to_string(w.join("github_output")).unwrap();
    assert!(
        outputs.contains(&format!("{host}/{repo}/hello-web:main@sha256:")),
        "{outputs}"
    );

    let mut env = with_loopback(github_env(w, "push", push, &steps[1].1));
    env.insert("DOCKHAND_GRACE".into(), "0".into());
    let ran = dockhand(w, &["run"], &env);
    assert_eq!(ran.code, 0, "{}", ran.log);
    let web = tags(&reg, &format!("{repo}/hello-web"));
    assert_eq!(
        web.len(),
        10,
        "keep-last: 10 keeps ten images: {web:?}\n{}",
        ran.log
    );
    assert!(web.contains(&"main".to_string()), "{web:?}");
    for t in &oldest {
        assert!(
            !web.contains(t),
            "{t} is among the oldest and stayed: {web:?}\n{}",
            ran.log
        );
    }
    assert_eq!(tags(&reg, &format!("{repo}/hello-worker")), ["main"]);

    // The nightly cleanup: every image, nothing younger than 30 days goes.
    let steps = dockhand_steps(&scheduled);
    assert_eq!(steps.len(), 1);
    let schedule = r#"{"schedule":"17 3 * * *","repository":{"full_name":"Octo-Org/Hello-World"}}"#;
    let mut env = with_loopback(github_env(w, "schedule", schedule, &steps[0].1));
    env.insert("DOCKHAND_GRACE".into(), "0".into());
    let ran = dockhand(w, &["run"], &env);
    assert_eq!(ran.code, 0, "{}", ran.log);
    assert_eq!(tags(&reg, &format!("{repo}/hello-web")), web);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.join("cleanup-report.json")).unwrap()).unwrap();
    assert_eq!(report["summary"]["deleted"], 0, "{report}");
    assert_eq!(report["dry_run"], false);
}

// ---------------------------------------------------------------------------------------------
// GitLab

use crate::support::layouts::git_out as git;

/// A GitLab project with this checkout's component at its HEAD commit, which gitlab-ci-local
/// resolves for `component: 127.0.0.1/tools/dockhand/dockhand@<HEAD>`.
fn gitlab_project(dir: &Path) -> String {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::copy(
        repo_root().join("templates/dockhand.yml"),
        dir.join("templates/dockhand.yml"),
    )
    .unwrap();
    std::fs::write(dir.join(".gitignore"), "build/\nold/\n.gitlab-ci-local/\n").unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    // Parsed for the project path only; nothing is fetched from it.
    git(
        dir,
        &[
            "remote",
            "add",
            "origin",
            "http://127.0.0.1:9/tools/dockhand.git",
        ],
    );
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "component"]);
    git(dir, &["rev-parse", "HEAD"])
}

/// An example pipeline as gitlab-ci-local runs it here: the component included from the local
/// project, and each job's `image:` null (listed jobs; no Docker engine).
fn gitlab_pipeline(file: &str, sha: &str, jobs: &[&str]) -> String {
    let text = read(file);
    let published = "$CI_SERVER_FQDN/tools/dockhand/dockhand@0.1.0";
    assert!(text.contains(published), "{file} includes no {published}");
    let mut doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text.replace(
        published,
        &format!("127.0.0.1/tools/dockhand/dockhand@{sha}"),
    ))
    .unwrap();
    for job in jobs {
        let map = doc.as_mapping_mut().unwrap();
        let entry = map
            .entry(serde_yaml_ng::Value::String(job.to_string()))
            .or_insert_with(|| serde_yaml_ng::Value::Mapping(Default::default()));
        entry
            .as_mapping_mut()
            .unwrap()
            .insert("image".into(), serde_yaml_ng::Value::Null);
    }
    serde_yaml_ng::to_string(&doc).unwrap()
}

fn gitlab_ci_local(
    glcl: &Path,
    project: &Path,
    host: &str,
    extra: &[(&str, &str)],
    jobs: &[&str],
) -> String {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_dockhand")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(glcl);
    cmd.current_dir(project)
        .env("PATH", &path)
        .env("HOME", project)
        .env("NO_COLOR", "1")
        // `image: null` is not valid GitLab YAML; the files themselves pass the schema in
        // `example_pipelines_validate`.
        .args(["--json-schema-validation=false", "--no-shell-isolation"]);
    let mut vars: Vec<(&str, String)> = vec![
        ("GITLAB_CI", "true".into()),
        ("CI_REGISTRY", host.into()),
        ("CI_REGISTRY_IMAGE", format!("{host}/acme/hello")),
        ("CI_REGISTRY_USER", "gitlab-ci-token".into()),
        ("CI_REGISTRY_PASSWORD", "glcbt-64_exampleJobToken".into()),
        ("CI_JOB_TOKEN", "glcbt-64_exampleJobToken".into()),
        ("CI_API_V4_URL", "http://127.0.0.1:9/api/v4".into()),
        // CI_REGISTRY makes the loopback registry GitLab's; it is a plain distribution registry.
        ("DOCKHAND_IMPLEMENTATION", "default".into()),
    ];
    for (k, v) in extra {
        vars.push((k, v.to_string()));
    }
    for (k, v) in vars {
        cmd.arg("--variable").arg(format!("{k}={v}"));
    }
    cmd.args(jobs);
    let out = run(&mut cmd);
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// examples/gitlab/gitlab-ci.yml in gitlab-ci-local: the component's images-publish job publishes
/// both apps, deploy gets their references through the dotenv report, images-cleanup (resource
/// group dockhand-cleanup) keeps the newest 10 images; then the nightly recipe
/// (examples/gitlab/scheduled-cleanup.yml) in a scheduled pipeline runs its cleanup job only.
#[test]
fn gitlab_pipelines_run_in_gitlab_ci_local() {
    let pipeline = yaml("examples/gitlab/gitlab-ci.yml");
    let apps = apps_built_by(
        &pipeline["build"]["script"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect::<Vec<_>>()
            .join("\n"),
        "examples/gitlab/gitlab-ci.yml",
    );
    let inputs = &pipeline["include"][0]["inputs"];
    // Numbers as numbers (the component declares `type: number`).
    assert!(
        inputs["keep_last"].is_u64(),
        "keep_last: {:?}",
        inputs["keep_last"]
    );
    let component = read("templates/dockhand.yml");
    let (spec, jobs) = component.split_once("\n---\n").unwrap();
    let spec: serde_yaml_ng::Value = serde_yaml_ng::from_str(spec).unwrap();
    assert_eq!(spec["spec"]["inputs"]["keep_last"]["type"], "number");
    for input in ["rules", "needs"] {
        assert_eq!(spec["spec"]["inputs"][input]["type"], "array", "{input}");
    }
    assert!(jobs.contains("\"$[[ inputs.job_prefix ]]-publish\":"));
    assert!(jobs.contains("\"$[[ inputs.job_prefix ]]-cleanup\":"));
    assert!(jobs.contains("resource_group: $[[ inputs.resource_group ]]"));

    let Some(glcl) = tool("npm/node_modules/.bin/gitlab-ci-local", "gitlab-ci-local") else {
        return;
    };
    tool("rsync", "rsync");
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let sha = gitlab_project(p);
    if build_apps(p, &apps).is_none() {
        return;
    }
    let reg = RegistryServer::anonymous();
    let host = reg.host();
    seed_old_images(&reg, p, "acme/hello", "hello-web");

    let jobs = ["images-publish", "images-cleanup", "deploy"];
    std::fs::write(
        p.join(".gitlab-ci.yml"),
        gitlab_pipeline("examples/gitlab/gitlab-ci.yml", &sha, &jobs),
    )
    .unwrap();
    let log = gitlab_ci_local(&glcl, p, &host, &[("DOCKHAND_GRACE", "0")], &jobs);
    for job in jobs {
        assert!(
            log.contains(&format!("PASS  {job}")),
            "{job} did not pass:\n{log}"
        );
    }
    let web = format!("{host}/acme/hello/hello-web:main@sha256:");
    let worker = format!("{host}/acme/hello/hello-worker:main@sha256:");
    assert!(
        log.lines()
            .any(|l| l.contains("deploying") && l.contains(&web) && l.contains(&worker)),
        "the dotenv report did not reach deploy:\n{log}"
    );
    assert!(
        !log.contains("glcbt-64_exampleJobToken"),
        "the job token leaked:\n{log}"
    );
    let left = tags(&reg, "acme/hello/hello-web");
    // The default branch of a repository without release tags also gets `latest` (on main's
    // image, so no eleventh image).
    assert!(left.contains(&"latest".to_string()), "{left:?}\n{log}");
    let left: Vec<String> = left.into_iter().filter(|t| t != "latest").collect();
    assert_eq!(
        left.len(),
        10,
        "keep_last: 10 keeps ten images: {left:?}\n{log}"
    );
    assert!(left.contains(&"main".to_string()));
    for i in 0..3 {
        assert!(!left.contains(&format!("old-{i}")), "{left:?}");
    }
    assert_eq!(tags(&reg, "acme/hello/hello-worker"), ["latest", "main"]);

    // The nightly recipe, in a scheduled pipeline: its cleanup job only.
    let jobs = ["nightly-cleanup"];
    std::fs::write(
        p.join(".gitlab-ci.yml"),
        gitlab_pipeline("examples/gitlab/scheduled-cleanup.yml", &sha, &jobs),
    )
    .unwrap();
    let log = gitlab_ci_local(
        &glcl,
        p,
        &host,
        &[("CI_PIPELINE_SOURCE", "schedule"), ("DOCKHAND_GRACE", "0")],
        &[],
    );
    assert!(log.contains("PASS  nightly-cleanup"), "{log}");
    assert!(!log.contains("nightly-publish"), "{log}");
    let after: Vec<String> = tags(&reg, "acme/hello/hello-web")
        .into_iter()
        .filter(|t| t != "latest")
        .collect();
    assert_eq!(after, left, "{log}");
}

// ---------------------------------------------------------------------------------------------
// Jenkins

/// The `environment { … }` entries and the `sh '…'` command of a Jenkinsfile stage.
fn jenkins_stage(jenkinsfile: &str, stage: &str) -> (Vec<(String, String)>, String) {
    let start = jenkinsfile
        .find(&format!("stage('{stage}')"))
        .unwrap_or_else(|| panic!("no stage {stage}"));
    let body = &jenkinsfile[start..];
    let env = body
        .split_once("environment {")
        .unwrap()
        .1
        .lines()
        .take_while(|l| l.trim() != "}")
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let sh = body
        .lines()
        .find_map(|l| l.trim().strip_prefix("sh '"))
        .and_then(|l| l.strip_suffix('\''))
        .unwrap()
        .to_string();
    (env, sh)
}

/// examples/jenkins/Jenkinsfile: the publish stage's `sh` step with its `environment` (the
/// credentials as Jenkins binds them, `REGISTRY_USR`/`REGISTRY_PSW`) on a branch build, against a
/// registry that wants those credentials.
#[test]
fn jenkinsfile_publish_stage_runs_as_written() {
    let jenkinsfile = read("examples/jenkins/Jenkinsfile");
    let build = jenkinsfile
        .split_once("stage('build')")
        .unwrap()
        .1
        .split_once("stage('publish')")
        .unwrap()
        .0;
    let apps = apps_built_by(build, "examples/jenkins/Jenkinsfile");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    if build_apps(w, &apps).is_none() {
        return;
    }
    let (user, password) = ("jenkins", "s3cret-registry-password");
    let reg = RegistryServer::start(RegistryOptions {
        auth: RegistryAuth::Htpasswd(vec![(user, password)]),
        delete_enabled: true,
    });
    let host = reg.host();
    let (entries, sh) = jenkins_stage(&jenkinsfile, "publish");
    let mut env = BTreeMap::new();
    for (k, v) in [
        ("JENKINS_URL", "http://127.0.0.1:9/"),
        ("BRANCH_NAME", "main"),
        ("GIT_COMMIT", COMMIT),
        ("BUILD_NUMBER", "12"),
        ("WORKSPACE", &w.display().to_string()),
        ("HOME", &w.display().to_string()),
    ] {
        env.insert(k.to_string(), v.to_string());
    }
    for (k, v) in entries {
        let value = if v.starts_with("credentials(") {
            // withCredentials' username/password binding: VAR, VAR_USR and VAR_PSW.
            env.insert(format!("{k}_USR"), user.into());
            env.insert(format!("{k}_PSW"), password.into());
            format!("{user}:{password}")
        } else if let Some(name) = v.strip_prefix("\"${").and_then(|v| v.strip_suffix("}\"")) {
            env[name].clone()
        } else {
            v.trim_matches('\'').to_string()
        };
        env.insert(k, value);
    }
    // The one change: the images repo on loopback instead of registry.example.com.
    assert_eq!(env["DOCKHAND_IMAGES_REPO"], "registry.example.com/acme");
    env.insert("DOCKHAND_IMAGES_REPO".into(), format!("{host}/acme"));
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_dockhand")).parent().unwrap();
    env.insert(
        "PATH".into(),
        format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    );
    let out = Command::new("sh")
        .args(["-c", &sh])
        .current_dir(w)
        .env_clear()
        .envs(&env)
        .output()
        .unwrap();
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{sh}\n{log}");
    assert!(!log.contains(password), "the password leaked:\n{log}");
    for app in &apps {
        assert_eq!(
            tags_as(&reg, &format!("acme/{app}"), user, password),
            ["main"],
            "{log}"
        );
    }
    let junit = std::fs::read_to_string(w.join("dockhand-junit.xml")).unwrap();
    assert!(
        junit.contains(&format!("{host}/acme/hello-web:main")),
        "{junit}"
    );
}

// ---------------------------------------------------------------------------------------------
// Schemas

/// The example workflows and pipelines pass GitHub's and GitLab's schemas (check-jsonschema).
#[test]
fn example_pipelines_validate() {
    let Some(check) = tool("venv/bin/check-jsonschema", "check-jsonschema") else {
        return;
    };
    let root = repo_root();
    for (schema, files) in [
        (
            "vendor.github-workflows",
            [
                "examples/github/workflow.yml",
                "examples/github/scheduled-cleanup.yml",
            ],
        ),
        (
            "vendor.gitlab-ci",
            [
                "examples/gitlab/gitlab-ci.yml",
                "examples/gitlab/scheduled-cleanup.yml",
            ],
        ),
    ] {
        run(Command::new(&check)
            .arg("--builtin-schema")
            .arg(schema)
            .args(files.iter().map(|f| root.join(f))));
    }
}

// ---------------------------------------------------------------------------------------------
// The seed example and the README

/// The seed example (examples/Dockerfile, examples/dockhand.yaml, used by scripts/demo) builds as
/// its config says (each image document's `dockerfile` and `target`), and dockhand publishes the
/// two builds under that config's names; they share the base layer.
#[test]
fn seed_example_builds_and_publishes_with_its_config() {
    let config = read("examples/dockhand.yaml");
    let mut builds = Vec::new();
    for doc in config.split("\n---\n").skip(1) {
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(doc).unwrap();
        assert_eq!(doc["dockerfile"], "Dockerfile");
        builds.push(Build {
            name: doc["image"].as_str().unwrap().to_string(),
            context: "examples".into(),
            target: Some(doc["target"].as_str().unwrap().to_string()),
        });
    }
    assert_eq!(builds.len(), 2);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    if build_images(w, &builds).is_none() {
        return;
    }
    let reg = RegistryServer::anonymous();
    let host = reg.host();
    let mut args: Vec<String> = vec![
        "publish".into(),
        "-i".into(),
        format!("{host}/flant"),
        "--config".into(),
        repo_root()
            .join("examples/dockhand.yaml")
            .display()
            .to_string(),
        "--tag-custom".into(),
        "seed".into(),
    ];
    for b in &builds {
        args.push("--image".into());
        args.push(format!("{}=oci-archive:build/{}.tar", b.name, b.name));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ran = dockhand(w, &args, &BTreeMap::new());
    assert_eq!(ran.code, 0, "{}", ran.log);
    for b in &builds {
        assert_eq!(
            tags(&reg, &format!("flant/{}", b.name)),
            ["seed"],
            "{}",
            ran.log
        );
    }
    assert!(
        ran.log.contains("mounted 1"),
        "the shared base layer was uploaded twice:\n{}",
        ran.log
    );
}

/// The README's first screen (60 lines) shows the three ways of use, each with inputs that exist:
/// the GitHub action's `with:` keys are action.yml inputs, the GitLab component's inputs are
/// declared by templates/dockhand.yml (numbers unquoted), and `docker run` runs the image.
#[test]
fn readme_first_screen_shows_the_three_ways() {
    let readme = read("README.md");
    let screen: String = readme.lines().take(60).collect::<Vec<_>>().join("\n");
    let blocks: Vec<&str> = screen
        .split("```")
        .skip(1)
        .step_by(2)
        .filter_map(|b| b.split_once('\n').map(|(_, body)| body))
        .collect();
    let github = blocks
        .iter()
        .find(|b| b.contains("uses: dockhand/dockhand@"))
        .expect("no GitHub action step in the README's first 60 lines");
    let step: serde_yaml_ng::Value = serde_yaml_ng::from_str(github).unwrap();
    let action = yaml("action.yml");
    let step = step
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["uses"].is_string())
        .unwrap();
    for (k, v) in step["with"].as_mapping().unwrap() {
        assert!(
            action["inputs"][k.as_str().unwrap()].is_mapping(),
            "input {k:?}"
        );
        input_value(v);
    }
    let gitlab = blocks
        .iter()
        .find(|b| b.contains("component: $CI_SERVER_FQDN/"))
        .expect("no GitLab component include in the README's first 60 lines");
    let include: serde_yaml_ng::Value = serde_yaml_ng::from_str(gitlab).unwrap();
    let component = read("templates/dockhand.yml");
    let spec: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(component.split_once("\n---\n").unwrap().0).unwrap();
    let inputs = &spec["spec"]["inputs"];
    for (k, v) in include["include"][0]["inputs"].as_mapping().unwrap() {
        let declared = &inputs[k.as_str().unwrap()];
        assert!(declared.is_mapping(), "the component has no input {k:?}");
        match declared["type"].as_str().unwrap_or("string") {
            "number" => assert!(v.is_number(), "{k:?} is a number"),
            "array" => assert!(v.is_sequence(), "{k:?} is a list"),
            "boolean" => assert!(v.is_bool(), "{k:?} is a boolean"),
            _ => assert!(v.is_string(), "{k:?} is a string"),
        }
    }
    for (name, input) in inputs.as_mapping().unwrap() {
        if input.get("default").is_none() {
            assert!(
                !include["include"][0]["inputs"][name.as_str().unwrap()].is_null(),
                "the README's include lacks the required input {name:?}"
            );
        }
    }
    assert!(
        blocks
            .iter()
            .any(|b| b.contains("docker run") && b.contains("ghcr.io/dockhand/dockhand:")),
        "no `docker run` of the image in the README's first 60 lines"
    );
    assert!(
        screen.contains("DOCKHAND_"),
        "the first screen names no DOCKHAND_* variable"
    );
}

/// The user documentation speaks to users: no wording aimed at the project's authors.
#[test]
fn user_docs_do_not_address_the_authors() {
    let mut files = vec!["README.md".to_string(), "CONTRIBUTING.md".to_string()];
    for e in std::fs::read_dir(repo_root().join("docs")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        // ARCHITECTURE.md is redrawn on another branch.
        if name.ends_with(".md") && name != "ARCHITECTURE.md" {
            files.push(format!("docs/{name}"));
        }
    }
    for f in files {
        for (n, line) in read(&f).lines().enumerate() {
            let l = line.to_lowercase();
            for phrase in ["the brief", "brief's", "the contract"] {
                assert!(!l.contains(phrase), "{f}:{}: {line}", n + 1);
            }
        }
    }
}
