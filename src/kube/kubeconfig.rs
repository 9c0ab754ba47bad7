//! Kubeconfig files: parsing, merging and resolving one context into what a client needs.
//!
//! The format and the merge rules are those of kubectl
//! (https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/ and
//! https://kubernetes.io/docs/reference/config-api/kubeconfig.v1/): `KUBECONFIG` lists files
//! joined by `:`; for clusters, users and contexts the first file that defines a name wins, as
//! does the first non-empty `current-context`. Relative file paths resolve against the folder of
//! the file that holds the entry.
//!
//! Parsing and merging are pure ([`parse`], [`merge`]); [`resolve`] reads the files an entry
//! names (token files, certificates, keys).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;
use url::Url;

use super::KubeError;
use crate::secret::Secret;

// ---------------------------------------------------------------------------------------------
// The file as written (kubeconfig.v1 `Config`; unknown fields are ignored, as kubectl does).

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawConfig {
    #[serde(default)]
    clusters: Option<Vec<Named<RawCluster>>>,
    #[serde(default)]
    users: Option<Vec<NamedUser>>,
    #[serde(default)]
    contexts: Option<Vec<NamedContext>>,
    #[serde(default)]
    current_context: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Named<T> {
    name: String,
    cluster: T,
}

#[derive(Debug, Clone, Deserialize)]
struct NamedUser {
    name: String,
    #[serde(default)]
    user: RawUser,
}

#[derive(Debug, Clone, Deserialize)]
struct NamedContext {
    name: String,
    context: RawContext,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawCluster {
    #[serde(default)]
    server: Option<String>,
    #[serde(default)]
    certificate_authority: Option<String>,
    #[serde(default)]
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
    #[serde(default)]
    tls_server_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawUser {
    #[serde(default)]
    token: Option<String>,
    #[serde(default, rename = "tokenFile")]
    token_file: Option<String>,
    #[serde(default)]
    client_certificate: Option<String>,
    #[serde(default)]
    client_certificate_data: Option<String>,
    #[serde(default)]
    client_key: Option<String>,
    #[serde(default)]
    client_key_data: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    exec: Option<RawExec>,
    #[serde(default)]
    auth_provider: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawExec {
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    args: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<RawEnv>>,
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    install_hint: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawEnv {
    name: String,
    #[serde(default)]
    value: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct RawContext {
    #[serde(default)]
    cluster: Option<String>,
    #[serde(default)]
    user: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Parsed and merged.

/// One parsed file.
#[derive(Debug, Clone)]
pub struct File {
    pub path: PathBuf,
    raw: RawConfig,
}

/// An entry and the file it came from (for relative paths and messages).
#[derive(Debug, Clone)]
struct Entry<T> {
    file: PathBuf,
    value: T,
}

/// Several files merged: the first file that names an entry wins.
#[derive(Debug, Clone, Default)]
pub struct Kubeconfig {
    clusters: BTreeMap<String, Entry<RawCluster>>,
    users: BTreeMap<String, Entry<RawUser>>,
    contexts: BTreeMap<String, Entry<RawContext>>,
    /// Context names in the order the files list them.
    order: Vec<String>,
    pub current_context: Option<String>,
}

/// Parses one kubeconfig file's text; errors name the file and the field.
pub fn parse(path: &Path, text: &str) -> Result<File, KubeError> {
    if text.trim().is_empty() {
        return Ok(File {
            path: path.to_path_buf(),
            raw: RawConfig::default(),
        });
    }
    let de = serde_yaml_ng::Deserializer::from_str(text);
    let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| KubeError::Config {
        file: path.display().to_string(),
        message: format!("at {}: {}", e.path(), e.inner()),
    })?;
    Ok(File {
        path: path.to_path_buf(),
        raw,
    })
}

/// Merges parsed files in order (kubectl's rule: the first file to set a name wins).
pub fn merge(files: Vec<File>) -> Kubeconfig {
    let mut k = Kubeconfig::default();
    for f in files {
        let file = f.path;
        for c in f.raw.clusters.unwrap_or_default() {
            k.clusters.entry(c.name).or_insert(Entry {
                file: file.clone(),
                value: c.cluster,
            });
        }
        for u in f.raw.users.unwrap_or_default() {
            k.users.entry(u.name).or_insert(Entry {
                file: file.clone(),
                value: u.user,
            });
        }
        for c in f.raw.contexts.unwrap_or_default() {
            if !k.contexts.contains_key(&c.name) {
                k.order.push(c.name.clone());
                k.contexts.insert(
                    c.name,
                    Entry {
                        file: file.clone(),
                        value: c.context,
                    },
                );
            }
        }
        if k.current_context.as_deref().unwrap_or_default().is_empty() {
            k.current_context = f.raw.current_context.filter(|c| !c.is_empty());
        }
    }
    k
}

/// The files `KUBECONFIG` names (joined by `:`, empty parts skipped), else `~/.kube/config`.
pub fn default_paths(kubeconfig_env: Option<&str>, home: Option<&Path>) -> Vec<PathBuf> {
    if let Some(v) = kubeconfig_env.filter(|v| !v.is_empty()) {
        return std::env::split_paths(v)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
    }
    home.map(|h| vec![h.join(".kube").join("config")])
        .unwrap_or_default()
}

/// Reads and merges `paths`. A file that does not exist is skipped when there are several (as
/// kubectl does with `KUBECONFIG`), an error when it is the only one.
pub fn load(paths: &[PathBuf]) -> Result<Kubeconfig, KubeError> {
    let mut files = Vec::new();
    for p in paths {
        match std::fs::read_to_string(p) {
            Ok(text) => files.push(parse(p, &text)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && paths.len() > 1 => {}
            Err(source) => {
                return Err(KubeError::Read {
                    file: p.display().to_string(),
                    source,
                });
            }
        }
    }
    if files.is_empty() {
        return Err(KubeError::Config {
            file: paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(":"),
            message: "no kubeconfig file could be read".into(),
        });
    }
    Ok(merge(files))
}

impl Kubeconfig {
    /// Every context name, in the order the files list them.
    pub fn context_names(&self) -> Vec<String> {
        self.order.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// One context, resolved.

/// What a client needs to reach one context's cluster.
#[derive(Debug, Clone)]
pub struct Context {
    pub name: String,
    /// The file that defines the context.
    pub file: PathBuf,
    pub cluster: Cluster,
    pub user: User,
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub name: String,
    pub server: Url,
    /// PEM of the certificate authorities to trust (instead of the system's).
    pub ca_pem: Option<Vec<u8>>,
    pub insecure_skip_tls_verify: bool,
    pub tls_server_name: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct User {
    pub name: String,
    pub token: Option<Secret>,
    pub basic: Option<(String, Secret)>,
    /// PEM of the client certificate and of its key.
    pub client_cert: Option<(Vec<u8>, Secret)>,
    pub exec: Option<ExecConfig>,
}

/// An exec credential plugin
/// (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecConfig {
    /// Where the `exec` entry is (a cache key: two contexts sharing a user share its credential).
    pub key: String,
    pub command: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub api_version: String,
    /// The kubeconfig's `installHint`, shown when the command cannot be started.
    pub install_hint: Option<String>,
}

/// The exec credential API versions dockhand speaks.
pub const EXEC_API_VERSIONS: [&str; 2] = [
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
];

/// `path` against the folder of `file`, unless absolute.
fn relative_to(file: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    file.parent().unwrap_or_else(|| Path::new(".")).join(p)
}

impl Kubeconfig {
    /// Resolves context `name`: its cluster and user, with the files they name read.
    pub fn resolve(&self, name: &str) -> Result<Context, KubeError> {
        let ctx = self
            .contexts
            .get(name)
            .ok_or_else(|| KubeError::UnknownContext {
                context: name.to_string(),
                known: self.order.join(", "),
            })?;
        let field = |field: &str, message: String| KubeError::Field {
            file: ctx.file.display().to_string(),
            context: name.to_string(),
            field: field.to_string(),
            message,
        };
        let cluster_name = ctx
            .value
            .cluster
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| field("context.cluster", "is missing".into()))?;
        let cluster = self.clusters.get(&cluster_name).ok_or_else(|| {
            field(
                "context.cluster",
                format!("names the cluster {cluster_name:?}, which no kubeconfig file defines"),
            )
        })?;
        let user = match ctx.value.user.as_deref().filter(|u| !u.is_empty()) {
            None => User::default(),
            Some(u) => {
                let entry = self.users.get(u).ok_or_else(|| {
                    field(
                        "context.user",
                        format!("names the user {u:?}, which no kubeconfig file defines"),
                    )
                })?;
                resolve_user(name, u, entry)?
            }
        };
        Ok(Context {
            name: name.to_string(),
            file: ctx.file.clone(),
            cluster: resolve_cluster(name, &cluster_name, cluster)?,
            user,
        })
    }
}

fn decode_data(
    err: &dyn Fn(&str, String) -> KubeError,
    field: &str,
    data: &str,
) -> Result<Vec<u8>, KubeError> {
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| err(field, format!("is not valid base64: {e}")))
}

fn read_file(
    err: &dyn Fn(&str, String) -> KubeError,
    field: &str,
    path: &Path,
) -> Result<Vec<u8>, KubeError> {
    std::fs::read(path).map_err(|e| err(field, format!("cannot read {}: {e}", path.display())))
}

fn resolve_cluster(
    context: &str,
    name: &str,
    entry: &Entry<RawCluster>,
) -> Result<Cluster, KubeError> {
    let err = |field: &str, message: String| KubeError::Field {
        file: entry.file.display().to_string(),
        context: context.to_string(),
        field: format!("clusters[{name}].cluster.{field}"),
        message,
    };
    let c = &entry.value;
    let server = c
        .server
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| err("server", "is missing".into()))?;
    let server =
        Url::parse(server).map_err(|e| err("server", format!("{server:?} is not a URL: {e}")))?;
    if !matches!(server.scheme(), "https" | "http") || server.host_str().is_none() {
        return Err(err(
            "server",
            format!("{server} is not an http:// or https:// address"),
        ));
    }
    let ca_pem = match (&c.certificate_authority_data, &c.certificate_authority) {
        (Some(d), _) if !d.is_empty() => Some(decode_data(&err, "certificate-authority-data", d)?),
        (_, Some(p)) if !p.is_empty() => Some(read_file(
            &err,
            "certificate-authority",
            &relative_to(&entry.file, p),
        )?),
        _ => None,
    };
    if c.insecure_skip_tls_verify && ca_pem.is_some() {
        // kubectl refuses the same: a root certificate and the insecure flag contradict.
        return Err(err(
            "insecure-skip-tls-verify",
            "is set together with a certificate authority; keep one of them".into(),
        ));
    }
    Ok(Cluster {
        name: name.to_string(),
        server,
        ca_pem,
        insecure_skip_tls_verify: c.insecure_skip_tls_verify,
        tls_server_name: c.tls_server_name.clone().filter(|s| !s.is_empty()),
    })
}

fn resolve_user(context: &str, name: &str, entry: &Entry<RawUser>) -> Result<User, KubeError> {
    let err = |field: &str, message: String| KubeError::Field {
        file: entry.file.display().to_string(),
        context: context.to_string(),
        field: format!("users[{name}].user.{field}"),
        message,
    };
    let u = &entry.value;
    if u.auth_provider.is_some() {
        return Err(KubeError::AuthProvider {
            file: entry.file.display().to_string(),
            context: context.to_string(),
            user: name.to_string(),
        });
    }
    let nonempty = |o: &Option<String>| o.clone().filter(|s| !s.is_empty());
    let token = match (nonempty(&u.token), nonempty(&u.token_file)) {
        (Some(t), _) => Some(Secret::new(t)),
        (None, Some(p)) => {
            let bytes = read_file(&err, "tokenFile", &relative_to(&entry.file, &p))?;
            let t = String::from_utf8(bytes)
                .map_err(|_| err("tokenFile", "is not UTF-8 text".into()))?;
            Some(Secret::new(t.trim()))
        }
        _ => None,
    };
    let basic = match (nonempty(&u.username), nonempty(&u.password)) {
        (Some(user), Some(pw)) => Some((user, Secret::new(pw))),
        (Some(_), None) => return Err(err("password", "is missing (username is set)".into())),
        _ => None,
    };
    let cert = match (
        nonempty(&u.client_certificate_data),
        nonempty(&u.client_certificate),
    ) {
        (Some(d), _) => Some(decode_data(&err, "client-certificate-data", &d)?),
        (None, Some(p)) => Some(read_file(
            &err,
            "client-certificate",
            &relative_to(&entry.file, &p),
        )?),
        _ => None,
    };
    let key = match (nonempty(&u.client_key_data), nonempty(&u.client_key)) {
        (Some(d), _) => Some(decode_data(&err, "client-key-data", &d)?),
        (None, Some(p)) => Some(read_file(
            &err,
            "client-key",
            &relative_to(&entry.file, &p),
        )?),
        _ => None,
    };
    let client_cert = match (cert, key) {
        (Some(c), Some(k)) => {
            let k =
                String::from_utf8(k).map_err(|_| err("client-key", "is not PEM text".into()))?;
            Some((c, Secret::new(k)))
        }
        (Some(_), None) => {
            return Err(err(
                "client-key",
                "is missing (a client certificate is set)".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(err(
                "client-certificate",
                "is missing (a client key is set)".into(),
            ));
        }
        (None, None) => None,
    };
    let exec = match &u.exec {
        None => None,
        Some(x) => {
            let command =
                nonempty(&x.command).ok_or_else(|| err("exec.command", "is missing".into()))?;
            let api_version = nonempty(&x.api_version)
                .ok_or_else(|| err("exec.apiVersion", "is missing".into()))?;
            if !EXEC_API_VERSIONS.contains(&api_version.as_str()) {
                return Err(err(
                    "exec.apiVersion",
                    format!(
                        "{api_version:?} is not supported; use one of {}",
                        EXEC_API_VERSIONS.join(", ")
                    ),
                ));
            }
            // client-go resolves a command that contains a path separator against the
            // kubeconfig's folder; a bare name is looked up on PATH.
            let command = if command.contains('/') {
                relative_to(&entry.file, &command)
            } else {
                PathBuf::from(command)
            };
            Some(ExecConfig {
                key: format!("{}#{name}", entry.file.display()),
                command,
                args: x.args.clone().unwrap_or_default(),
                env: x
                    .env
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|e| (e.name, e.value))
                    .collect(),
                api_version,
                install_hint: nonempty(&x.install_hint),
            })
        }
    };
    Ok(User {
        name: name.to_string(),
        token,
        basic,
        client_cert,
        exec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> File {
        parse(Path::new(path), text).unwrap()
    }

    const A: &str = r#"
apiVersion: v1
kind: Config
current-context: one
clusters:
- name: c1
  cluster:
    server: https://one.example:6443
    certificate-authority: ca.pem
    tls-server-name: kubernetes
- name: shared
  cluster: {server: "https://from-a.example"}
users:
- name: u1
  user:
    tokenFile: tokens/u1
contexts:
- name: one
  context: {cluster: c1, user: u1, namespace: default}
- name: shared
  context: {cluster: shared, user: u1}
"#;
    const B: &str = r#"
current-context: two
clusters:
- name: shared
  cluster: {server: "https://from-b.example"}
- name: c2
  cluster: {server: "http://127.0.0.1:8080", insecure-skip-tls-verify: true}
users:
- name: u2
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: ./bin/get-token
      args: ["--cluster", "two"]
      env: [{name: REGION, value: eu}]
contexts:
- name: two
  context: {cluster: c2, user: u2}
- name: one
  context: {cluster: c2, user: u2}
"#;

    #[test]
    fn first_file_wins_per_name_and_keeps_its_order() {
        let k = merge(vec![file("/a/config", A), file("/b/config", B)]);
        assert_eq!(k.context_names(), vec!["one", "shared", "two"]);
        assert_eq!(k.current_context.as_deref(), Some("one"));
        assert_eq!(
            k.clusters["shared"].value.server.as_deref(),
            Some("https://from-a.example")
        );
        assert_eq!(k.contexts["one"].value.cluster.as_deref(), Some("c1"));
        assert_eq!(k.contexts["one"].file, Path::new("/a/config"));
    }

    #[test]
    fn relative_paths_resolve_against_the_files_folder() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::create_dir_all(a.join("tokens")).unwrap();
        std::fs::write(a.join("tokens/u1"), "tok-from-file-1234\n").unwrap();
        std::fs::write(a.join("ca.pem"), "CA PEM").unwrap();
        let b = dir.path().join("b");
        let k = merge(vec![
            file(a.join("config").to_str().unwrap(), A),
            file(b.join("config").to_str().unwrap(), B),
        ]);
        let one = k.resolve("one").unwrap();
        assert_eq!(one.cluster.ca_pem.as_deref(), Some(&b"CA PEM"[..]));
        assert_eq!(one.cluster.tls_server_name.as_deref(), Some("kubernetes"));
        assert_eq!(one.user.token.unwrap().expose(), "tok-from-file-1234");
        let two = k.resolve("two").unwrap();
        let exec = two.user.exec.unwrap();
        assert_eq!(exec.command, b.join("./bin/get-token"));
        assert_eq!(exec.args, vec!["--cluster", "two"]);
        assert_eq!(exec.env, vec![("REGION".to_string(), "eu".to_string())]);
        assert!(two.cluster.insecure_skip_tls_verify);
    }

    #[test]
    fn errors_name_the_file_the_context_and_the_field() {
        let k = merge(vec![file("/a/config", A)]);
        let e = crate::Error::from(k.resolve("one").unwrap_err());
        assert_eq!(e.kind, crate::Kind::Input);
        assert!(
            e.message.contains("/a/config")
                && e.message.contains("context one")
                && e.message.contains("users[u1].user.tokenFile"),
            "{e}"
        );
        let e = crate::Error::from(k.resolve("nope").unwrap_err());
        assert!(
            e.message.contains("nope") && e.message.contains("one, shared"),
            "{e}"
        );

        let bad = parse(
            Path::new("/x/config"),
            "clusters: [{name: c, cluster: {server: [1]}}]",
        )
        .unwrap_err();
        let e = crate::Error::from(bad);
        assert_eq!(e.kind, crate::Kind::Input);
        assert!(
            e.message.contains("/x/config") && e.message.contains("server"),
            "{e}"
        );
    }

    #[test]
    fn auth_provider_is_refused_clearly() {
        let k = merge(vec![file(
            "/k/config",
            "clusters: [{name: c, cluster: {server: 'https://k'}}]\n\
             users: [{name: g, user: {auth-provider: {name: gcp}}}]\n\
             contexts: [{name: gke, context: {cluster: c, user: g}}]\n",
        )]);
        let e = crate::Error::from(k.resolve("gke").unwrap_err());
        assert_eq!(e.kind, crate::Kind::Input);
        assert!(
            e.message.contains("auth-provider") && e.message.contains("gke"),
            "{e}"
        );
        assert!(e.hint.unwrap().contains("exec credential plugin"));
    }

    #[test]
    fn exec_api_version_is_checked() {
        let k = merge(vec![file(
            "/k/config",
            "clusters: [{name: c, cluster: {server: 'https://k'}}]\n\
             users: [{name: e, user: {exec: {command: x, apiVersion: client.authentication.k8s.io/v1alpha1}}}]\n\
             contexts: [{name: x, context: {cluster: c, user: e}}]\n",
        )]);
        let e = crate::Error::from(k.resolve("x").unwrap_err());
        assert!(e.message.contains("exec.apiVersion"), "{e}");
    }

    #[test]
    fn insecure_and_a_certificate_authority_contradict() {
        let k = merge(vec![file(
            "/k/config",
            "clusters: [{name: c, cluster: {server: 'https://k', certificate-authority-data: Q0E=, insecure-skip-tls-verify: true}}]\n\
             contexts: [{name: x, context: {cluster: c}}]\n",
        )]);
        let e = crate::Error::from(k.resolve("x").unwrap_err());
        assert!(
            e.message
                .contains("clusters[c].cluster.insecure-skip-tls-verify"),
            "{e}"
        );
    }

    #[test]
    fn kubeconfig_variable_lists_files() {
        let p = default_paths(Some("/a/config::/b/config"), Some(Path::new("/home/u")));
        assert_eq!(
            p,
            vec![PathBuf::from("/a/config"), PathBuf::from("/b/config")]
        );
        let p = default_paths(None, Some(Path::new("/home/u")));
        assert_eq!(p, vec![PathBuf::from("/home/u/.kube/config")]);
    }

    #[test]
    fn data_fields_are_base64() {
        let k = merge(vec![file(
            "/k/config",
            "clusters: [{name: c, cluster: {server: 'https://k', certificate-authority-data: Q0E=}}]\n\
             users: [{name: u, user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZLWRhdGE=}}]\n\
             contexts: [{name: x, context: {cluster: c, user: u}}]\n",
        )]);
        let c = k.resolve("x").unwrap();
        assert_eq!(c.cluster.ca_pem.as_deref(), Some(&b"CA"[..]));
        let (cert, key) = c.user.client_cert.unwrap();
        assert_eq!((cert.as_slice(), key.expose()), (&b"CERT"[..], "KEY-data"));
    }
}
