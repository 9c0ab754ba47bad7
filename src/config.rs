//! The config file: werf.yaml-compatible multi-document YAML.
//!
//! The first document carries `project` (and optionally `configVersion`, dockhand's settings in
//! snake_case, and a `cleanup:` section); every further document is an image (`image: NAME` or
//! `image: ~`) with an optional `source:`. werf's build keys are accepted and left to the builder;
//! werf `artifact:` documents are skipped. Anything else is an error naming file, line and key.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::error::{Classify, Error, Kind, Result};
use crate::options::{OptionKind, Origin, Value, Values, spec};

/// File names looked for when `--config` is not given, in order.
pub const DEFAULT_FILES: &[&str] = &["dockhand.yaml", "dockhand.yml", "werf.yaml", "werf.yml"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    /// `None` for the unnamed image (`image: ~`).
    pub name: Option<String>,
    pub source: Option<String>,
    /// The line of its `image:` key, for messages.
    pub line: usize,
}

/// One item of `targets:`: a registry the run publishes to, with its own settings.
#[derive(Debug, Clone, Default)]
pub struct TargetEntry {
    /// 1-based, as messages name it (`targets[1]`).
    pub index: usize,
    /// `images_repo`, `images_repo_mode`, `implementation` and the `cleanup:` keys of this item,
    /// as an option layer whose origins name the item's keys (`targets[2].cleanup.keep_last`).
    pub values: Values,
    /// Names of the environment variables holding this target's registry login (the secrets
    /// themselves never sit in the file).
    pub username_env: Option<String>,
    pub password_env: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub path: PathBuf,
    /// `targets:` (empty when the file has none).
    pub targets: Vec<TargetEntry>,
    pub project: String,
    pub images: Vec<ImageEntry>,
    /// Settings and cleanup policy given in the file, as an option layer.
    pub values: Values,
    /// `cleanup.repositories`: per-repository policies for `--all-repositories`, as written (the
    /// settings layer validates patterns, durations and regexes, naming each key).
    pub repositories: Vec<RepositoryEntry>,
}

/// One entry of `cleanup.repositories`: a pattern and the policy keys it overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryEntry {
    pub pattern: String,
    pub keep_last: Option<u32>,
    pub keep_younger_than: Option<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub keep_tag: Option<Vec<String>>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub only_tag: Option<Vec<String>>,
    pub grace: Option<String>,
    pub allow_latest: Option<bool>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    Ok(Option::<OneOrMany>::deserialize(d)?.map(OneOrMany::into_vec))
}

/// A string or a list of strings (for list options written either way).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// A number or a string (sizes: `8388608` or `8MiB`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(u64),
    Text(String),
}

