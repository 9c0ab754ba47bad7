//! dockhand inside pipelines, end to end: the real binary with the environment GitHub's runner
//! gives a Docker action (GITHUB_*, every declared INPUT_* with its default from action.yml,
//! output and summary files) and with GitLab's predefined variables, against a real registry on
//! loopback. Checks the references published, the files the pipeline reads back, the log dialect,
//! that secrets never reach stdout/stderr, and the exit codes.

use crate::support;
use crate::support::layouts::git;
use crate::support::run::Run;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use dockhand::fixtures;
use dockhand::naming::slug::slug_tag;
use support::*;

const COMMIT: &str = "4f1e0a6c9d2b3e5f7a8b9c0d1e2f3a4b5c6d7e8f";

impl Run {
    /// No secret anywhere, except in GitHub's `::add-mask::` lines, whose job is to carry them.
    fn leaks_none(&self, secrets: &[&str]) -> &Run {
        for s in secrets {
            assert!(!self.stdout.contains(s), "stdout leaks {s:?}: {self:?}");
            for line in self.stderr.lines() {
                if line.starts_with("::add-mask::") {
                    continue;
                }
                assert!(
                    !line.contains(s),
                    "stderr leaks {s:?} in {line:?}: {self:?}"
                );
            }
        }
        self
    }
}

/// Runs the binary in `cwd` with exactly `env` (plus PATH).
fn dockhand(args: &[&str], cwd: &Path, env: &BTreeMap<String, String>) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_dockhand"))
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .output()
        .unwrap();
    out.into()
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The container environment of a Docker action step: what the runner sets, then every input
/// declared in action.yml with its default, then the step's `with:` values.
fn github_env(work: &Path, token: &str, with: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let mut set = |k: &str, v: &str| {
        env.insert(k.to_string(), v.to_string());
    };
    let event = work.join("event.json");
    std::fs::write(
        &event,
        r#"{"ref":"refs/heads/feature/new-UI","repository":{"default_branch":"main"}}"#,
    )
    .unwrap();
    for (k, v) in [
        ("CI", "true"),
        ("GITHUB_ACTIONS", "true"),
        ("HOME", "/github/home"),
        ("GITHUB_WORKSPACE", "/github/workspace"),
        ("GITHUB_REPOSITORY", "Octo-Org/Hello-World"),
        ("GITHUB_REPOSITORY_OWNER", "Octo-Org"),
        ("GITHUB_ACTOR", "octocat"),
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_REF", "refs/heads/feature/new-UI"),
        ("GITHUB_REF_NAME", "feature/new-UI"),
        ("GITHUB_REF_TYPE", "branch"),
        ("GITHUB_SHA", COMMIT),
        ("GITHUB_RUN_ID", "1234"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        // Loopback addresses nothing listens on: the API must not be needed here.
        ("GITHUB_API_URL", "http://127.0.0.1:9/api"),
        ("GITHUB_GRAPHQL_URL", "http://127.0.0.1:9/api/graphql"),
        ("RUNNER_OS", "Linux"),
    ] {
        set(k, v);
    }
    set("HOME", &work.display().to_string());
    set("GITHUB_EVENT_PATH", &event.display().to_string());
    set(
        "GITHUB_OUTPUT",
        &work.join("github_output").display().to_string(),
    );
    set(
        "GITHUB_STEP_SUMMARY",
        &work.join("step_summary").display().to_string(),
    );
    let action: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(repo_root().join("action.yml")).unwrap())
            .unwrap();
    for (name, input) in action["inputs"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        let default = input["default"].as_str().unwrap_or_default();
        let value = if default == "${{ github.token }}" {
            token
        } else {
            default
        };
        // The runner's rule: INPUT_ + name upper-cased, spaces to `_`.
        set(
            &format!("INPUT_{}", name.to_uppercase().replace(' ', "_")),
            value,
        );
    }
    for (k, v) in with {
        let key = format!("INPUT_{}", k.to_uppercase());
        assert!(env.contains_key(&key), "action.yml declares no input {k:?}");
        env.insert(key, v.to_string());
    }
    env
}

/// The outputs action.yml declares.
fn action_outputs() -> Vec<String> {
    let action: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(repo_root().join("action.yml")).unwrap())
            .unwrap();
    action["outputs"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

/// GitHub's output file: `name=value` and `name<<DELIM … DELIM`.
fn parse_github_output(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delim)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                value.push(l);
            }
            out.insert(name.to_string(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            out.insert(name.to_string(), value.to_string());
        }
    }
    out
}

