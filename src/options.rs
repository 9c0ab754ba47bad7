//! The option table and its layers: each option once, with its kind; each value with its origin,
//! so that an error can name the flag, variable or config key the user actually wrote.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::ArgMatches;
use clap::parser::ValueSource;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    Scalar,
    /// Comma- or newline-separated in the environment (hosts, tags, images).
    List,
    /// Newline-separated in the environment (regular expressions may contain commas).
    Patterns,
    /// Comma- or newline-separated like `List`, but an empty item is kept (as `""`) so that the
    /// settings refuse it: a stray comma in a list of registries must not silently drop one.
    StrictList,
    Bool,
}

/// Where an option sits in the config file's first document, if it can be set there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigKey {
    /// Not a config key (flags and variables only).
    None,
    /// A top-level key of the first document: `images_repo`.
    Top,
    /// A key of its `cleanup:` section: `cleanup.keep_last`.
    Cleanup,
}

/// One option: its name (the clap arg id and the snake_case spelling everywhere), its kind, and
/// whether the config file sets it. Every other spelling is derived here, once: the flag, the
/// `DOCKHAND_*` and `INPUT_*` variables, the config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSpec {
    pub name: &'static str,
    pub kind: OptionKind,
    pub config: ConfigKey,
}

impl OptionSpec {
    /// `--images-repo`.
    pub fn flag(&self) -> String {
        format!("--{}", self.long())
    }
    /// `images-repo` (clap's long name).
    pub fn long(&self) -> String {
        self.name.replace('_', "-")
    }
    /// `DOCKHAND_IMAGES_REPO`.
    pub fn dockhand_var(&self) -> String {
        format!("DOCKHAND_{}", self.name.to_ascii_uppercase())
    }
    /// `INPUT_IMAGES_REPO` and `INPUT_IMAGES-REPO`: GitHub passes an action input verbatim, so
    /// the kebab-case input names the same option.
    pub fn input_vars(&self) -> [String; 2] {
        let upper = self.name.to_ascii_uppercase();
        [
            format!("INPUT_{upper}"),
            format!("INPUT_{}", upper.replace('_', "-")),
        ]
    }
    /// `images_repo`, `cleanup.keep_last`, or `None`.
    pub fn config_key(&self) -> Option<String> {
        match self.config {
            ConfigKey::None => None,
            ConfigKey::Top => Some(self.name.to_string()),
            ConfigKey::Cleanup => Some(format!("cleanup.{}", self.name)),
        }
    }
}

/// The option named `name`.
pub fn spec(name: &str) -> Option<&'static OptionSpec> {
    OPTION_SPECS.iter().find(|o| o.name == name)
}

/// The kind of option `name` (which must be in the table).
pub fn kind_of(name: &str) -> OptionKind {
    spec(name)
        .unwrap_or_else(|| panic!("{name} is not in the option table"))
        .kind
}

macro_rules! config_key {
    () => {
        ConfigKey::None
    };
    ($cfg:ident) => {
        ConfigKey::$cfg
    };
}