impl NumberOrText {
    fn into_text(self) -> String {
        match self {
            NumberOrText::Number(n) => n.to_string(),
            NumberOrText::Text(s) => s,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetaDoc {
    project: String,
    #[serde(rename = "configVersion")]
    _config_version: Option<u32>,
    // werf's own meta sections: accepted, used by werf.
    #[serde(rename = "deploy")]
    _deploy: Option<IgnoredAny>,
    #[serde(rename = "gitWorktree")]
    _git_worktree: Option<IgnoredAny>,
    #[serde(rename = "build")]
    _build: Option<IgnoredAny>,
    // dockhand settings.
    images_repo: Option<String>,
    images_repo_mode: Option<String>,
    implementation: Option<String>,
    insecure_registry: Option<OneOrMany>,
    no_probe: Option<bool>,
    concurrency: Option<u32>,
    max_manifest_size: Option<NumberOrText>,
    origin_records: Option<String>,
    cleanup: Option<CleanupSection>,
    targets: Option<Vec<TargetDoc>>,
}

/// An item of `targets:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetDoc {
    images_repo: String,
    images_repo_mode: Option<String>,
    implementation: Option<String>,
    /// The variable holding the registry username (e.g. `QUAY_USERNAME`), not the username.
    username_env: Option<String>,
    /// The variable holding the registry password or token, never the secret itself.
    password_env: Option<String>,
    cleanup: Option<CleanupSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CleanupSection {
    keep_last: Option<u32>,
    keep_younger_than: Option<String>,
    keep_tag: Option<OneOrMany>,
    only_tag: Option<OneOrMany>,
    grace: Option<String>,
    allow_latest: Option<bool>,
    keep_list: Option<String>,
    keep_in_use: Option<OneOrMany>,
    kube_context: Option<OneOrMany>,
    kubeconfig: Option<String>,
    skip_unreachable_clusters: Option<bool>,
    keep_commits: Option<u32>,
    keep_commits_younger_than: Option<String>,
    delete_untagged: Option<bool>,
    keep_pulled_within: Option<String>,
    git_refs: Option<String>,
    git_dir: Option<String>,
    all_repositories: Option<bool>,
    repositories: Option<Vec<RepositoryEntry>>,
    // werf's cleanup keys: accepted so that a werf.yaml loads; dockhand's keys above apply.
    #[serde(rename = "keepPolicies")]
    _keep_policies: Option<IgnoredAny>,
    #[serde(rename = "disableKubernetesBasedPolicy")]
    _disable_kubernetes: Option<IgnoredAny>,
    #[serde(rename = "disableGitHistoryBasedPolicy")]
    _disable_git_history: Option<IgnoredAny>,
    #[serde(rename = "disableBuiltWithinLastNHoursPolicy")]
    _disable_built_within: Option<IgnoredAny>,
    #[serde(rename = "keepImagesBuiltWithinLastNHours")]
    _keep_built_within: Option<IgnoredAny>,
}

/// An image document. werf's build keys (Dockerfile and Stapel images) are listed so that a typo
/// still fails; dockhand itself reads `image` and `source`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct ImageDoc {
    image: Option<String>,
    source: Option<String>,
    dockerfile: Option<IgnoredAny>,
    context: Option<IgnoredAny>,
    context_add_files: Option<IgnoredAny>,
    context_add_file: Option<IgnoredAny>,
    target: Option<IgnoredAny>,
    args: Option<IgnoredAny>,
    add_host: Option<IgnoredAny>,
    network: Option<IgnoredAny>,
    ssh: Option<IgnoredAny>,
    secrets: Option<IgnoredAny>,
    staged: Option<IgnoredAny>,
    from: Option<IgnoredAny>,
    from_latest: Option<IgnoredAny>,
    from_image: Option<IgnoredAny>,
    from_artifact: Option<IgnoredAny>,
    from_image_artifact: Option<IgnoredAny>,
    from_cache_version: Option<IgnoredAny>,
    git: Option<IgnoredAny>,
    shell: Option<IgnoredAny>,
    ansible: Option<IgnoredAny>,
    mount: Option<IgnoredAny>,
    import: Option<IgnoredAny>,
    docker: Option<IgnoredAny>,
    image_spec: Option<IgnoredAny>,
    platform: Option<IgnoredAny>,
    dependencies: Option<IgnoredAny>,
    #[serde(rename = "final")]
    final_: Option<IgnoredAny>,
    disable_git_after_patch: Option<IgnoredAny>,
    cache_version: Option<IgnoredAny>,
}

/// Which kind a document is, decided from its top-level keys.
enum DocKind {
    Meta,
    Image,
    Artifact,
    Empty,
}

/// The config file to use: `explicit`, else the first default name present in `dir`.
pub fn find(explicit: Option<&Path>, dir: &Path) -> Result<Option<PathBuf>> {
    if let Some(p) = explicit {
        if !p.is_file() {
            return Err(
                Error::input(format!("config file {} does not exist", p.display()))
                    .with_hint("check --config / DOCKHAND_CONFIG"),
            );
        }
        return Ok(Some(p.to_path_buf()));
    }
    Ok(DEFAULT_FILES
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file()))
}

/// The config file's failures that wrap a lower error (the others are plain [`Error`]s); the
/// text is the message the user reads, the lower error stays the source.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `at` is `:LINE:COLUMN` (or empty), `key` is `` key `a.b`:`` (or empty), `message` is the
    /// parser's text without its own position.
    #[error("{file}{at}:{key} {message}")]
    Yaml {
        file: String,
        at: String,
        key: String,
        message: String,
        #[source]
        source: serde_yaml_ng::Error,
    },
}