fn tags_of(base: &str, repo: &str, creds: Option<(&str, &str)>) -> Vec<String> {
    let url = format!("{base}/v2/{repo}/tags/list");
    let creds = creds.map(|(u, p)| (u.to_string(), p.to_string()));
    let body: serde_json::Value = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut req = reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap()
                .get(&url);
            if let Some((u, p)) = creds {
                req = req.basic_auth(u, Some(p));
            }
            req.send().await.unwrap().json().await.unwrap()
        })
    })
    .join()
    .unwrap();
    let mut tags: Vec<String> = body["tags"]
        .as_array()
        .map(|a| a.iter().map(|t| t.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    tags.retain(|t| !t.starts_with("sha256-"));
    tags.sort();
    tags
}

fn images_arg(dir: &Path, sep: &str) -> String {
    ["backend", "frontend"]
        .iter()
        .map(|n| format!("{n}=oci:{}", dir.join("images").join(n).display()))
        .collect::<Vec<_>>()
        .join(sep)
}

#[test]
fn github_action_publishes_cleans_up_and_writes_its_files() {
    let (user, password) = ("octocat", "registry-pass-5d1f9a7c");
    let token = "ghs_actionTokenValue0123456789";
    let reg = RegistryServer::start(RegistryOptions {
        auth: RegistryAuth::Htpasswd(vec![(user, password)]),
        delete_enabled: true,
    });
    let work = tempfile::tempdir().unwrap();
    let digests = fixtures::seed_example(&work.path().join("images")).unwrap();
    fixtures::seed_example_variant(&work.path().join("old"), Some("old")).unwrap();
    let host = reg.host();
    let repo = format!("{host}/octo-org/hello-world");

    // An older image under a tag of its own, from an earlier run.
    let mut plain = BTreeMap::new();
    plain.insert("HOME".to_string(), work.path().display().to_string());
    plain.insert("DOCKHAND_REGISTRY_PASSWORD".to_string(), password.into());
    let old_image = format!("backend=oci:{}", work.path().join("old/backend").display());
    dockhand(
        &[
            "publish",
            "-i",
            &repo,
            "--insecure-registry",
            &host,
            "--implementation",
            "default",
            "--registry-username",
            user,
            "--image",
            &old_image,
            "--tag-custom",
            "old",
        ],
        work.path(),
        &plain,
    )
    .code(0);

    let images = images_arg(work.path(), "\n");
    let env = github_env(
        work.path(),
        token,
        &[
            ("image", &images),
            ("images-repo", &repo),
            ("insecure-registry", &host),
            ("implementation", "default"),
            ("registry-username", user),
            ("registry-password", password),
            ("tag-ci-commit", "true"),
            ("keep-last", "1"),
            ("grace", "0"),
            ("git-refs", "none"),
        ],
    );
    let run = dockhand(&["run"], work.path(), &env);
    run.code(0).leaks_none(&[token, password]);

    // Masks come before anything else; then one group per stage.
    let lines: Vec<&str> = run.stderr.lines().collect();
    let first_other = lines
        .iter()
        .position(|l| !l.starts_with("::add-mask::"))
        .unwrap();
    let masks = &lines[..first_other];
    assert!(
        masks.contains(&format!("::add-mask::{token}").as_str()),
        "{run:?}"
    );
    assert!(
        masks.contains(&format!("::add-mask::{password}").as_str()),
        "{run:?}"
    );
    assert_eq!(lines[first_other], "::group::dockhand: publish", "{run:?}");
    assert_eq!(
        run.stderr.matches("::endgroup::").count(),
        2,
        "two stages, two groups: {run:?}"
    );
    assert!(run.stderr.contains("::group::dockhand: cleanup"), "{run:?}");

    // The branch tag is slugged (werf's rule), the commit added on request.
    let branch_tag = slug_tag("feature/new-UI");
    assert!(branch_tag.starts_with("feature-new-ui-"), "{branch_tag}");
    let creds = Some((user, password));
    assert_eq!(
        tags_of(&reg.url(), "octo-org/hello-world/backend", creds),
        {
            let mut t = vec![branch_tag.clone(), COMMIT.to_string()];
            t.sort();
            t
        },
        "the old tag was deleted by keep_last 1"
    );
    assert_eq!(
        tags_of(&reg.url(), "octo-org/hello-world/frontend", creds).len(),
        2
    );

    let outputs =
        parse_github_output(&std::fs::read_to_string(work.path().join("github_output")).unwrap());
    let published: serde_json::Value = serde_json::from_str(&outputs["images"]).unwrap();
    assert_eq!(published.as_array().unwrap().len(), 4, "{outputs:?}");
    let backend_ref = format!("{repo}/backend:{branch_tag}");
    let backend_digest = &digests.iter().find(|(n, _)| n == "backend").unwrap().1;
    assert!(
        outputs["digests"]
            .lines()
            .any(|l| l == format!("{backend_ref}@{backend_digest}")),
        "{outputs:?}"
    );
    // The old tag went, with the origin record dockhand had attached to it (a `sha256-…` tag).
    let deleted: Vec<&str> = outputs["deleted_tags"].lines().collect();
    assert!(
        deleted.contains(&format!("{repo}/backend:old").as_str()),
        "{outputs:?}"
    );
    assert!(
        deleted
            .iter()
            .all(|t| t.ends_with(":old") || t.contains(":sha256-")),
        "{outputs:?}"
    );
    assert_eq!(outputs["deleted"], deleted.len().to_string(), "{outputs:?}");
    assert_eq!(outputs["failed"], "0");
    assert_eq!(
        outputs["deleted-tags"], outputs["deleted_tags"],
        "the older name stays"
    );
    assert!(
        outputs["kept"].parse::<usize>().unwrap() >= 4,
        "the four new tags (and their origin records) are kept: {outputs:?}"
    );
    // Two images: no single `digest`; `tags` and `refs` one a line.
    assert_eq!(outputs["digest"], "", "{outputs:?}");
    let mut tags: Vec<&str> = outputs["tags"].lines().collect();
    tags.sort();
    assert_eq!(tags, {
        let mut t = vec![branch_tag.as_str(), COMMIT];
        t.sort();
        t
    });
    assert_eq!(outputs["refs"].lines().count(), 4, "{outputs:?}");
    assert!(
        outputs["refs"].lines().any(|l| l == backend_ref),
        "{outputs:?}"
    );
    let mut declared: Vec<String> = action_outputs();
    declared.sort();
    let mut written: Vec<String> = outputs.keys().cloned().collect();
    written.sort();
    assert_eq!(written, declared, "every declared output is written");

    let summary = std::fs::read_to_string(work.path().join("step_summary")).unwrap();
    assert!(summary.contains("### dockhand: published"), "{summary}");
    assert!(
        summary.contains(&format!(
            "| backend | `{backend_ref}` | `{backend_digest}` | pushed |"
        )),
        "{summary}"
    );
    assert!(summary.contains("### dockhand: cleanup"), "{summary}");
    assert!(
        summary.contains(&format!("| deleted | `{repo}/backend:old` |")),
        "{summary}"
    );
    for s in [token, password] {
        assert!(!summary.contains(s) && !outputs.values().any(|v| v.contains(s)));
    }
}

#[test]
fn github_bad_input_is_an_annotated_exit_2_and_sends_nothing() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let work = tempfile::tempdir().unwrap();
    fixtures::seed_example(&work.path().join("images")).unwrap();
    let images = images_arg(work.path(), "\n");
    let repo = format!("{}/octo-org/hello-world", proxy.host());
    let env = github_env(
        work.path(),
        "ghs_tok3nValue",
        &[
            ("image", &images),
            ("images-repo", &repo),
            ("insecure-registry", &proxy.host()),
            ("keep-last", "ten"),
        ],
    );
    let run = dockhand(&["run"], work.path(), &env);
    run.code(2).leaks_none(&["ghs_tok3nValue"]);
    assert!(
        run.stderr
            .contains("::error title=dockhand::INPUT_KEEP-LAST: \"ten\" is not a whole number"),
        "{run:?}"
    );

    // A config error points at its file and line.
    std::fs::write(
        work.path().join("dockhand.yaml"),
        "project: demo\nconfigVersion: 1\ncleanup:\n  keep_last: many\n",
    )
    .unwrap();
    let env = github_env(work.path(), "ghs_tok3nValue", &[("images-repo", &repo)]);
    let run = dockhand(&["run"], work.path(), &env);
    run.code(2);
    let annotation = run
        .stderr
        .lines()
        .find(|l| l.starts_with("::error "))
        .unwrap_or_else(|| panic!("no annotation: {run:?}"));
    assert!(
        annotation.starts_with("::error file=dockhand.yaml,line=4,"),
        "{annotation}"
    );
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
}

