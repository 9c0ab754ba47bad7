//! The registry state: repositories, manifests, tags, content-addressed blobs
//! and upload sessions. Plain data behind one `Arc<Mutex<Store>>`, so vendor
//! fakes can read and change it from their own routes and hooks, and tests can
//! assert on it.
//!
//! Validation that the wire protocol requires (manifest parsing, blob and
//! child existence, digest checks) lives here too, so that seeding through
//! [`Store::put_manifest`] is held to the same rules as a client's PUT.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::Value;
use sha2::{Digest as _, Sha256, Sha512};

use super::error::OciError;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The store shared by the server, hooks, vendor routes and tests.
pub type SharedStore = Arc<Mutex<Store>>;

/// All registry state.
#[derive(Default)]
pub struct Store {
    /// Repository name (may contain `/`) → repository.
    pub repos: BTreeMap<String, Repository>,
    /// Content-addressed blob bytes, shared by every repository. A repository
    /// can only see a blob listed in its own [`Repository::blobs`]; that
    /// membership is what makes a cross-repository mount meaningful.
    pub blobs: HashMap<String, Arc<Vec<u8>>>,
    /// Upload sessions by id.
    pub uploads: HashMap<String, Upload>,
    /// Vendor fakes' own records (e.g. ghcr package versions, Harbor
    /// artifacts), one value per type; see [`Store::ext_mut`].
    ext: HashMap<TypeId, Box<dyn Any + Send>>,
}

/// One repository.
#[derive(Clone, Debug, Default)]
pub struct Repository {
    /// digest → manifest.
    pub manifests: BTreeMap<String, StoredManifest>,
    /// tag → digest.
    pub tags: BTreeMap<String, String>,
    /// Digests of the blobs this repository may serve.
    pub blobs: BTreeSet<String>,
}

impl Repository {
    /// Tags pointing at `digest`, sorted.
    pub fn tags_of(&self, digest: &str) -> Vec<String> {
        self.tags
            .iter()
            .filter(|(_, d)| d.as_str() == digest)
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// Digests of the indexes in this repository that list `digest`.
    pub fn parents_of(&self, digest: &str) -> Vec<String> {
        self.manifests
            .iter()
            .filter(|(_, m)| m.children.iter().any(|c| c == digest))
            .map(|(d, _)| d.clone())
            .collect()
    }

    /// Digests of manifests whose `subject` is `digest` (the referrers).
    pub fn referrers_of(&self, digest: &str) -> Vec<String> {
        self.manifests
            .iter()
            .filter(|(_, m)| m.subject.as_deref() == Some(digest))
            .map(|(d, _)| d.clone())
            .collect()
    }

    /// `tag` or `digest` → digest, if known here.
    pub fn resolve(&self, reference: &str) -> Option<String> {
        if is_digest(reference) {
            self.manifests
                .contains_key(reference)
                .then(|| reference.to_string())
        } else {
            self.tags.get(reference).cloned()
        }
    }
}

/// A manifest exactly as pushed, plus what the server derived from it.
#[derive(Clone, Debug)]
pub struct StoredManifest {
    /// The exact bytes; the digest is their sha256.
    pub bytes: Vec<u8>,
    /// The `mediaType` (equal to the `Content-Type` of the PUT).
    pub media_type: String,
    /// When it was first pushed; tests may move it (e.g. to age an image).
    pub pushed: SystemTime,
    /// `subject.digest`, if any (image spec v1.1).
    pub subject: Option<String>,
    /// For indexes / manifest lists: the child manifest digests, in order.
    pub children: Vec<String>,
    /// For image manifests: `config.digest`.
    pub config_digest: Option<String>,
    /// For image manifests: `config.mediaType`.
    pub config_media_type: Option<String>,
    /// The manifest's own `artifactType`.
    pub artifact_type: Option<String>,
    /// The manifest's `annotations`.
    pub annotations: BTreeMap<String, String>,
}

impl StoredManifest {
    /// The artifact type a referrers list reports: the manifest's own
    /// `artifactType`, else its `config.mediaType` (distribution-spec v1.1
    /// "Listing Referrers"; docs/registries.md#referrers).
    pub fn effective_artifact_type(&self) -> Option<String> {
        self.artifact_type
            .clone()
            .or_else(|| self.config_media_type.clone())
    }

    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_MANIFEST_LIST
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
}

/// An upload session (distribution-spec v1.1 "Pushing blobs").
#[derive(Clone, Debug)]
pub struct Upload {
    pub repo: String,
    /// Bytes received so far.
    pub data: Vec<u8>,
    /// The opaque `_state` value the latest `Location` carried. A request with
    /// another value resumes at a stale offset and is refused, as
    /// distribution does with its HMAC-signed `_state`.
    pub state: String,
}

impl Store {
    /// The repository, if it exists.
    pub fn repo(&self, name: &str) -> Option<&Repository> {
        self.repos.get(name)
    }