macro_rules! options {
    ($($name:ident: $kind:ident $(@ $cfg:ident)?),* $(,)?) => {
        /// Every option that can come from a flag, `DOCKHAND_*`, `INPUT_*` or the config file.
        pub const OPTION_SPECS: &[OptionSpec] = &[$(OptionSpec {
            name: stringify!($name),
            kind: OptionKind::$kind,
            config: config_key!($($cfg)?),
        }),*];

        /// The same table as (name, kind) pairs, the shape the integration tests read.
        pub const OPTIONS: &[(&str, OptionKind)] = &[$((stringify!($name), OptionKind::$kind)),*];

        /// The environment's view of the options (read with envy, all as strings).
        #[derive(Debug, Default, serde::Deserialize)]
        #[serde(default)]
        pub struct EnvValues {
            $(pub $name: Option<String>,)*
        }

        impl EnvValues {
            pub fn into_values(self, origin: impl Fn(&'static str) -> Origin) -> Values {
                let mut v = Values::default();
                $(if let Some(s) = self.$name {
                    v.set_text(stringify!($name), OptionKind::$kind, &s, origin(stringify!($name)));
                })*
                v
            }
        }
    };
}

options! {
    config: Scalar,
    images_repo: StrictList @ Top,
    images_repo_mode: Scalar @ Top,
    implementation: Scalar @ Top,
    insecure_registry: List @ Top,
    no_probe: Bool @ Top,
    concurrency: Scalar @ Top,
    connect_timeout: Scalar,
    read_timeout: Scalar,
    retry_budget: Scalar,
    deadline: Scalar,
    max_manifest_size: Scalar @ Top,
    registry_username: Scalar,
    registry_password: Scalar,
    github_token: Scalar,
    github_api_url: Scalar,
    github_repository: Scalar,
    github_rate_limit: Scalar,
    gitlab_token: Scalar,
    gitlab_api_url: Scalar,
    gitlab_project: Scalar,
    docker_hub_username: Scalar,
    docker_hub_password: Scalar,
    docker_hub_token: Scalar,
    docker_hub_api_url: Scalar,
    quay_token: Scalar,
    harbor_username: Scalar,
    harbor_password: Scalar,
    azure_client_id: Scalar,
    azure_client_secret: Scalar,
    azure_tenant_id: Scalar,
    azure_authority_host: Scalar,
    azure_access_token: Scalar,
    google_access_token: Scalar,
    google_json_key: Scalar,
    output: Scalar,
    color: Scalar,
    image: List,
    tag_custom: List,
    tag_git_branch: Scalar,
    tag_git_tag: Scalar,
    tag_git_commit: Scalar,
    tag_by_digest: Bool,
    tag_ci_commit: Bool,
    tag_sha: Bool,
    tag_latest: Scalar,
    tag_prefix: Scalar,
    tag_suffix: Scalar,
    tags_mode: Scalar,
    tags_from: Scalar,
    dry_run: Bool,
    with_referrers: Bool,
    delete_extra: Bool,
    from: Scalar,
    from_digest: Scalar,
    keep_last: Scalar @ Cleanup,
    keep_younger_than: Scalar @ Cleanup,
    keep_tag: Patterns @ Cleanup,
    only_tag: Patterns @ Cleanup,
    grace: Scalar @ Cleanup,
    allow_latest: Bool @ Cleanup,
    keep_list: Scalar @ Cleanup,
    keep_in_use: List @ Cleanup,
    kube_context: List @ Cleanup,
    kubeconfig: Scalar @ Cleanup,
    skip_unreachable_clusters: Bool @ Cleanup,
    keep_commits: Scalar @ Cleanup,
    keep_commits_younger_than: Scalar @ Cleanup,
    delete_untagged: Bool @ Cleanup,
    keep_pulled_within: Scalar @ Cleanup,
    git_refs: Scalar @ Cleanup,
    git_dir: Scalar @ Cleanup,
    max_deletions: Scalar,
    all_repositories: Bool @ Cleanup,
    report: Scalar,
    stages: Scalar,
    on_fork_pr: Scalar,
    origin_records: Scalar @ Top,
    dotenv: Scalar,
    junit: Scalar,
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Flag(&'static str),
    Env(String),
    Config { file: PathBuf, key: String },
    Default,
}

impl Origin {
    /// How to name this origin in a message: `--images-repo`, `DOCKHAND_IMAGES_REPO`, `dockhand.yaml: images_repo`.
    pub fn label(&self) -> String {
        match self {
            Origin::Flag(name) => format!("--{}", name.replace('_', "-")),
            Origin::Env(var) => var.clone(),
            Origin::Config { file, key } => format!("{}: {key}", file.display()),
            Origin::Default => "default".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    List(Vec<String>),
    Bool(bool),
}

/// One layer (or the merge of several): option name → value and origin.
#[derive(Debug, Clone, Default)]
pub struct Values {
    map: BTreeMap<&'static str, (Value, Origin)>,
}

impl Values {
    pub fn set(&mut self, name: &'static str, value: Value, origin: Origin) {
        self.map.insert(name, (value, origin));
    }

    /// Sets a value given as text, split or parsed by the option's kind.
    pub fn set_text(&mut self, name: &'static str, kind: OptionKind, text: &str, origin: Origin) {
        let value = match kind {
            OptionKind::Scalar => Value::Text(text.trim().to_string()),
            OptionKind::List => Value::List(split(text, &[',', '\n'])),
            OptionKind::Patterns => Value::List(split(text, &['\n'])),
            OptionKind::StrictList => Value::List(split_strict(text)),
            OptionKind::Bool => match parse_bool(text) {
                Some(b) => Value::Bool(b),
                // Kept as text so that the settings stage reports it with its origin.
                None => Value::Text(text.to_string()),
            },
        };
        self.set(name, value, origin);
    }

    pub fn get(&self, name: &str) -> Option<&(Value, Origin)> {
        self.map.get(name)
    }

    /// `self` over `lower`: a value set here wins.
    pub fn over(mut self, lower: Values) -> Values {
        for (k, v) in lower.map {
            self.map.entry(k).or_insert(v);
        }
        self
    }

    /// The options given on the command line (not clap defaults), found by their arg ids.
    pub fn from_matches(matches: &[&ArgMatches]) -> Values {
        let mut v = Values::default();
        for OptionSpec { name, kind, .. } in OPTION_SPECS {
            for m in matches {
                if !matches!(m.try_contains_id(name), Ok(true))
                    || m.value_source(name) != Some(ValueSource::CommandLine)
                {
                    continue;
                }
                let origin = Origin::Flag(name);
                if *kind == OptionKind::Bool {
                    v.set(name, Value::Bool(true), origin);
                    continue;
                }
                let raw: Vec<String> = m
                    .get_raw(name)
                    .map(|r| r.map(|s| s.to_string_lossy().into_owned()).collect())
                    .unwrap_or_default();
                let value = match kind {
                    OptionKind::Scalar => Value::Text(raw.into_iter().last().unwrap_or_default()),
                    _ => Value::List(raw),
                };
                v.set(name, value, origin);
            }
        }
        v
    }
}

pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

fn split(text: &str, seps: &[char]) -> Vec<String> {
    text.split(|c| seps.contains(&c))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Items separated by commas or newlines, each trimmed, empty ones kept; whitespace around the
/// whole text (a YAML block's last newline) is no item.
fn split_strict(text: &str) -> Vec<String> {
    let t = text.trim();
    if t.is_empty() {
        return Vec::new();
    }
    t.split([',', '\n']).map(|s| s.trim().to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_lists_keep_empty_items() {
        assert_eq!(split_strict(" a, b\nc\n"), ["a", "b", "c"]);
        assert_eq!(split_strict("a,,b"), ["a", "", "b"]);
        assert_eq!(split_strict("a,"), ["a", ""]);
        assert!(split_strict(" \n").is_empty());
    }

    #[test]
    fn lists_split_by_kind() {
        let mut v = Values::default();
        v.set_text("tag_custom", OptionKind::List, "a, b\nc", Origin::Default);
        v.set_text(
            "keep_tag",
            OptionKind::Patterns,
            "^v[0-9]{1,3}$\n^release-.*",
            Origin::Default,
        );
        assert_eq!(
            v.get("tag_custom").unwrap().0,
            Value::List(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(
            v.get("keep_tag").unwrap().0,
            Value::List(vec!["^v[0-9]{1,3}$".into(), "^release-.*".into()])
        );
    }

    #[test]
    fn upper_layer_wins() {
        let mut hi = Values::default();
        hi.set_text(
            "images_repo",
            OptionKind::Scalar,
            "a",
            Origin::Env("DOCKHAND_IMAGES_REPO".into()),
        );
        let mut lo = Values::default();
        lo.set_text(
            "images_repo",
            OptionKind::Scalar,
            "b",
            Origin::Env("INPUT_IMAGES_REPO".into()),
        );
        lo.set_text(
            "output",
            OptionKind::Scalar,
            "json",
            Origin::Env("INPUT_OUTPUT".into()),
        );
        let m = hi.over(lo);
        assert_eq!(m.get("images_repo").unwrap().0, Value::Text("a".into()));
        assert_eq!(m.get("output").unwrap().1.label(), "INPUT_OUTPUT");
    }

    #[test]
    fn labels() {
        assert_eq!(Origin::Flag("images_repo").label(), "--images-repo");
        assert_eq!(
            Origin::Config {
                file: "w.yaml".into(),
                key: "cleanup.keep_last".into()
            }
            .label(),
            "w.yaml: cleanup.keep_last"
        );
    }
}