impl Classify for ConfigError {
    fn kind(&self) -> Kind {
        Kind::Input
    }
    fn hint(&self) -> Option<String> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Yaml { .. } => Some("see examples/dockhand.yaml for the format".into()),
        }
    }
}

pub fn load(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        Error::from_layer(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })
    })?;
    parse(&text, path)
}

pub fn parse(text: &str, path: &Path) -> Result<Config> {
    let file = path.display().to_string();
    // First pass: find out what each document is (line numbers come from the second pass).
    let mut kinds = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let value = serde_yaml_ng::Value::deserialize(doc).map_err(|e| yaml_error(&file, "", e))?;
        kinds.push(doc_kind(&value));
    }
    let mut config = Config {
        path: path.to_path_buf(),
        ..Default::default()
    };
    let mut seen_meta = false;
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        match kinds[i] {
            DocKind::Empty | DocKind::Artifact => {}
            DocKind::Meta => {
                if seen_meta {
                    return Err(Error::input(format!(
                        "{file}: document {} repeats `project`",
                        i + 1
                    ))
                    .with_hint("keep one meta document with `project:` at the top"));
                }
                seen_meta = true;
                let mut meta: MetaDoc =
                    serde_path_to_error::deserialize(doc).map_err(|e| path_error(&file, e))?;
                config.project = meta.project.clone();
                config.repositories = meta
                    .cleanup
                    .as_mut()
                    .and_then(|c| c.repositories.take())
                    .unwrap_or_default();
                (config.values, config.targets) = meta_values(meta, path);
            }
            DocKind::Image => {
                let line = image_line(text, i);
                let image: ImageDoc =
                    serde_path_to_error::deserialize(doc).map_err(|e| path_error(&file, e))?;
                let name = image.image.filter(|n| n != "~");
                if config.images.iter().any(|e| e.name == name) {
                    let shown = name.as_deref().unwrap_or("~");
                    return Err(Error::input(format!(
                        "{file}:{line}: image {shown:?} is defined twice"
                    )));
                }
                config.images.push(ImageEntry {
                    name,
                    source: image.source,
                    line,
                });
            }
        }
    }
    if !seen_meta {
        return Err(
            Error::input(format!("{file}: no `project:` document")).with_hint(
                "start the file with a document like `project: myproject` and `configVersion: 1`",
            ),
        );
    }
    Ok(config)
}

fn doc_kind(v: &serde_yaml_ng::Value) -> DocKind {
    let Some(map) = v.as_mapping() else {
        return DocKind::Empty;
    };
    let has = |k: &str| map.contains_key(serde_yaml_ng::Value::String(k.into()));
    if has("project") {
        DocKind::Meta
    } else if has("artifact") {
        DocKind::Artifact
    } else if has("image") || !map.is_empty() {
        // A document of other keys is checked as an image so that its keys are reported.
        DocKind::Image
    } else {
        DocKind::Empty
    }
}

/// The 1-based line of the `image:` key of document `index` (for "defined twice").
fn image_line(text: &str, index: usize) -> usize {
    let mut doc = 0;
    for (n, line) in text.lines().enumerate() {
        if line.starts_with("---") && n > 0 {
            doc += 1;
        }
        if doc == index && line.trim_start().starts_with("image:") {
            return n + 1;
        }
    }
    0
}

fn meta_values(mut meta: MetaDoc, path: &Path) -> (Values, Vec<TargetEntry>) {
    let targets = meta
        .targets
        .take()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, t)| target_entry(i + 1, t, path))
        .collect();
    let mut v = Values::default();
    // The key a message names comes from the option table (`cleanup.keep_last`).
    let origin = |name: &str| Origin::Config {
        file: path.to_path_buf(),
        key: spec(name)
            .and_then(|o| o.config_key())
            .unwrap_or_else(|| panic!("{name} is no config key in the option table")),
    };
    let mut text = |name: &'static str, value: Option<String>| {
        if let Some(s) = value {
            v.set_text(name, OptionKind::Scalar, &s, origin(name));
        }
    };
    text("images_repo", meta.images_repo);
    text("images_repo_mode", meta.images_repo_mode);
    text("implementation", meta.implementation);
    text("concurrency", meta.concurrency.map(|n| n.to_string()));
    text(
        "max_manifest_size",
        meta.max_manifest_size.map(NumberOrText::into_text),
    );
    text("origin_records", meta.origin_records);
    if let Some(c) = meta.cleanup {
        cleanup_values(&mut v, c, &origin);
    }
    if let Some(b) = meta.no_probe {
        v.set("no_probe", Value::Bool(b), origin("no_probe"));
    }
    if let Some(h) = meta.insecure_registry {
        v.set(
            "insecure_registry",
            Value::List(h.into_vec()),
            origin("insecure_registry"),
        );
    }
    (v, targets)
}