/// An input given in the kebab-case the action declares (`INPUT_DRY-RUN`, as the runner passes
/// `dry-run`) and the same input in the older underscore spelling (`INPUT_DRY_RUN`) mean the same
/// option: the same dry-run document, and nothing pushed either way.
#[test]
fn github_kebab_and_underscore_inputs_mean_the_same() {
    let reg = RegistryServer::anonymous();
    let work = tempfile::tempdir().unwrap();
    fixtures::seed_example(&work.path().join("images")).unwrap();
    let images = images_arg(work.path(), "\n");
    let repo = format!("{}/octo-org/hello-world", reg.host());
    let inputs = [
        ("images-repo", repo.as_str()),
        ("insecure-registry", &reg.host()),
        ("implementation", "default"),
        ("dry-run", "true"),
        ("keep-last", "2"),
        ("git-refs", "none"),
        ("output", "json"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let kebab: Vec<(&str, &str)> = inputs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain([("image", images.as_str())])
        .collect();
    // The runner passes every declared input, given or not: a declared default would clash with
    // the same input given in the underscore spelling.
    let action: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(repo_root().join("action.yml")).unwrap())
            .unwrap();
    for (name, input) in action["inputs"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        assert!(!name.contains('_'), "input {name:?} is not kebab-case");
        if name != "token" {
            assert_eq!(input["default"].as_str(), Some(""), "input {name:?}");
        }
    }
    let hyphenated = github_env(work.path(), "ghs_tok3nValue", &kebab);
    assert_eq!(hyphenated["INPUT_DRY-RUN"], "true");
    let mut underscored = github_env(work.path(), "ghs_tok3nValue", &[("image", &images)]);
    for (k, v) in &inputs {
        let key = format!("INPUT_{}", k.to_uppercase().replace('-', "_"));
        underscored.insert(key, v.clone());
    }
    assert_eq!(underscored["INPUT_DRY_RUN"], "true");
    let a = dockhand(&["run"], work.path(), &hyphenated);
    let b = dockhand(&["run"], work.path(), &underscored);
    a.code(0);
    b.code(0);
    let doc: serde_json::Value = serde_json::from_str(&a.stdout).unwrap();
    assert_eq!(doc["publish"]["dry_run"], true, "{a:?}");
    assert_eq!(doc["cleanup"]["dry_run"], true, "{a:?}");
    assert_eq!(a.stdout, b.stdout, "same document either way");
    assert!(
        tags_of(&reg.url(), "octo-org/hello-world/backend", None).is_empty(),
        "a dry run pushes nothing"
    );
}

/// A pull request from a fork gets a read-only token: by default the action says so in a notice
/// and exits 0 without a request to the registry; `on-fork-pr: run` (or `--on-fork-pr run`) runs.
#[test]
fn github_fork_pull_request_skips_unless_told_to_run() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let work = tempfile::tempdir().unwrap();
    fixtures::seed_example(&work.path().join("images")).unwrap();
    let images = images_arg(work.path(), "\n");
    let repo = format!("{}/octo-org/hello-world", proxy.host());
    let mut env = github_env(
        work.path(),
        "ghs_forkTokenReadOnly",
        &[
            ("image", &images),
            ("images-repo", &repo),
            ("insecure-registry", &proxy.host()),
            ("implementation", "default"),
            ("git-refs", "none"),
        ],
    );
    std::fs::write(
        work.path().join("event.json"),
        r#"{"pull_request":{"number":7,
            "head":{"sha":"0a1b2c3d4e5f60718293a4b5c6d7e8f901234567","repo":{"full_name":"someone/Hello-World","fork":true}},
            "base":{"repo":{"full_name":"Octo-Org/Hello-World","fork":false}}},
            "repository":{"default_branch":"main"}}"#,
    )
    .unwrap();
    env.insert("GITHUB_EVENT_NAME".into(), "pull_request".into());
    env.insert("GITHUB_REF".into(), "refs/pull/7/merge".into());
    env.insert("GITHUB_HEAD_REF".into(), "fix/login".into());

    let run = dockhand(&["run"], work.path(), &env);
    run.code(0).leaks_none(&["ghs_forkTokenReadOnly"]);
    let notice = run
        .stderr
        .lines()
        .find(|l| l.starts_with("::notice "))
        .unwrap_or_else(|| panic!("no notice: {run:?}"));
    assert!(
        notice.contains("fork (someone/Hello-World into Octo-Org/Hello-World)")
            && notice.contains("on-fork-pr: run"),
        "{notice}"
    );
    assert!(!run.stderr.contains("::group::"), "no stage ran: {run:?}");
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
    // ci-env tells why.
    let ci_env = dockhand(&["ci-env"], work.path(), &env);
    assert!(
        ci_env.code(0).stdout.contains(
            "# pull request from a fork: someone/Hello-World into Octo-Org/Hello-World \
             (from GITHUB_EVENT_PATH: pull_request.head.repo.full_name)"
        ),
        "{ci_env:?}"
    );
    // Bad input is still bad input.
    env.insert("INPUT_ON-FORK-PR".into(), "maybe".into());
    let run = dockhand(&["run"], work.path(), &env);
    run.code(2);
    assert!(run.stderr.contains("INPUT_ON-FORK-PR"), "{run:?}");
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());

    // Told to run, it publishes (the pull request's tag) and cleans up.
    env.insert("INPUT_ON-FORK-PR".into(), "run".into());
    let run = dockhand(&["run"], work.path(), &env);
    run.code(0);
    assert!(!run.stderr.contains("::notice "), "{run:?}");
    assert!(!proxy.requests().is_empty());
    assert_eq!(
        tags_of(&reg.url(), "octo-org/hello-world/backend", None),
        vec!["pr-7"]
    );
    // The flag does the same.
    env.remove("INPUT_ON-FORK-PR");
    let run = dockhand(
        &["run", "--on-fork-pr", "run", "--dry-run"],
        work.path(),
        &env,
    );
    run.code(0);
    assert!(!run.stderr.contains("::notice "), "{run:?}");
}

