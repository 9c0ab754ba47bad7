//! Manifest media types and the few fields of manifests that dockhand reads.
//!
//! Manifests are kept as the exact bytes the registry served: digests are computed over those
//! bytes and a manifest is never re-serialised, so copies keep their digests.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Every manifest type we handle; sent as `Accept` so that no registry down-converts or hides one.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// The default bound on a manifest read from a registry: 4 MiB. The OCI Distribution spec
/// (v1.1, "Pushing Manifests") says clients and registries "SHOULD expect to be able to support
/// manifest pushes of at least 4 megabytes", and registries answer 413 above their own limit, so
/// a manifest beyond that is rare enough to need `--max-manifest-size` on purpose.
pub const DEFAULT_MAX_MANIFEST_SIZE: u64 = 4 << 20;

/// The empty JSON blob `{}` (OCI 1.1 empty descriptor).
pub const EMPTY_BLOB: &[u8] = b"{}";
pub const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

pub fn is_manifest_type(media_type: &str) -> bool {
    is_index(media_type) || media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
}

/// The parts of an image manifest or index that matter for copying and cleanup.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestFields {
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    #[serde(default)]
    pub subject: Option<Descriptor>,
    #[serde(default)]
    pub artifact_type: Option<String>,
}

/// A manifest as stored: exact bytes, media type, digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub media_type: String,
    pub bytes: Bytes,
    pub digest: String,
}

impl Manifest {
    /// Wraps bytes; the media type comes from the server's `Content-Type` or the JSON itself.
    pub fn new(bytes: Bytes, media_type: Option<&str>) -> Manifest {
        let digest = sha256_digest(&bytes);
        let from_json = || {
            serde_json::from_slice::<ManifestFields>(&bytes)
                .ok()
                .and_then(|f| f.media_type)
        };
        let media_type = media_type
            .map(|m| m.split(';').next().unwrap_or(m).trim().to_string())
            .filter(|m| is_manifest_type(m))
            .or_else(from_json)
            .unwrap_or_else(|| OCI_MANIFEST.to_string());
        Manifest {
            media_type,
            bytes,
            digest,
        }
    }

    pub fn fields(&self) -> serde_json::Result<ManifestFields> {
        serde_json::from_slice(&self.bytes)
    }

    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.bytes.len() as u64,
            artifact_type: None,
            platform: None,
            annotations: None,
        }
    }

    /// Blobs this manifest needs (config first, then layers); empty for an index.
    pub fn blobs(&self) -> serde_json::Result<Vec<Descriptor>> {
        let f = self.fields()?;
        Ok(f.config.into_iter().chain(f.layers).collect())
    }
}

/// An OCI 1.1 artifact manifest with the empty blob as config and as its one layer (some
/// registries refuse layer-less manifests; the empty blob costs nothing), an optional `subject`,
/// and annotations. Used for origin records and throw-away manifests.
pub fn artifact_manifest(
    artifact_type: &str,
    subject: Option<&Descriptor>,
    annotations: &std::collections::BTreeMap<String, String>,
) -> Manifest {
    let empty = serde_json::json!({"mediaType": OCI_EMPTY, "digest": EMPTY_DIGEST, "size": 2});
    let mut body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": empty,
        "layers": [empty],
        "annotations": annotations,
    });
    if let Some(s) = subject {
        body["subject"] =
            serde_json::json!({"mediaType": s.media_type, "digest": s.digest, "size": s.size});
    }
    Manifest::new(
        Bytes::from(serde_json::to_vec(&body).expect("JSON of strings")),
        Some(OCI_MANIFEST),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_blob_digest_matches_the_spec() {
        assert_eq!(sha256_digest(EMPTY_BLOB), EMPTY_DIGEST);
    }

    #[test]
    fn media_type_from_header_or_body() {
        let body = Bytes::from_static(br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#);
        assert_eq!(
            Manifest::new(body.clone(), Some("application/octet-stream")).media_type,
            OCI_INDEX
        );
        assert_eq!(
            Manifest::new(
                body,
                Some("application/vnd.docker.distribution.manifest.v2+json; charset=utf-8")
            )
            .media_type,
            DOCKER_MANIFEST
        );
    }
}