/// A `targets:` item as a layer; its origins name the item (`targets[2].implementation`).
fn target_entry(index: usize, t: TargetDoc, path: &Path) -> TargetEntry {
    let origin = |name: &str| Origin::Config {
        file: path.to_path_buf(),
        key: format!(
            "targets[{index}].{}",
            spec(name)
                .and_then(|o| o.config_key())
                .unwrap_or_else(|| panic!("{name} is no config key in the option table"))
        ),
    };
    let mut v = Values::default();
    for (name, value) in [
        ("images_repo", Some(t.images_repo)),
        ("images_repo_mode", t.images_repo_mode),
        ("implementation", t.implementation),
    ] {
        if let Some(s) = value {
            v.set_text(name, OptionKind::Scalar, &s, origin(name));
        }
    }
    if let Some(c) = t.cleanup {
        cleanup_values(&mut v, c, &origin);
    }
    TargetEntry {
        index,
        values: v,
        username_env: t.username_env,
        password_env: t.password_env,
    }
}

/// The `cleanup:` section's keys into `v`, each with the origin `origin` names.
fn cleanup_values(v: &mut Values, c: CleanupSection, origin: &dyn Fn(&str) -> Origin) {
    let mut text = |name: &'static str, value: Option<String>| {
        if let Some(s) = value {
            v.set_text(name, OptionKind::Scalar, &s, origin(name));
        }
    };
    text("keep_last", c.keep_last.map(|n| n.to_string()));
    text("keep_younger_than", c.keep_younger_than);
    text("grace", c.grace);
    text("keep_list", c.keep_list);
    text("kubeconfig", c.kubeconfig);
    text("keep_commits", c.keep_commits.map(|n| n.to_string()));
    text("keep_commits_younger_than", c.keep_commits_younger_than);
    text("keep_pulled_within", c.keep_pulled_within);
    text("git_refs", c.git_refs);
    text("git_dir", c.git_dir);
    if let Some(b) = c.allow_latest {
        v.set("allow_latest", Value::Bool(b), origin("allow_latest"));
    }
    if let Some(b) = c.delete_untagged {
        v.set("delete_untagged", Value::Bool(b), origin("delete_untagged"));
    }
    if let Some(b) = c.all_repositories {
        v.set(
            "all_repositories",
            Value::Bool(b),
            origin("all_repositories"),
        );
    }
    if let Some(p) = c.keep_tag {
        v.set("keep_tag", Value::List(p.into_vec()), origin("keep_tag"));
    }
    if let Some(b) = c.skip_unreachable_clusters {
        v.set(
            "skip_unreachable_clusters",
            Value::Bool(b),
            origin("skip_unreachable_clusters"),
        );
    }
    if let Some(r) = c.keep_in_use {
        v.set(
            "keep_in_use",
            Value::List(r.into_vec()),
            origin("keep_in_use"),
        );
    }
    if let Some(k) = c.kube_context {
        v.set(
            "kube_context",
            Value::List(k.into_vec()),
            origin("kube_context"),
        );
    }
    if let Some(p) = c.only_tag {
        v.set("only_tag", Value::List(p.into_vec()), origin("only_tag"));
    }
}

fn path_error(file: &str, e: serde_path_to_error::Error<serde_yaml_ng::Error>) -> Error {
    let key = e.path().to_string();
    yaml_error(file, if key == "." { "" } else { &key }, e.into_inner())
}

