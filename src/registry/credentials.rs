//! Registry credentials: from options first, then the Docker config (`auths`, `credHelpers`,
//! `credsStore`), the way `docker login` left them. Helpers are run as
//! `docker-credential-<name> get` with the server on stdin; their answers are cached per host.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use crate::error::{Error, Result};
use crate::secret::Secret;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    Basic {
        username: String,
        password: Secret,
    },
    /// An OAuth2 refresh token stored by `docker login` (`identitytoken`).
    IdentityToken {
        token: Secret,
    },
}

impl Credential {
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credential::Basic {
            username: username.into(),
            password: Secret::new(password),
        }
    }
    /// Who this is, for the token cache key (never the secret itself).
    pub fn identity(&self) -> String {
        match self {
            Credential::Basic { username, .. } => username.clone(),
            Credential::IdentityToken { .. } => "<identity-token>".into(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct DockerConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

#[derive(Debug, Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Where credentials come from, in order: explicit per-host entries, then the Docker config.
#[derive(Debug, Default)]
pub struct CredentialStore {
    /// Behind a lock: vendor logins (ECR, ACR) add the registry credential they obtain at run time.
    explicit: std::sync::Mutex<HashMap<String, Credential>>,
    config: DockerConfigFile,
    config_path: Option<PathBuf>,
    helper_cache: Mutex<HashMap<String, Option<Credential>>>,
}

/// The key Docker uses for a registry host in its config.
pub fn config_key(host: &str) -> String {
    let h = host.trim().to_ascii_lowercase();
    let h = h
        .strip_prefix("https://")
        .or_else(|| h.strip_prefix("http://"))
        .unwrap_or(&h);
    let h = h.split('/').next().unwrap_or_default();
    match h {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "index.docker.io".into()
        }
        other => other.to_string(),
    }
}

impl CredentialStore {
    /// Reads the Docker config at `path` if it exists. A malformed file is an input error.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let mut store = CredentialStore::default();
        let Some(path) = path else { return Ok(store) };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                store.config = serde_json::from_str(&text).map_err(|e| {
                    Error::input(format!("Docker config {}: {e}", path.display()))
                        .with_hint("fix the JSON, or point DOCKER_CONFIG at another directory")
                })?;
                store.config_path = Some(path.to_path_buf());
                // Register the stored secrets at once so nothing can print them.
                for entry in store.config.auths.values() {
                    for s in [&entry.auth, &entry.password, &entry.identitytoken]
                        .into_iter()
                        .flatten()
                    {
                        crate::secret::register(s);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::input(format!(
                    "cannot read Docker config {}: {e}",
                    path.display()
                )));
            }
        }
        Ok(store)
    }

    /// Credentials given on the command line or in the environment win over the Docker config.
    pub fn set(&self, host: &str, credential: Credential) {
        self.explicit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(config_key(host), credential);
    }

    pub async fn lookup(&self, host: &str) -> Result<Option<Credential>> {
        let key = config_key(host);
        let explicit = self
            .explicit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        if let Some(c) = explicit {
            return Ok(Some(c));
        }
        if let Some(helper) = self
            .config
            .cred_helpers
            .get(&key)
            .or_else(|| self.helper_for_entry(&key))
        {
            return self.ask_helper(helper, &key).await;
        }
        if let Some(entry) = self.entry(&key) {
            return self.decode(entry, &key).map(Some);
        }
        match &self.config.creds_store {
            Some(store) if !store.is_empty() => self.ask_helper(store, &key).await,
            _ => Ok(None),
        }
    }

    fn helper_for_entry(&self, key: &str) -> Option<&String> {
        self.config
            .cred_helpers
            .iter()
            .find(|(k, _)| config_key(k) == key)
            .map(|(_, v)| v)
    }

    fn entry(&self, key: &str) -> Option<&AuthEntry> {
        self.config
            .auths
            .iter()
            .find(|(k, _)| config_key(k) == key)
            .map(|(_, v)| v)
    }

    fn decode(&self, entry: &AuthEntry, key: &str) -> Result<Credential> {
        if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Credential::IdentityToken {
                token: Secret::new(token),
            });
        }
        if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
            return Ok(Credential::basic(u.clone(), p.clone()));
        }
        let where_ = || {
            let file = self
                .config_path
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            format!("Docker config {file}: auths[{key:?}].auth")
        };
        let raw = entry.auth.as_deref().unwrap_or_default();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(raw.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| Error::input(format!("{} is not base64 of USER:PASSWORD", where_())))?;
        let (u, p) = decoded
            .split_once(':')
            .ok_or_else(|| Error::input(format!("{} does not hold USER:PASSWORD", where_())))?;
        crate::secret::register(p);
        Ok(Credential::basic(u, p))
    }

    async fn ask_helper(&self, helper: &str, key: &str) -> Result<Option<Credential>> {
        let mut cache = self.helper_cache.lock().await;
        if let Some(c) = cache.get(key) {
            return Ok(c.clone());
        }
        let program = format!("docker-credential-{helper}");
        // Docker Hub's entry is the v1 index URL; every other helper key is the bare host.
        let server = if key == "index.docker.io" {
            "https://index.docker.io/v1/".to_string()
        } else {
            key.to_string()
        };
        let mut child = tokio::process::Command::new(&program)
            .arg("get")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| {
                Error::input(format!(
                    "credential helper {program} for {key} cannot run: {e}"
                ))
                .with_hint(format!(
                    "install {program}, or remove it from the Docker config"
                ))
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(server.as_bytes()).await.ok();
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| Error::input(format!("credential helper {program}: {e}")))?;
        let answer = if out.status.success() {
            let a: HelperAnswer = serde_json::from_slice(&out.stdout).map_err(|e| {
                Error::input(format!(
                    "credential helper {program} answered no credentials JSON: {e}"
                ))
            })?;
            crate::secret::register(&a.secret);
            Some(if a.username == "<token>" {
                Credential::IdentityToken {
                    token: Secret::new(a.secret),
                }
            } else {
                Credential::basic(a.username, a.secret)
            })
        } else {
            // "credentials not found" is an ordinary answer: go on anonymously.
            None
        };
        cache.insert(key.to_string(), answer.clone());
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn store(json: &str) -> (tempfile::TempDir, CredentialStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(json.as_bytes())
            .unwrap();
        let s = CredentialStore::load(Some(&path)).unwrap();
        (dir, s)
    }

    #[test]
    fn keys_are_normalised() {
        assert_eq!(config_key("https://index.docker.io/v1/"), "index.docker.io");
        assert_eq!(config_key("docker.io"), "index.docker.io");
        assert_eq!(config_key("http://LocalHost:5000"), "localhost:5000");
        assert_eq!(config_key("ghcr.io"), "ghcr.io");
    }

    #[tokio::test]
    async fn auths_entries_decode() {
        // alice:s3cret-pass
        let (_d, s) = store(
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"YWxpY2U6czNjcmV0LXBhc3M="},"r.example":{"username":"bob","password":"pw-of-bob"}}}"#,
        );
        assert_eq!(
            s.lookup("docker.io").await.unwrap(),
            Some(Credential::basic("alice", "s3cret-pass"))
        );
        assert_eq!(
            s.lookup("r.example").await.unwrap(),
            Some(Credential::basic("bob", "pw-of-bob"))
        );
        assert_eq!(s.lookup("other.example").await.unwrap(), None);
    }

    #[tokio::test]
    async fn explicit_wins() {
        let (_d, s) = store(r#"{"auths":{"r.example":{"auth":"YWxpY2U6czNjcmV0LXBhc3M="}}}"#);
        s.set("r.example", Credential::basic("carol", "carol-pass"));
        assert_eq!(
            s.lookup("r.example").await.unwrap(),
            Some(Credential::basic("carol", "carol-pass"))
        );
    }

    #[tokio::test]
    async fn bad_auth_names_the_entry() {
        let (_d, s) = store(r#"{"auths":{"r.example":{"auth":"not base64!"}}}"#);
        let e = s.lookup("r.example").await.unwrap_err();
        assert!(e.message.contains("auths[\"r.example\"].auth"), "{e}");
    }

    #[tokio::test]
    async fn malformed_config_is_an_input_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, "{ nope").unwrap();
        assert_eq!(
            CredentialStore::load(Some(&path)).unwrap_err().kind,
            crate::error::Kind::Input
        );
    }

    #[tokio::test]
    async fn credential_helpers_are_run() {
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-testhelper");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread server\nif [ \"$server\" = r.example ]; then echo '{\"ServerURL\":\"r.example\",\"Username\":\"helper-user\",\"Secret\":\"helper-secret\"}'; else echo 'credentials not found in native keychain'; exit 1; fi\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"credHelpers":{"r.example":"testhelper"},"credsStore":"testhelper"}"#,
        )
        .unwrap();
        let s = CredentialStore::load(Some(&path)).unwrap();
        // The helper is found through PATH, as docker does it.
        #[allow(clippy::disallowed_methods)] // a test that extends PATH for its own child
        let old = std::env::var("PATH").unwrap_or_default();
        // SAFETY: the test sets PATH for a child process it starts itself; no other thread reads it meanwhile in this test binary's own test.
        unsafe { std::env::set_var("PATH", format!("{}:{old}", dir.path().display())) };
        assert_eq!(
            s.lookup("r.example").await.unwrap(),
            Some(Credential::basic("helper-user", "helper-secret"))
        );
        assert_eq!(s.lookup("nothing.example").await.unwrap(), None);
        assert_eq!(crate::secret::scrub("x helper-secret y"), "x *** y");
    }
}
