//! A Google Container Registry / Artifact Registry fake on top of the in-memory OCI fake
//! (docs/registries.md#google-gcr-and-artifact-registry for the API, #test-fakes for what it
//! reproduces):
//! - the extended `tags/list`: `manifest{<digest>: {imageSizeBytes, layerId, mediaType, tag[],
//!   timeCreatedMs, timeUploadedMs}}` and `child[]`; `timeUploadedMs` is a string on GCR and a
//!   **number** on AR, `imageSizeBytes` a string, untagged manifests carry `tag: []`;
//! - tag DELETE only untags (202); a digest DELETE is refused with 400
//!   `GOOGLE_MANIFEST_DANGLING_TAG` while tagged, and with `GOOGLE_MANIFEST_DANGLING_PARENT_IMAGE`
//!   while an index lists it;
//! - tokens at `/v2/token` for Basic `oauth2accesstoken:<access token>` or
//!   `_json_key:<service-account JSON>` (the key is read as JSON, by its `client_email`);
//! - AR mode: the `/v2/` challenge has no `service`; images live at
//!   `<project>/<repository>/<image>` and the repository must exist (404 `NAME_UNKNOWN`
//!   otherwise); listing `<project>/<repository>` itself shows its images as `child`.

use std::collections::{BTreeSet, HashMap};
use std::ops::Deref;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::fake_oci::{
    Auth, BearerAuth, Credentials, DigestDelete, FakeOci, Grants, OciError, Profile, Refusal,
    Store, TagDelete, TagPaging, V2Request,
};

pub const DANGLING_TAG: &str = "GOOGLE_MANIFEST_DANGLING_TAG";
pub const DANGLING_PARENT: &str = "GOOGLE_MANIFEST_DANGLING_PARENT_IMAGE";

/// Who may do what: access tokens and service-account e-mails → grants.
#[derive(Default, Clone)]
pub struct Identities {
    pub tokens: HashMap<String, Grants>,
    pub keys: HashMap<String, Grants>,
}

/// Vendor records in the store's extension slot.
#[derive(Default)]
pub struct GcrState {
    /// AR repositories (`project/repository`) that exist.
    pub ar_repositories: BTreeSet<String>,
}

pub struct FakeGcr {
    oci: FakeOci,
}

impl Deref for FakeGcr {
    type Target = FakeOci;
    fn deref(&self) -> &FakeOci {
        &self.oci
    }
}

/// A service-account key file's content for `email`.
pub fn json_key(email: &str) -> String {
    json!({
        "type": "service_account",
        "project_id": "fake-project",
        "private_key_id": "0123456789abcdef",
        "private_key": "-----BEGIN PRIVATE KEY-----\nZmFrZS1rZXktbWF0ZXJpYWwtZm9yLXRlc3Rz\n-----END PRIVATE KEY-----\n",
        "client_email": email,
        "token_uri": "https://oauth2.googleapis.com/token",
    })
    .to_string()
}

fn check(ids: &Identities, c: &Credentials) -> Option<Grants> {
    match c {
        Credentials::Basic { user, password } if user == "oauth2accesstoken" => {
            ids.tokens.get(password).cloned()
        }
        Credentials::Basic { user, password } if user == "_json_key" => {
            let v: Value = serde_json::from_str(password).ok()?;
            ids.keys.get(v.get("client_email")?.as_str()?).cloned()
        }
        _ => None,
    }
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

/// The config's `created` in ms ("0" when there is none), as GCR's `timeCreatedMs`.
fn created_ms(store: &Store, repo: &str, config: Option<&String>) -> u64 {
    config
        .and_then(|d| store.blob(repo, d))
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.get("created")?.as_str().map(str::to_string))
        .and_then(|c| humantime::parse_rfc3339_weak(&c).ok())
        .map(millis)
        .unwrap_or(0)
}

/// The repository of a `/v2/<name>/<route>` path.
fn repo_of(rest: &str) -> Option<&str> {
    ["/tags/list", "/manifests/", "/blobs/", "/referrers/"]
        .iter()
        .find_map(|m| rest.find(m).map(|i| &rest[..i]))
}