    /// The repository, created empty when missing.
    pub fn repo_mut(&mut self, name: &str) -> &mut Repository {
        self.repos.entry(name.to_string()).or_default()
    }

    /// Vendor records of type `T` (created with `T::default()` on first use).
    pub fn ext_mut<T: Any + Send + Default>(&mut self) -> &mut T {
        self.ext
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()))
            .downcast_mut::<T>()
            .expect("ext entry has its key's type")
    }

    /// Vendor records of type `T`, if any were created.
    pub fn ext<T: Any + Send>(&self) -> Option<&T> {
        self.ext
            .get(&TypeId::of::<T>())
            .and_then(|b| b.downcast_ref::<T>())
    }

    /// Stores `data` as a blob of `repo` (as a finished upload would);
    /// returns its sha256 digest.
    pub fn insert_blob(&mut self, repo: &str, data: &[u8]) -> String {
        let digest = sha256_digest(data);
        self.blobs
            .entry(digest.clone())
            .or_insert_with(|| Arc::new(data.to_vec()));
        self.repo_mut(repo).blobs.insert(digest.clone());
        digest
    }

    /// The bytes of blob `digest` if `repo` may serve it.
    pub fn blob(&self, repo: &str, digest: &str) -> Option<Arc<Vec<u8>>> {
        let r = self.repo(repo)?;
        if !r.blobs.contains(digest) {
            return None;
        }
        self.blobs.get(digest).cloned()
    }

    /// Validates and stores a manifest under `reference` (a tag or its own
    /// digest), as `PUT /v2/<repo>/manifests/<reference>` does; returns the
    /// digest. `content_type` is the request's `Content-Type` (parameters
    /// ignored). Hooks are not run; the server runs them.
    pub fn put_manifest(
        &mut self,
        repo: &str,
        reference: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> Result<String, OciError> {
        let digest = sha256_digest(bytes);
        let tag = if is_digest(reference) {
            // distribution-spec v1.1 "Pushing Manifests": a PUT by digest must
            // name the digest of the body.
            if reference != digest {
                return Err(OciError::digest_invalid(format!(
                    "manifest digest {digest} does not match the reference {reference}"
                )));
            }
            None
        } else {
            if !is_tag(reference) {
                return Err(OciError::new(
                    400,
                    "TAG_INVALID",
                    "manifest tag did not match URI",
                    Value::String(reference.into()),
                ));
            }
            Some(reference)
        };
        let parsed = parse_manifest(bytes, content_type)?;
        // Everything a manifest references must already be in this
        // repository (distribution-spec v1.1 "Pushing Manifests";
        // docs/registries.md#blobs-and-uploads: children before the index, blobs before
        // manifests).
        let r = self.repo(repo);
        let has_blob =
            |d: &str| r.is_some_and(|r| r.blobs.contains(d)) && self.blobs.contains_key(d);
        for d in parsed
            .config_digest
            .iter()
            .chain(parsed.required_layers.iter())
        {
            if !has_blob(d) {
                return Err(OciError::new(
                    400,
                    "MANIFEST_BLOB_UNKNOWN",
                    "blob unknown to registry",
                    Value::String(d.clone()),
                ));
            }
        }
        for d in &parsed.children {
            if !r.is_some_and(|r| r.manifests.contains_key(d)) {
                // distribution 2.8 verifies each child with Exists and answers
                // ErrManifestBlobUnknown for a missing one.
                return Err(OciError::new(
                    400,
                    "MANIFEST_BLOB_UNKNOWN",
                    "manifest blob unknown to registry",
                    Value::String(d.clone()),
                ));
            }
        }
        let r = self.repo_mut(repo);
        let pushed = r
            .manifests
            .get(&digest)
            .map(|m| m.pushed)
            .unwrap_or_else(SystemTime::now);
        r.manifests.insert(
            digest.clone(),
            StoredManifest {
                bytes: bytes.to_vec(),
                media_type: parsed.media_type,
                pushed,
                subject: parsed.subject,
                children: parsed.children,
                config_digest: parsed.config_digest,
                config_media_type: parsed.config_media_type,
                artifact_type: parsed.artifact_type,
                annotations: parsed.annotations,
            },
        );
        if let Some(tag) = tag {
            r.tags.insert(tag.to_string(), digest.clone());
        }
        Ok(digest)
    }

    /// Removes manifest `digest` and every tag on it; returns the removed
    /// tags, or None if it was not there. No policy, no hooks.
    pub fn remove_manifest(&mut self, repo: &str, digest: &str) -> Option<Vec<String>> {
        let r = self.repos.get_mut(repo)?;
        r.manifests.remove(digest)?;
        let tags = r.tags_of(digest);
        for t in &tags {
            r.tags.remove(t);
        }
        Some(tags)
    }

    /// Seeds an OCI image (config with `created` and linux/amd64, one layer
    /// per entry) without HTTP, under `tag` or untagged; returns the
    /// manifest digest. Same validation as a PUT; hooks do not run.
    pub fn seed_image(
        &mut self,
        repo: &str,
        tag: Option<&str>,
        layers: &[&[u8]],
        created: &str,
    ) -> String {
        self.seed_image_for(repo, tag, layers, created, "linux", "amd64")
    }

    /// [`Store::seed_image`] for another platform.
    pub fn seed_image_for(
        &mut self,
        repo: &str,
        tag: Option<&str>,
        layers: &[&[u8]],
        created: &str,
        os: &str,
        arch: &str,
    ) -> String {
        let layer_descs: Vec<Value> = layers
            .iter()
            .map(|l| {
                serde_json::json!({
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": self.insert_blob(repo, l),
                    "size": l.len(),
                })
            })
            .collect();
        let diff_ids: Vec<&Value> = layer_descs.iter().map(|d| &d["digest"]).collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "created": created,
            "architecture": arch,
            "os": os,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .expect("config JSON");
        let config_digest = self.insert_blob(repo, &config);
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config.len(),
            },
            "layers": layer_descs,
        }))
        .expect("manifest JSON");
        let digest = sha256_digest(&manifest);
        self.put_manifest(repo, tag.unwrap_or(&digest), OCI_MANIFEST, &manifest)
            .expect("seeded manifest is valid")
    }

    /// Seeds an OCI index over manifests already in `repo` (platform taken
    /// from each child's config), under `tag` or untagged; returns its
    /// digest.
    pub fn seed_index(&mut self, repo: &str, tag: Option<&str>, children: &[String]) -> String {
        let descs: Vec<Value> = children
            .iter()
            .map(|d| {
                let m = self
                    .repo(repo)
                    .and_then(|r| r.manifests.get(d))
                    .unwrap_or_else(|| panic!("seed_index: no manifest {repo}@{d}"));
                let config = m
                    .config_digest
                    .as_ref()
                    .and_then(|c| self.blobs.get(c))
                    .and_then(|b| serde_json::from_slice::<Value>(b).ok())
                    .unwrap_or(Value::Null);
                let mut desc = serde_json::json!({
                    "mediaType": m.media_type,
                    "digest": d,
                    "size": m.bytes.len(),
                });
                if let (Some(os), Some(arch)) =
                    (config["os"].as_str(), config["architecture"].as_str())
                {
                    desc["platform"] = serde_json::json!({"os": os, "architecture": arch});
                }
                desc
            })
            .collect();
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": descs,
        }))
        .expect("index JSON");
        let digest = sha256_digest(&index);
        self.put_manifest(repo, tag.unwrap_or(&digest), OCI_INDEX, &index)
            .expect("seeded index is valid")
    }

    /// Every tag of `repo`, sorted; empty for an unknown repository.
    pub fn tags(&self, repo: &str) -> Vec<String> {
        self.repo(repo)
            .map(|r| r.tags.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// What the server needs from a manifest body.
#[derive(Debug)]
pub struct ParsedManifest {
    pub media_type: String,
    pub subject: Option<String>,
    pub children: Vec<String>,
    pub config_digest: Option<String>,
    pub config_media_type: Option<String>,
    pub layers: Vec<String>,
    /// Layers that must exist (those without `urls`, i.e. not foreign).
    pub required_layers: Vec<String>,
    pub artifact_type: Option<String>,
    pub annotations: BTreeMap<String, String>,
}

fn invalid(message: impl Into<String>) -> OciError {
    OciError::new(
        400,
        "MANIFEST_INVALID",
        "manifest invalid",
        Value::String(message.into()),
    )
}

/// Parses a manifest as the registry must before storing it
/// (distribution-spec v1.1 "Pushing Manifests", image-spec v1.1): JSON,
/// `schemaVersion` 2, a supported media type equal to `Content-Type`, and
/// well-formed descriptors.
pub fn parse_manifest(bytes: &[u8], content_type: &str) -> Result<ParsedManifest, OciError> {
    let content_type = content_type.split(';').next().unwrap_or("").trim();
    let v: Value = serde_json::from_slice(bytes).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let obj = v.as_object().ok_or_else(|| invalid("not a JSON object"))?;
    if obj.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
        return Err(invalid("schemaVersion must be 2"));
    }
    let body_type = obj.get("mediaType").and_then(Value::as_str);
    // Content-Type must equal the manifest's mediaType
    // (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-manifests).
    // An OCI manifest may omit mediaType (image-spec: SHOULD); then the
    // Content-Type decides.
    let media_type = match body_type {
        Some(t) if t != content_type => {
            return Err(invalid(format!(
                "Content-Type {content_type:?} differs from mediaType {t:?}"
            )));
        }
        Some(t) => t.to_string(),
        None => content_type.to_string(),
    };
    let is_index = match media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => false,
        OCI_INDEX | DOCKER_MANIFEST_LIST => true,
        other => {
            return Err(invalid(format!(
                "unsupported manifest media type {other:?}"
            )));
        }
    };
    let descriptor = |d: &Value, what: &str| -> Result<(String, Option<String>), OciError> {
        let digest = d
            .get("digest")
            .and_then(Value::as_str)
            .filter(|s| is_digest(s))
            .ok_or_else(|| invalid(format!("{what}: missing or malformed digest")))?;
        if d.get("size").and_then(Value::as_i64).is_none_or(|s| s < 0) {
            return Err(invalid(format!("{what}: missing or negative size")));
        }
        let mt = d.get("mediaType").and_then(Value::as_str).map(String::from);
        if mt.is_none() {
            return Err(invalid(format!("{what}: missing mediaType")));
        }
        Ok((digest.to_string(), mt))
    };
    let subject = match obj.get("subject") {
        None | Some(Value::Null) => None,
        Some(s) => Some(descriptor(s, "subject")?.0),
    };
    let annotations = obj
        .get("annotations")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let artifact_type = obj
        .get("artifactType")
        .and_then(Value::as_str)
        .map(String::from);
    let mut parsed = ParsedManifest {
        media_type,
        subject,
        children: Vec::new(),
        config_digest: None,
        config_media_type: None,
        layers: Vec::new(),
        required_layers: Vec::new(),
        artifact_type,
        annotations,
    };
    if is_index {
        let manifests = obj
            .get("manifests")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("index without manifests[]"))?;
        for (i, m) in manifests.iter().enumerate() {
            parsed
                .children
                .push(descriptor(m, &format!("manifests[{i}]"))?.0);
        }
    } else {
        let config = obj
            .get("config")
            .ok_or_else(|| invalid("image manifest without config"))?;
        let (cd, cmt) = descriptor(config, "config")?;
        parsed.config_digest = Some(cd);
        parsed.config_media_type = cmt;
        let layers = match obj.get("layers") {
            Some(Value::Array(a)) => a.clone(),
            None | Some(Value::Null) if parsed.media_type == OCI_MANIFEST => Vec::new(),
            _ => return Err(invalid("image manifest without layers[]")),
        };
        for (i, l) in layers.iter().enumerate() {
            let (d, _) = descriptor(l, &format!("layers[{i}]"))?;
            let foreign = l
                .get("urls")
                .and_then(Value::as_array)
                .is_some_and(|u| !u.is_empty());
            if !foreign {
                parsed.required_layers.push(d.clone());
            }
            parsed.layers.push(d);
        }
    }
    Ok(parsed)
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The digest of `data` in the algorithm of `like` (sha256 or sha512), or
/// None for an unsupported algorithm.
pub fn digest_as(like: &str, data: &[u8]) -> Option<String> {
    match like.split_once(':')?.0 {
        "sha256" => Some(sha256_digest(data)),
        "sha512" => Some(format!("sha512:{}", hex::encode(Sha512::digest(data)))),
        _ => None,
    }
}