/// Credentials the way an action user holds them: the `registry-username`/`registry-password`
/// inputs (`INPUT_REGISTRY-USERNAME`, `INPUT_REGISTRY-PASSWORD`) log in to an htpasswd registry,
/// a wrong password is exit 3 and never printed; and a Docker config named by `DOCKER_CONFIG`
/// (a container action cannot see the runner's `~/.docker`) is read when it is passed.
#[test]
fn github_registry_login_inputs_and_docker_config() {
    let (user, password) = ("ci-robot", "htpasswd-pass-71c2e0");
    let reg = RegistryServer::start(RegistryOptions {
        auth: RegistryAuth::Htpasswd(vec![(user, password)]),
        delete_enabled: true,
    });
    let work = tempfile::tempdir().unwrap();
    fixtures::seed_example(&work.path().join("images")).unwrap();
    let images = images_arg(work.path(), "\n");
    let host = reg.host();
    let repo = format!("{host}/octo-org/hello-world");
    let base = [
        ("image", images.as_str()),
        ("images-repo", repo.as_str()),
        ("insecure-registry", host.as_str()),
        ("implementation", "default"),
        ("stages", "publish"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut w: Vec<(&str, &str)> = base.to_vec();
        w.extend_from_slice(extra);
        github_env(work.path(), "ghs_tok3nValue", &w)
    };
    let env = with(&[("registry-username", user), ("registry-password", password)]);
    assert_eq!(env["INPUT_REGISTRY-USERNAME"], user);
    assert_eq!(env["INPUT_REGISTRY-PASSWORD"], password);
    let run = dockhand(&["run"], work.path(), &env);
    run.code(0).leaks_none(&[password]);
    assert!(
        run.stderr
            .lines()
            .any(|l| l == format!("::add-mask::{password}")),
        "the password input is masked: {run:?}"
    );
    let creds = Some((user, password));
    let branch_tag = slug_tag("feature/new-UI");
    assert_eq!(
        tags_of(&reg.url(), "octo-org/hello-world/backend", creds),
        vec![branch_tag.clone()]
    );

    let wrong = "wrong-pass-00000000";
    let env = with(&[("registry-username", user), ("registry-password", wrong)]);
    dockhand(&["run"], work.path(), &env)
        .code(3)
        .leaks_none(&[wrong]);

    // No inputs: a Docker config where DOCKER_CONFIG says (as `docker login` writes it).
    let config_dir = work.path().join("docker-config");
    std::fs::create_dir_all(&config_dir).unwrap();
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    std::fs::write(
        config_dir.join("config.json"),
        format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
    let mut env = with(&[("tag-custom", "from-docker-config")]);
    let run = dockhand(&["run"], work.path(), &env);
    run.code(3);
    env.insert("DOCKER_CONFIG".into(), config_dir.display().to_string());
    let run = dockhand(&["run"], work.path(), &env);
    run.code(0).leaks_none(&[password, &auth]);
    assert!(
        tags_of(&reg.url(), "octo-org/hello-world/backend", creds)
            .contains(&"from-docker-config".to_string())
    );
}

/// GitLab's predefined variables of a job in a tag pipeline, with the registry at `host`.
fn gitlab_env(work: &Path, host: &str, token: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (k, v) in [
        ("CI", "true"),
        ("GITLAB_CI", "true"),
        ("CI_SERVER_URL", "http://127.0.0.1:9"),
        ("CI_API_V4_URL", "http://127.0.0.1:9/api/v4"),
        ("CI_PROJECT_ID", "42"),
        ("CI_PROJECT_PATH", "group/project"),
        ("CI_PIPELINE_SOURCE", "push"),
        ("CI_COMMIT_SHA", COMMIT),
        ("CI_COMMIT_SHORT_SHA", &COMMIT[..8]),
        ("CI_COMMIT_TAG", "v1.2.3"),
        ("CI_COMMIT_REF_NAME", "v1.2.3"),
        ("CI_COMMIT_REF_SLUG", "v1-2-3"),
        ("CI_DEFAULT_BRANCH", "main"),
        ("CI_REGISTRY_USER", "gitlab-ci-token"),
    ] {
        env.insert(k.to_string(), v.to_string());
    }
    env.insert("HOME".into(), work.display().to_string());
    env.insert("CI_PROJECT_DIR".into(), work.display().to_string());
    env.insert("CI_REGISTRY".into(), host.to_string());
    env.insert("CI_REGISTRY_IMAGE".into(), format!("{host}/group/project"));
    env.insert("CI_JOB_TOKEN".into(), token.to_string());
    env.insert("CI_REGISTRY_PASSWORD".into(), token.to_string());
    env
}

#[test]
fn gitlab_job_publishes_to_ci_registry_with_the_job_token() {
    let token = "glcbt-64_jobTokenValue987654";
    let reg = RegistryServer::start(RegistryOptions {
        auth: RegistryAuth::Htpasswd(vec![("gitlab-ci-token", token)]),
        delete_enabled: true,
    });
    let work = tempfile::tempdir().unwrap();
    let digests = fixtures::seed_example(&work.path().join("images")).unwrap();
    let host = reg.host();
    let mut env = gitlab_env(work.path(), &host, token);
    for (k, v) in [
        ("DOCKHAND_IMAGE", images_arg(work.path(), ",")),
        ("DOCKHAND_INSECURE_REGISTRY", host.clone()),
        // CI_REGISTRY makes the loopback registry GitLab's; it is a plain distribution registry.
        ("DOCKHAND_IMPLEMENTATION", "default".into()),
        ("DOCKHAND_STAGES", "publish".into()),
        ("DOCKHAND_JUNIT", "dockhand-junit.xml".into()),
    ] {
        env.insert(k.into(), v);
    }

    // ci-env shows what the pipeline implies, and where from, without the token.
    let ci_env = dockhand(&["ci-env"], work.path(), &env);
    ci_env.code(0).leaks_none(&[token]);
    for line in [
        "# dockhand ci-env: GitLab CI".to_string(),
        "# tag: v1.2.3 (from CI_COMMIT_TAG)".to_string(),
        format!("export DOCKHAND_IMAGES_REPO='{host}/group/project'  # from CI_REGISTRY_IMAGE"),
        "export DOCKHAND_REGISTRY_USERNAME='gitlab-ci-token'  # from CI_REGISTRY_USER".to_string(),
        "export DOCKHAND_REGISTRY_PASSWORD=\"${CI_REGISTRY_PASSWORD}\"".to_string(),
        "export DOCKHAND_TAG_GIT_TAG='v1.2.3'  # from CI_COMMIT_TAG".to_string(),
        "# implementation: gitlab (the images repo is on CI_REGISTRY)".to_string(),
    ] {
        assert!(ci_env.stdout.contains(&line), "lacks {line:?}: {ci_env:?}");
    }
    let json = dockhand(&["ci-env", "--output", "json"], work.path(), &env);
    let doc: serde_json::Value = serde_json::from_str(&json.code(0).stdout).unwrap();
    assert_eq!(doc["ci"]["vendor"], "gitlab");
    assert_eq!(doc["ci"]["tag"]["from"], "CI_COMMIT_TAG");
    json.leaks_none(&[token]);

    let run = dockhand(&["run"], work.path(), &env);
    run.code(0).leaks_none(&[token]);
    assert!(
        run.stderr.contains("section_start:") && run.stderr.contains(":dockhand_publish\r"),
        "{run:?}"
    );
    assert!(run.stderr.contains("section_end:"), "{run:?}");
    let creds = Some(("gitlab-ci-token", token));
    // The git tag, its semver expansion and `latest` (a release version's tag pipeline).
    assert_eq!(
        tags_of(&reg.url(), "group/project/backend", creds),
        vec!["1", "1.2", "1.2.3", "latest", "v1.2.3"]
    );
    const TAGS: [&str; 5] = ["v1.2.3", "1.2.3", "1.2", "1", "latest"];
    let dotenv = std::fs::read_to_string(work.path().join("dockhand.env")).unwrap();
    let expected: String = digests
        .iter()
        .map(|(name, digest)| {
            format!(
                "DOCKHAND_IMAGE_{}={host}/group/project/{name}:v1.2.3@{digest}\n",
                name.to_uppercase()
            )
        })
        .collect();
    assert!(dotenv.starts_with(&expected), "{dotenv}");
    let rest: BTreeMap<&str, &str> = dotenv[expected.len()..]
        .lines()
        .map(|l| l.split_once('=').unwrap())
        .collect();
    // The action's outputs under GitLab's names, lists comma-separated.
    assert_eq!(rest["DOCKHAND_DIGEST"], "", "two images: {dotenv}");
    assert_eq!(rest["DOCKHAND_TAGS"], TAGS.join(","));
    assert_eq!(
        rest["DOCKHAND_REFS"],
        digests
            .iter()
            .flat_map(|(n, _)| TAGS.map(|t| format!("{host}/group/project/{n}:{t}")))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(rest["DOCKHAND_IMAGES"].starts_with("[{"), "{dotenv}");
    assert!(
        !rest.contains_key("DOCKHAND_DELETED"),
        "publish only: {dotenv}"
    );
    let junit = std::fs::read_to_string(work.path().join("dockhand-junit.xml")).unwrap();
    assert!(junit.contains("tests=\"10\" failures=\"0\""), "{junit}");
    assert!(
        junit.contains(&format!("name=\"{host}/group/project/backend:v1.2.3\"")),
        "{junit}"
    );
    assert!(!dotenv.contains(token) && !junit.contains(token));

    // A job token the registry refuses is an authentication failure: exit 3, token unprinted.
    let wrong = "glcbt-64_expiredJobToken0000";
    env.insert("CI_JOB_TOKEN".into(), wrong.into());
    env.insert("CI_REGISTRY_PASSWORD".into(), wrong.into());
    let run = dockhand(&["run"], work.path(), &env);
    run.code(3).leaks_none(&[wrong, token]);
}

#[test]
fn gitlab_merge_request_and_bad_ci_values() {
    let work = tempfile::tempdir().unwrap();
    let mut env = gitlab_env(work.path(), "registry.example.com", "glcbt-unused-token");
    env.remove("CI_COMMIT_TAG");
    env.insert("CI_MERGE_REQUEST_IID".into(), "17".into());
    env.insert("CI_COMMIT_REF_NAME".into(), "feature/login".into());
    // What an earlier dockhand job's dotenv report hands this job.
    env.insert(
        "DOCKHAND_IMAGE_API".into(),
        format!(
            "registry.example.com/group/project/api:main@sha256:{}",
            "a".repeat(64)
        ),
    );
    let run = dockhand(
        &["detect", "--image", "api", "--no-probe", "--output", "json"],
        work.path(),
        &env,
    );
    let doc: serde_json::Value = serde_json::from_str(&run.code(0).stdout).unwrap();
    assert_eq!(
        doc["images"][0]["references"][0],
        "registry.example.com/group/project/api:mr-17"
    );
    assert_eq!(doc["implementation"], "gitlab", "CI_REGISTRY is GitLab's");
    assert_eq!(doc["detection"]["source"], "ci");
    assert!(!run.stderr.contains("not a dockhand option"), "{run:?}");

    // A CI value dockhand cannot use is bad input that names the variable.
    env.insert(
        "CI_REGISTRY_IMAGE".into(),
        "registry.example.com/Group/Project".into(),
    );
    let run = dockhand(&["run", "--image", "api=oci:x"], work.path(), &env);
    run.code(2);
    assert!(run.stderr.contains("CI_REGISTRY_IMAGE"), "{run:?}");
    assert!(!work.path().join("dockhand.env").exists());
}

#[test]
fn other_cis_and_no_ci() {
    let work = tempfile::tempdir().unwrap();
    let mut env = BTreeMap::new();
    env.insert("HOME".to_string(), work.path().display().to_string());
    let run = dockhand(&["ci-env"], work.path(), &env);
    assert_eq!(
        run.code(0).stdout,
        "# dockhand ci-env: not running in a CI\n"
    );

    env.insert("JENKINS_URL".into(), "http://127.0.0.1:9/".into());
    env.insert("GIT_BRANCH".into(), "origin/release/1.x".into());
    env.insert("GIT_COMMIT".into(), COMMIT.into());
    let run = dockhand(&["ci-env", "--format", "dotenv"], work.path(), &env);
    assert_eq!(
        run.code(0).stdout,
        "DOCKHAND_TAG_GIT_BRANCH=release/1.x\n",
        "{run:?}"
    );
    let run = dockhand(&["ci-env"], work.path(), &env);
    assert!(
        run.code(0)
            .stdout
            .contains("export DOCKHAND_TAG_GIT_BRANCH='release/1.x'  # from GIT_BRANCH"),
        "{run:?}"
    );
    // A flag of the user's wins and says so.
    let run = dockhand(&["ci-env", "--tag-custom", "nightly"], work.path(), &env);
    assert!(
        run.code(0).stdout.contains(
            "# DOCKHAND_TAG_GIT_BRANCH: --tag-custom is set and wins over the CI's value"
        ),
        "{run:?}"
    );
    let run = dockhand(&["ci-env", "--format", "yaml"], work.path(), &env);
    run.code(2);
    assert!(run.stderr.contains("--format"), "{run:?}");
}

/// Elsewhere (Jenkins here): plain lines, no timestamps, no colour unless forced, and a progress
/// line every interval while an upload is slow.
#[test]
fn plain_ci_logs_progress_and_colour_rules() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    // Every blob upload waits, so the publish outlasts a few progress intervals.
    proxy.add_fault(
        Fault::new(
            reqwest::Method::PUT,
            "/blobs/uploads/",
            100,
            FaultAction::Delay(std::time::Duration::from_millis(700)),
        )
        .any_method(),
    );
    let work = tempfile::tempdir().unwrap();
    fixtures::seed_example(&work.path().join("images")).unwrap();
    let mut env = BTreeMap::new();
    for (k, v) in [
        ("JENKINS_URL", "http://127.0.0.1:9/"),
        ("BRANCH_NAME", "main"),
        ("GIT_COMMIT", COMMIT),
        ("DOCKHAND_PROGRESS_INTERVAL", "0.3"),
        ("DOCKHAND_IMPLEMENTATION", "default"),
        ("DOCKHAND_STAGES", "publish"),
    ] {
        env.insert(k.to_string(), v.to_string());
    }
    env.insert("HOME".into(), work.path().display().to_string());
    env.insert(
        "DOCKHAND_IMAGES_REPO".into(),
        format!("{}/acme", proxy.host()),
    );
    env.insert("DOCKHAND_INSECURE_REGISTRY".into(), proxy.host());
    env.insert("DOCKHAND_IMAGE".into(), images_arg(work.path(), ","));
    let run = dockhand(&["run"], work.path(), &env);
    run.code(0);
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with("publishing: ") && l.contains("blob(s) uploaded")),
        "{run:?}"
    );
    assert!(run.stderr.starts_with("== dockhand: publish\n"), "{run:?}");
    assert!(
        !run.stderr.contains('\x1b'),
        "no colour in a plain CI log: {run:?}"
    );
    let dated = regex::Regex::new(r"(?m)^\[?\d{4}-\d{2}-\d{2}").unwrap();
    assert!(!dated.is_match(&run.stderr), "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("{}/acme/backend:main@sha256:", proxy.host())),
        "{run:?}"
    );

    env.insert("DOCKHAND_KEEP_LAST".into(), "some".into());
    env.insert("CLICOLOR_FORCE".into(), "1".into());
    let run = dockhand(&["run"], work.path(), &env);
    run.code(2);
    assert!(
        run.stderr.contains(
            "\x1b[31m\x1b[1merror\x1b[0m: DOCKHAND_KEEP_LAST: \"some\" is not a whole number"
        ),
        "{run:?}"
    );
    env.insert("NO_COLOR".into(), "1".into());
    let run = dockhand(&["run"], work.path(), &env);
    assert!(
        run.code(2).stderr.starts_with("error: DOCKHAND_KEEP_LAST"),
        "{run:?}"
    );
}