fn yaml_error(file: &str, key: &str, e: serde_yaml_ng::Error) -> Error {
    let at = e
        .location()
        .map(|l| format!(":{}:{}", l.line(), l.column()))
        .unwrap_or_default();
    // serde_yaml_ng appends its own "at line X column Y"; we already put that in front.
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    let key = if key.is_empty() {
        String::new()
    } else {
        format!(" key `{key}`:")
    };
    Error::from_layer(ConfigError::Yaml {
        file: file.to_string(),
        at,
        key,
        message: msg,
        source: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::OPTION_SPECS;

    fn parse_str(text: &str) -> Result<Config> {
        parse(text, Path::new("dockhand.yaml"))
    }

    const SEED: &str = "project: flant\nconfigVersion: 1\n---\nimage: backend\ndockerfile: Dockerfile\ntarget: backend\nsource: oci:build/backend\n---\nimage: frontend\ndockerfile: Dockerfile\ntarget: frontend\n";

    #[test]
    fn seed_config_loads() {
        let c = parse_str(SEED).unwrap();
        assert_eq!(c.project, "flant");
        let names: Vec<_> = c.images.iter().map(|i| i.name.as_deref()).collect();
        assert_eq!(names, vec![Some("backend"), Some("frontend")]);
        assert_eq!(c.images[0].source.as_deref(), Some("oci:build/backend"));
        assert_eq!(c.images[0].line, 4);
    }

    #[test]
    fn targets_are_layers_naming_their_keys() {
        let c = parse_str(
            "project: p\ntargets:\n- images_repo: a.example/x\n  implementation: quay\n  password_env: A_PASS\n  username_env: A_USER\n  cleanup:\n    keep_last: 2\n- images_repo: b.example/y\n",
        )
        .unwrap();
        assert_eq!(c.targets.len(), 2);
        let (value, origin) = c.targets[0].values.get("keep_last").unwrap();
        assert_eq!(value, &Value::Text("2".into()));
        assert_eq!(
            origin.label(),
            "dockhand.yaml: targets[1].cleanup.keep_last"
        );
        assert_eq!(c.targets[0].password_env.as_deref(), Some("A_PASS"));
        assert_eq!(
            c.targets[1].values.get("images_repo").unwrap().1.label(),
            "dockhand.yaml: targets[2].images_repo"
        );
        // A secret literal has no key to go in.
        let e =
            parse_str("project: p\ntargets:\n- images_repo: a\n  password: hunter2\n").unwrap_err();
        assert!(e.message.contains("targets[0].password"), "{e}");
        assert!(!e.message.contains("hunter2"), "{e}");
    }

    #[test]
    fn unnamed_image_and_artifacts() {
        let c = parse_str(
            "project: p\n---\nartifact: assets\nfrom: alpine\n---\nimage: ~\nsource: oci:x\n",
        )
        .unwrap();
        assert_eq!(c.images.len(), 1);
        assert_eq!(c.images[0].name, None);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let e = parse_str("project: p\n---\nimage: a\nsorce: oci:x\n").unwrap_err();
        assert_eq!(e.kind, crate::error::Kind::Input);
        assert!(e.message.starts_with("dockhand.yaml:4:"), "{e}");
        assert!(e.message.contains("sorce"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_key_path() {
        let e = parse_str("project: p\ncleanup:\n  keep_last: many\n").unwrap_err();
        assert!(e.message.contains("cleanup.keep_last"), "{e}");
        assert!(e.message.starts_with("dockhand.yaml:3:"), "{e}");
    }

    #[test]
    fn malformed_yaml_is_reported_with_a_line() {
        let e = parse_str("project: p\n---\nimage: [a\n").unwrap_err();
        assert!(e.message.starts_with("dockhand.yaml:"), "{e}");
    }

    #[test]
    fn settings_and_cleanup_become_a_layer() {
        let c = parse_str("project: p\nimages_repo: localhost:5000/p\ncleanup:\n  keep_last: 3\n  keep_tag: ['^v']\n  keepPolicies: []\n").unwrap();
        assert_eq!(
            c.values.get("images_repo").unwrap().0,
            Value::Text("localhost:5000/p".into())
        );
        assert_eq!(
            c.values.get("keep_last").unwrap().1.label(),
            "dockhand.yaml: cleanup.keep_last"
        );
        assert_eq!(
            c.values.get("keep_tag").unwrap().0,
            Value::List(vec!["^v".into()])
        );
    }

    #[test]
    fn keep_in_use_keys() {
        let c = parse_str(
            "project: p\ncleanup:\n  keep_in_use: kubernetes\n  kube_context: [prod, staging]\n  \
             kubeconfig: ci/kubeconfig\n  skip_unreachable_clusters: true\n",
        )
        .unwrap();
        let get = |k: &str| c.values.get(k).unwrap().0.clone();
        assert_eq!(get("keep_in_use"), Value::List(vec!["kubernetes".into()]));
        assert_eq!(
            get("kube_context"),
            Value::List(vec!["prod".into(), "staging".into()])
        );
        assert_eq!(get("kubeconfig"), Value::Text("ci/kubeconfig".into()));
        assert_eq!(get("skip_unreachable_clusters"), Value::Bool(true));
        assert_eq!(
            c.values.get("kube_context").unwrap().1.label(),
            "dockhand.yaml: cleanup.kube_context"
        );
    }

    #[test]
    fn manifest_size_as_a_number_or_with_a_unit() {
        for (text, want) in [("8388608", "8388608"), ("8MiB", "8MiB")] {
            let c = parse_str(&format!("project: p\nmax_manifest_size: {text}\n")).unwrap();
            let (value, origin) = c.values.get("max_manifest_size").unwrap();
            assert_eq!(value, &Value::Text(want.into()));
            assert_eq!(origin.label(), "dockhand.yaml: max_manifest_size");
        }
    }

    #[test]
    fn missing_project_and_duplicates() {
        assert!(
            parse_str("image: a\n")
                .unwrap_err()
                .message
                .contains("no `project:`")
        );
        assert!(
            parse_str("project: p\n---\nimage: a\n---\nimage: a\n")
                .unwrap_err()
                .message
                .contains("defined twice")
        );
    }

    /// The file reads exactly the options the table gives a config key, under that key.
    #[test]
    fn config_keys_are_the_option_tables() {
        let mut top = vec!["project: p".to_string()];
        let mut cleanup = vec!["cleanup:".to_string()];
        for o in OPTION_SPECS {
            let value = match (o.name, o.kind) {
                (_, OptionKind::Bool) => "true",
                ("keep_last" | "keep_commits" | "concurrency" | "max_manifest_size", _) => "3",
                _ => "x",
            };
            match o.config {
                crate::options::ConfigKey::None => {}
                crate::options::ConfigKey::Top => top.push(format!("{}: {value}", o.name)),
                crate::options::ConfigKey::Cleanup => {
                    cleanup.push(format!("  {}: {value}", o.name))
                }
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dockhand.yaml");
        std::fs::write(
            &file,
            format!("{}\n{}\n", top.join("\n"), cleanup.join("\n")),
        )
        .unwrap();
        let config = load(&file).unwrap();
        for o in OPTION_SPECS {
            let got = config.values.get(o.name).map(|(_, origin)| origin.clone());
            let want = o.config_key().map(|key| Origin::Config {
                file: file.clone(),
                key,
            });
            assert_eq!(got, want, "{}", o.name);
        }
    }

    /// The messages of the typed config errors, pinned (they must not change).
    #[test]
    fn read_and_yaml_error_messages_are_pinned() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.yaml");
        let e = load(&missing).unwrap_err();
        assert_eq!(e.kind, crate::error::Kind::Input);
        assert_eq!(
            e.message,
            format!(
                "cannot read config file {}: No such file or directory (os error 2)",
                missing.display()
            )
        );
        assert_eq!(e.hint, None);
        assert!(matches!(
            e.layer::<ConfigError>(),
            Some(ConfigError::Read { .. })
        ));
        let e = parse_str("project: p\ncleanup:\n  keep_last: many\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockhand.yaml:3:14: key `cleanup.keep_last`: cleanup.keep_last: invalid type: string \"many\", \
             expected u32\n  \
             hint: see examples/dockhand.yaml for the format"
        );
        assert!(matches!(
            e.layer::<ConfigError>(),
            Some(ConfigError::Yaml { .. })
        ));
        let e = parse_str("project: [\n").unwrap_err();
        assert_eq!(e.kind, crate::error::Kind::Input);
        assert!(e.message.starts_with("dockhand.yaml:"), "{e}");
    }
}