/// A well-formed digest of a registered algorithm: `sha256:` + 64 lower-case
/// hex or `sha512:` + 128 (image-spec v1.1 "Digests").
pub fn is_digest(s: &str) -> bool {
    let Some((alg, hex)) = s.split_once(':') else {
        return false;
    };
    let len = match alg {
        "sha256" => 64,
        "sha512" => 128,
        _ => return false,
    };
    hex.len() == len
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Looks like a digest (`alg:enc`) even if malformed, so `sha256:zz` is
/// answered 400 `DIGEST_INVALID` rather than treated as a tag
/// (`sha256:zz` → 400 [V], docs/registries.md#real-servers-in-the-tests).
pub fn looks_like_digest(s: &str) -> bool {
    s.contains(':')
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}` (docs/registries.md#names-tags-and-digests).
pub fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Lower-case components `[a-z0-9]+` joined by `.`, `_`, `__` or runs of
/// `-`, separated by `/` (docs/registries.md#names-tags-and-digests; distribution-spec v1.1
/// "Pulling manifests" name grammar).
pub fn is_repo_name(s: &str) -> bool {
    if s.is_empty() || s.len() > 255 {
        return false;
    }
    s.split('/').all(|component| {
        let b = component.as_bytes();
        if b.is_empty()
            || !b[0].is_ascii_lowercase() && !b[0].is_ascii_digit()
            || !(b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
        {
            return false;
        }
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                i += 1;
                continue;
            }
            // A separator: ".", "_", "__" or a run of "-"; then alphanumerics.
            let start = i;
            match c {
                b'.' => i += 1,
                b'_' => {
                    i += 1;
                    if i < b.len() && b[i] == b'_' {
                        i += 1;
                    }
                }
                b'-' => {
                    while i < b.len() && b[i] == b'-' {
                        i += 1;
                    }
                }
                _ => return false,
            }
            if i == start || i >= b.len() || !(b[i].is_ascii_lowercase() || b[i].is_ascii_digit()) {
                return false;
            }
        }
        true
    })
}