/// A pull request in GitHub: tag `pr-N`, the images repo on ghcr.io from the repository name
/// (lower-cased), the actor and the action's token as the ghcr.io login — shown by ci-env as a
/// reference to INPUT_TOKEN, never the value.
#[test]
fn github_pull_request_defaults() {
    let token = "ghs_pullRequestToken0987654";
    let work = tempfile::tempdir().unwrap();
    let mut env = github_env(work.path(), token, &[("tag-ci-commit", "true")]);
    std::fs::write(
        work.path().join("event.json"),
        r#"{"pull_request":{"number":7,"head":{"sha":"0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"}},"repository":{"default_branch":"main"}}"#,
    )
    .unwrap();
    env.insert("GITHUB_EVENT_NAME".into(), "pull_request".into());
    env.insert("GITHUB_REF".into(), "refs/pull/7/merge".into());
    env.insert("GITHUB_HEAD_REF".into(), "fix/login".into());
    let run = dockhand(
        &["detect", "--image", "api", "--no-probe", "--output", "json"],
        work.path(),
        &env,
    );
    let doc: serde_json::Value = serde_json::from_str(&run.code(0).stdout).unwrap();
    assert_eq!(doc["implementation"], "github", "{doc}");
    assert_eq!(
        doc["images"][0]["references"],
        serde_json::json!([
            "ghcr.io/octo-org/hello-world/api:pr-7",
            // The PR's head commit, not the throw-away merge commit in GITHUB_SHA.
            "ghcr.io/octo-org/hello-world/api:0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
        ])
    );
    let run = dockhand(&["ci-env"], work.path(), &env);
    run.code(0).leaks_none(&[token]);
    for line in [
        "# dockhand ci-env: GitHub Actions",
        "# change: pr-7 (from GITHUB_REF)",
        "export DOCKHAND_IMAGES_REPO='ghcr.io/octo-org/hello-world'  # from GITHUB_REPOSITORY",
        "export DOCKHAND_REGISTRY_USERNAME='octocat'  # from GITHUB_ACTOR",
        "export DOCKHAND_REGISTRY_PASSWORD=\"${INPUT_TOKEN}\"",
        "export DOCKHAND_GITHUB_TOKEN=\"${INPUT_TOKEN}\"",
        "export DOCKHAND_TAG_CUSTOM='pr-7'  # from GITHUB_REF",
    ] {
        assert!(run.stdout.contains(line), "lacks {line:?}: {run:?}");
    }
}