impl FakeGcr {
    /// gcr.io-like (`artifact_registry` false) or Artifact Registry (true), with `ids`.
    pub fn start(artifact_registry: bool, ids: Identities) -> FakeGcr {
        let mut profile = Profile::distribution();
        profile.name = if artifact_registry {
            "artifact-registry"
        } else {
            "gcr"
        }
        .into();
        // docs/registries.md#google-gcr-and-artifact-registry: tag DELETE untags; digest DELETE
        // refused while tagged or in an index.
        profile.tag_delete = TagDelete::Untag;
        profile.digest_delete = DigestDelete::RefuseWhileTagged(Refusal::new(
            400,
            DANGLING_TAG,
            "Manifest is still referenced by tag",
        ));
        profile.refuse_delete_of_child = Some(Refusal::new(
            400,
            DANGLING_PARENT,
            "Manifest is still referenced by a manifest list",
        ));
        profile.tag_paging = TagPaging::All;
        // GCR has no referrers API (docs/registries.md#google-gcr-and-artifact-registry).
        profile.referrers = false;
        let ids = Arc::new(ids);
        profile.auth = Auth::Bearer(BearerAuth {
            realm: "/v2/token".into(),
            service: None,
            check: Arc::new(move |c| check(&ids, c)),
            expires_in: Some(3600),
            ..BearerAuth::default()
        });
        let ar = artifact_registry;
        profile.hooks.tags_list = Some(Arc::new(
            move |store: &Store, repo: &str, body: &mut Value| {
                extend(store, repo, body, ar);
            },
        ));
        if artifact_registry {
            profile.hooks.v2_override = Some(Arc::new(|req: &V2Request, h| {
                let repo = repo_of(&req.rest)?;
                let parts: Vec<&str> = repo.split('/').collect();
                let ar_repo = parts.iter().take(2).copied().collect::<Vec<_>>().join("/");
                let exists = h.with_store(|s| {
                    s.ext::<GcrState>()
                        .is_some_and(|st| st.ar_repositories.contains(&ar_repo))
                });
                if !exists {
                    return Some(
                        OciError::new(
                            404,
                            "NAME_UNKNOWN",
                            &format!("Repository \"{ar_repo}\" not found"),
                            Value::Null,
                        )
                        .into_response(),
                    );
                }
                // The AR repository itself: no tags, its images as `child`.
                if parts.len() == 2 && req.rest.ends_with("/tags/list") {
                    let mut body = json!({"name": repo, "tags": [], "manifest": {}, "child": []});
                    h.with_store(|s| extend(s, repo, &mut body, true));
                    return Some(axum::Json(body).into_response());
                }
                None
            }));
        }
        if !artifact_registry {
            // gcr.io answers a name that holds no image but has some below it (the project) with
            // its `child` list, which is how registries are walked (go-containerregistry's
            // `google.Walk`).
            profile.hooks.v2_override = Some(Arc::new(|req: &V2Request, h| {
                let repo = req.rest.strip_suffix("/tags/list")?;
                h.with_store(|s| {
                    if s.repo(repo).is_some() {
                        return None;
                    }
                    let mut body = json!({"name": repo, "tags": []});
                    extend(s, repo, &mut body, false);
                    let empty = body["child"].as_array().is_none_or(|c| c.is_empty());
                    (!empty).then(|| axum::Json(body).into_response())
                })
            }));
        }
        let oci = FakeOci::start(profile);
        if !artifact_registry {
            let host = oci.host();
            // gcr.io names its service; AR leaves it out on /v2/
            // (docs/registries.md#google-gcr-and-artifact-registry).
            oci.update_profile(|p| {
                if let Auth::Bearer(b) = &mut p.auth {
                    b.service = Some(host.clone());
                }
            });
        }
        FakeGcr { oci }
    }

    /// AR: creates the repository `project/repository`.
    pub fn create_repository(&self, name: &str) {
        self.with_store(|s| {
            s.ext_mut::<GcrState>().ar_repositories.insert(name.into());
        });
    }
}

/// Adds GCR's `manifest` map and `child` list to a tags/list body.
fn extend(store: &Store, repo: &str, body: &mut Value, ar: bool) {
    let prefix = format!("{repo}/");
    let child: BTreeSet<String> = store
        .repos
        .keys()
        .filter_map(|r| r.strip_prefix(&prefix))
        .filter_map(|r| r.split('/').next())
        .map(str::to_string)
        .collect();
    let mut manifest = serde_json::Map::new();
    if let Some(r) = store.repo(repo) {
        for (digest, m) in &r.manifests {
            let uploaded = millis(m.pushed);
            let size: usize = m.bytes.len();
            manifest.insert(
                digest.clone(),
                json!({
                    "imageSizeBytes": size.to_string(),
                    "layerId": "",
                    "mediaType": m.media_type,
                    "tag": r.tags_of(digest),
                    "timeCreatedMs": created_ms(store, repo, m.config_digest.as_ref()).to_string(),
                    // A string on GCR, a number on AR
                    // (docs/registries.md#google-gcr-and-artifact-registry).
                    "timeUploadedMs": if ar { json!(uploaded) } else { json!(uploaded.to_string()) },
                }),
            );
        }
    }
    body["manifest"] = Value::Object(manifest);
    body["child"] = json!(child);
}