/// A GitHub tag push, tagged as docker/metadata-action users expect
/// (<https://github.com/docker/metadata-action>): the git tag's semver expansion, `latest` for a
/// release, `sha-<7>`, the user's tag added with `--tags-mode add`; a pre-release gets only its
/// full version; `--tags-from` takes metadata-action's `tags` output.
#[test]
fn github_tag_push_gets_semver_latest_and_sha_tags() {
    let reg = RegistryServer::start(RegistryOptions {
        auth: RegistryAuth::Anonymous,
        delete_enabled: false,
    });
    let work = tempfile::tempdir().unwrap();
    fixtures::seed_example(&work.path().join("images")).unwrap();
    let host = reg.host();
    let repo = format!("{host}/octo-org/hello-world");
    let image = format!(
        "backend=oci:{}",
        work.path().join("images/backend").display()
    );
    let tag_push = |tag: &str, extra: &[(&str, &str)]| {
        let mut env = github_env(
            work.path(),
            "ghs_tokenValue0123456789",
            &[
                ("image", &image),
                ("images-repo", &repo),
                ("insecure-registry", &host),
                ("implementation", "default"),
                ("stages", "publish"),
            ],
        );
        env.insert("GITHUB_REF".into(), format!("refs/tags/{tag}"));
        env.insert("GITHUB_REF_NAME".into(), tag.into());
        env.insert("GITHUB_REF_TYPE".into(), "tag".into());
        for (k, v) in extra {
            env.insert(k.to_string(), v.to_string());
        }
        dockhand(&["run"], work.path(), &env)
    };
    let sorted = |t: &[&str]| {
        let mut t: Vec<String> = t.iter().map(|s| s.to_string()).collect();
        t.sort();
        t
    };

    tag_push(
        "v1.2.3",
        &[
            ("DOCKHAND_TAG_SHA", "true"),
            ("DOCKHAND_TAG_CUSTOM", "extra"),
            ("DOCKHAND_TAGS_MODE", "add"),
        ],
    )
    .code(0);
    assert_eq!(
        tags_of(&reg.url(), "octo-org/hello-world/backend", None),
        sorted(&[
            "v1.2.3",
            "1.2.3",
            "1.2",
            "1",
            "latest",
            "sha-4f1e0a6",
            "extra"
        ])
    );

    // A pre-release: its full version only, no `latest`; a prefix reaches the git tags only.
    let run = tag_push("v2.0.8-beta.67", &[("DOCKHAND_TAG_PREFIX", "app-")]);
    run.code(0);
    let tags = tags_of(&reg.url(), "octo-org/hello-world/backend", None);
    assert!(tags.contains(&"app-2.0.8-beta.67".to_string()), "{tags:?}");
    assert!(tags.contains(&"app-v2.0.8-beta.67".to_string()), "{tags:?}");
    assert!(
        !tags
            .iter()
            .any(|t| t.starts_with("app-2.0.8-") && t != "app-2.0.8-beta.67")
    );
    assert!(!tags.contains(&"app-2".to_string()), "{tags:?}");

    // metadata-action's output as input: the CI's tags are replaced; a reference to this
    // repository gives its tag, a bare tag is taken as is.
    let from = format!("{repo}/backend:from-meta\nbare-one\n");
    tag_push("v3.0.0", &[("DOCKHAND_TAGS_FROM", &from)]).code(0);
    let tags = tags_of(&reg.url(), "octo-org/hello-world/backend", None);
    assert!(tags.contains(&"from-meta".to_string()), "{tags:?}");
    assert!(tags.contains(&"bare-one".to_string()), "{tags:?}");
    assert!(!tags.contains(&"3.0.0".to_string()), "{tags:?}");

    // Another repository's reference, and an invalid tag: exit 2, naming them.
    let run = tag_push(
        "v3.0.1",
        &[("DOCKHAND_TAGS_FROM", "ghcr.io/other/app:1.0.0")],
    );
    run.code(2);
    assert!(run.stderr.contains("ghcr.io/other/app:1.0.0"), "{run:?}");
    let run = tag_push("v3.0.1", &[("DOCKHAND_TAGS_FROM", "-bad")]);
    run.code(2);
    assert!(run.stderr.contains("-bad"), "{run:?}");
    let run = tag_push("v3.0.1", &[("DOCKHAND_TAG_LATEST", "sometimes")]);
    run.code(2);
    assert!(run.stderr.contains("DOCKHAND_TAG_LATEST"), "{run:?}");
    let tags = tags_of(&reg.url(), "octo-org/hello-world/backend", None);
    assert!(!tags.iter().any(|t| t.contains("3.0.1")), "{tags:?}");
}

/// `--tag-latest auto` keeps `latest` on the newest release: a fix for an old line does not take
/// it; without release tags the default branch has it; a shallow checkout asks `origin` for the
/// tags, and when nobody can tell, the default branch gets no `latest` and the run says why.
#[test]
fn latest_follows_the_newest_release_else_the_default_branch() {
    let reg = RegistryServer::start(RegistryOptions {
        auth: RegistryAuth::Anonymous,
        delete_enabled: false,
    });
    let host = reg.host();
    let images = tempfile::tempdir().unwrap();
    fixtures::seed_example(&images.path().join("images")).unwrap();
    let image = format!(
        "backend=oci:{}",
        images.path().join("images/backend").display()
    );
    // The project's history: releases v1.4.0 and v2.0.0, then the fix v1.4.1 of the old line.
    let origin = tempfile::tempdir().unwrap();
    let o = origin.path();
    git(o, &["init", "-q", "-b", "main"]);
    std::fs::write(o.join("README"), "x").unwrap();
    git(o, &["add", "-A"]);
    git(o, &["commit", "-qm", "one"]);
    for t in ["v1.4.0", "v2.0.0", "v1.4.1"] {
        git(o, &["tag", t]);
    }
    let publish = |dir: &Path, repo: &str, git_ref: &str, name: &str, kind: &str| {
        let mut env = github_env(
            dir,
            "ghs_tokenValue0123456789",
            &[
                ("image", &image),
                ("images-repo", &format!("{host}/{repo}")),
                ("insecure-registry", &host),
                ("implementation", "default"),
                ("stages", "publish"),
            ],
        );
        env.insert("GITHUB_REF".into(), git_ref.into());
        env.insert("GITHUB_REF_NAME".into(), name.into());
        env.insert("GITHUB_REF_TYPE".into(), kind.into());
        let run = dockhand(&["run"], dir, &env);
        run.code(0);
        (run, tags_of(&reg.url(), &format!("{repo}/backend"), None))
    };
    let latest = |tags: &[String]| tags.iter().any(|t| t == "latest");

    // A complete clone lists its own tags.
    let (run, tags) = publish(o, "fix", "refs/tags/v1.4.1", "v1.4.1", "tag");
    assert!(
        tags.contains(&"1.4.1".to_string()) && !latest(&tags),
        "{tags:?}"
    );
    assert!(
        run.stderr
            .contains("no latest tag: v1.4.1 is not the repository's highest release (v2.0.0 is)"),
        "{run:?}"
    );
    git(o, &["tag", "v2.1.0"]);
    let (_, tags) = publish(o, "release", "refs/tags/v2.1.0", "v2.1.0", "tag");
    assert!(latest(&tags), "{tags:?}");
    // The default branch of a project with releases: latest stays with the releases.
    let (run, tags) = publish(o, "main", "refs/heads/main", "main", "branch");
    assert!(
        tags.contains(&"main".to_string()) && !latest(&tags),
        "{tags:?}"
    );
    assert!(
        run.stderr.contains("latest follows the releases (v2.1.0"),
        "{run:?}"
    );

    // A shallow CI checkout has no tags of its own: origin is asked.
    let checkouts = tempfile::tempdir().unwrap();
    let shallow = checkouts.path().join("shallow");
    let url = format!("file://{}", o.display());
    git(
        checkouts.path(),
        &["clone", "-q", "--depth", "1", "--no-tags", &url, "shallow"],
    );
    let (run, tags) = publish(&shallow, "shallow", "refs/tags/v1.4.1", "v1.4.1", "tag");
    assert!(!latest(&tags), "{tags:?} {run:?}");
    // Its origin gone, nobody can tell: a release still gets latest, the default branch not.
    git(
        &shallow,
        &["remote", "set-url", "origin", "http://127.0.0.1:9/gone.git"],
    );
    let (_, tags) = publish(&shallow, "unknown-tag", "refs/tags/v2.2.0", "v2.2.0", "tag");
    assert!(latest(&tags), "{tags:?}");
    let (run, tags) = publish(
        &shallow,
        "unknown-main",
        "refs/heads/main",
        "main",
        "branch",
    );
    assert!(!latest(&tags), "{tags:?}");
    assert!(run.stderr.contains("could not be read"), "{run:?}");

    // A project without release tags: the default branch is latest, another branch is not.
    let plain = tempfile::tempdir().unwrap();
    let p = plain.path();
    git(p, &["init", "-q", "-b", "main"]);
    std::fs::write(p.join("README"), "x").unwrap();
    git(p, &["add", "-A"]);
    git(p, &["commit", "-qm", "one"]);
    git(p, &["tag", "nightly"]);
    let (_, tags) = publish(p, "plain-main", "refs/heads/main", "main", "branch");
    assert!(latest(&tags), "{tags:?}");
    let (_, tags) = publish(p, "plain-dev", "refs/heads/dev", "dev", "branch");
    assert!(!latest(&tags), "{tags:?}");
}
