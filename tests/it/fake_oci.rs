//! Conformance-style checks of the in-memory OCI registry fake
//! (`tests/it/support/fake_oci`), ported from the distribution-spec
//! conformance areas (pull, push, discovery, management;
//! docs/registries.md#test-fakes), plus dockhand's own client against it.

use crate::support;
use crate::support::run::{dockhand, ok};

use std::time::Duration;

use axum::response::IntoResponse;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::client::{
    OCI_CONFIG, OCI_INDEX as OCI_INDEX_T, OCI_MANIFEST as OCI_MANIFEST_T, http_client,
};
use support::fake_oci::*;
use support::{Creds, MANIFEST_ACCEPT, RegistryClient, parse_challenge};

const CREATED: &str = "2024-01-02T03:04:05Z";

/// Raw HTTP against the fake, no auth handling.
struct Raw {
    base: String,
    http: reqwest::Client,
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The first error code of an `{"errors":[…]}` body.
    fn code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {}", String::from_utf8_lossy(&self.body)))
            .to_string()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Raw {
    fn new(fake: &FakeOci) -> Raw {
        Raw {
            base: fake.url(),
            http: http_client(),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        };
        let mut rb = self.http.request(method, &url);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.body(b);
        }
        let resp = rb.send().await.unwrap();
        Reply {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.bytes().await.unwrap().to_vec(),
        }
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(Method::GET, path, headers, None).await
    }
}

fn client(fake: &FakeOci) -> RegistryClient {
    RegistryClient::new(&fake.url(), Creds::Anonymous)
}

/// An OCI image manifest over `config` and `layers` (already uploaded).
fn image_manifest(config: &[u8], layers: &[&[u8]]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST_T,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config), "size": config.len()},
        "layers": layers.iter().map(|l| json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": sha256_digest(l),
            "size": l.len(),
        })).collect::<Vec<_>>(),
    }))
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Pull and push with the harness client

#[tokio::test]
async fn harness_client_pushes_images_and_indexes() {
    let fake = FakeOci::start(Profile::distribution());
    let c = client(&fake);
    let img = c
        .push_image("team/app", "v1", &[b"layer one".to_vec()], CREATED)
        .await;
    let idx = c.push_index("team/app", "multi", CREATED).await;
    assert_eq!(fake.tags("team/app"), ["multi", "v1"]);
    let digests = fake.manifest_digests("team/app");
    assert_eq!(
        digests.len(),
        4,
        "image, index and two children: {digests:?}"
    );
    for child in &idx.children {
        assert!(digests.contains(&child.digest));
    }
    let m = c.get_manifest("team/app", "v1").await.unwrap();
    assert_eq!(m.bytes, img.manifest);
    assert_eq!(m.digest, img.digest);
    assert_eq!(m.media_type, OCI_MANIFEST_T);
    assert_eq!(
        c.head_manifest("team/app", "multi").await.unwrap(),
        idx.digest
    );
    let stored = fake.manifest("team/app", "multi").unwrap();
    assert_eq!(
        stored.children,
        idx.children
            .iter()
            .map(|c| c.digest.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        fake.manifest("team/app", &img.digest)
            .unwrap()
            .config_digest,
        Some(img.config_digest.clone())
    );
    assert_eq!(
        c.get_blob("team/app", &img.layer_digests[0]).await.unwrap(),
        b"layer one"
    );
    // The log saw the pushes.
    let puts = fake.requests_matching("PUT", "/manifests/");
    assert_eq!(puts.len(), 4);
    assert!(puts.iter().all(|r| r.status == 201 && !r.has_auth()));
}

#[tokio::test]
async fn manifest_head_and_get_headers_and_no_body_on_head() {
    let fake = FakeOci::start(Profile::distribution());
    let img = client(&fake)
        .push_image("a", "v1", &[b"x".to_vec()], CREATED)
        .await;
    let raw = Raw::new(&fake);
    for reference in ["v1", img.digest.as_str()] {
        let path = format!("/v2/a/manifests/{reference}");
        let get = raw.get(&path, &[("accept", MANIFEST_ACCEPT)]).await;
        assert_eq!(get.status, 200);
        assert_eq!(get.body, img.manifest);
        let head = raw
            .send(Method::HEAD, &path, &[("accept", MANIFEST_ACCEPT)], None)
            .await;
        assert_eq!(head.status, 200);
        assert!(head.body.is_empty(), "HEAD has no body");
        for r in [&get, &head] {
            assert_eq!(r.header("docker-content-digest").unwrap(), img.digest);
            assert_eq!(r.header("content-type").unwrap(), OCI_MANIFEST_T);
            assert_eq!(
                r.header("content-length").unwrap(),
                img.manifest.len().to_string()
            );
            assert_eq!(
                r.header("docker-distribution-api-version").unwrap(),
                "registry/2.0"
            );
        }
    }
    // Unknown tag, unknown digest, malformed digest.
    let r = raw
        .get("/v2/a/manifests/nope", &[("accept", MANIFEST_ACCEPT)])
        .await;
    assert_eq!((r.status, r.code()), (404, "MANIFEST_UNKNOWN".into()));
    let r = raw
        .get(
            &format!("/v2/a/manifests/{}", sha256_digest(b"nothing")),
            &[("accept", MANIFEST_ACCEPT)],
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "MANIFEST_UNKNOWN".into()));
    let r = raw.get("/v2/a/manifests/sha256:zz", &[]).await;
    assert_eq!((r.status, r.code()), (400, "DIGEST_INVALID".into()));
    let head = raw
        .send(Method::HEAD, "/v2/a/manifests/nope", &[], None)
        .await;
    assert_eq!(head.status, 404);
    assert!(head.body.is_empty());
    // If-None-Match with the ETag → 304.
    let r = raw
        .get(
            "/v2/a/manifests/v1",
            &[
                ("accept", MANIFEST_ACCEPT),
                ("if-none-match", &format!("\"{}\"", img.digest)),
            ],
        )
        .await;
    assert_eq!(r.status, 304);
}

#[tokio::test]
async fn accept_negotiation() {
    let fake = FakeOci::start(Profile::distribution());
    let c = client(&fake);
    let oci = c.push_image("a", "oci", &[b"x".to_vec()], CREATED).await;
    let docker = c
        .push_image_as(
            "a",
            Some("docker"),
            &[b"y".to_vec()],
            CREATED,
            "linux",
            "amd64",
            true,
        )
        .await;
    let raw = Raw::new(&fake);
    let docker_only = "application/vnd.docker.distribution.manifest.v2+json";
    // An OCI manifest without OCI types in Accept → 404, by tag and digest
    // (docs/registries.md#manifests-and-accept [V]).
    for (reference, accept) in [
        ("oci", None),
        ("oci", Some(docker_only)),
        ("oci", Some("*/*")),
        (oci.digest.as_str(), Some(docker_only)),
    ] {
        let headers: Vec<(&str, &str)> = accept.iter().map(|a| ("accept", *a)).collect();
        let r = raw
            .get(&format!("/v2/a/manifests/{reference}"), &headers)
            .await;
        assert_eq!(
            (r.status, r.code()),
            (404, "MANIFEST_UNKNOWN".into()),
            "{reference} {accept:?}"
        );
    }
    // Repeated Accept headers count like one comma-separated header.
    let r = raw
        .get(
            "/v2/a/manifests/oci",
            &[("accept", docker_only), ("accept", OCI_MANIFEST_T)],
        )
        .await;
    assert_eq!(r.status, 200);
    // Schema 2 by tag without schema 2 → 400 (no schema 1); by digest → served.
    let r = raw
        .get("/v2/a/manifests/docker", &[("accept", OCI_MANIFEST_T)])
        .await;
    assert_eq!((r.status, r.code()), (400, "MANIFEST_INVALID".into()));
    let r = raw
        .get(
            &format!("/v2/a/manifests/{}", docker.digest),
            &[("accept", OCI_MANIFEST_T)],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type").unwrap(), docker.media_type);
}

// ---------------------------------------------------------------------------------------------
// Blob uploads

#[tokio::test]
async fn monolithic_upload_and_single_post() {
    let fake = FakeOci::start(Profile::distribution());
    let raw = Raw::new(&fake);
    let data = b"monolithic blob".to_vec();
    let digest = sha256_digest(&data);
    let r = raw
        .send(Method::POST, "/v2/x/y/blobs/uploads/", &[], None)
        .await;
    assert_eq!(r.status, 202);
    let loc = r.header("location").unwrap();
    assert!(loc.starts_with("/v2/x/y/blobs/uploads/"), "relative: {loc}");
    assert!(loc.contains("?_state="), "opaque state: {loc}");
    assert_eq!(r.header("range").unwrap(), "0-0");
    assert!(r.header("docker-upload-uuid").is_some());
    // Without _state → refused (the Location must be used as given).
    let bare = loc.split('?').next().unwrap();
    let r = raw
        .send(
            Method::PUT,
            &format!("{bare}?digest={digest}"),
            &[],
            Some(data.clone()),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "BLOB_UPLOAD_INVALID".into()));
    let r = raw
        .send(
            Method::PUT,
            &format!("{loc}&digest={digest}"),
            &[("content-type", "application/octet-stream")],
            Some(data.clone()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("docker-content-digest").unwrap(), digest);
    assert_eq!(
        r.header("location").unwrap(),
        format!("/v2/x/y/blobs/{digest}")
    );
    let r = raw
        .send(Method::HEAD, &format!("/v2/x/y/blobs/{digest}"), &[], None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length").unwrap(), data.len().to_string());
    assert_eq!(r.header("docker-content-digest").unwrap(), digest);
    assert!(r.body.is_empty());
    assert_eq!(
        raw.get(&format!("/v2/x/y/blobs/{digest}"), &[]).await.body,
        data
    );
    // The session is gone.
    let r = raw.send(Method::GET, &loc, &[], None).await;
    assert_eq!((r.status, r.code()), (404, "BLOB_UPLOAD_UNKNOWN".into()));
    // Other repositories do not see it.
    let r = raw.get(&format!("/v2/other/blobs/{digest}"), &[]).await;
    assert_eq!((r.status, r.code()), (404, "BLOB_UNKNOWN".into()));

    // Single POST with ?digest=: 201 here …
    let single = b"single post".to_vec();
    let sd = sha256_digest(&single);
    let r = raw
        .send(
            Method::POST,
            &format!("/v2/x/y/blobs/uploads/?digest={sd}"),
            &[],
            Some(single.clone()),
        )
        .await;
    assert_eq!(r.status, 201);
    assert!(fake.has_blob("x/y", &sd));
    // … and a 202 session on distribution 2.8 [V].
    let old = FakeOci::start(Profile::distribution_2_8());
    let r = Raw::new(&old)
        .send(
            Method::POST,
            &format!("/v2/x/y/blobs/uploads/?digest={sd}"),
            &[],
            Some(single),
        )
        .await;
    assert_eq!(r.status, 202);
    assert!(!old.has_blob("x/y", &sd));
}

#[tokio::test]
async fn chunked_upload_with_out_of_order_chunk() {
    let fake = FakeOci::start(Profile::distribution());
    let raw = Raw::new(&fake);
    let data: Vec<u8> = (0..40u8).collect();
    let digest = sha256_digest(&data);
    let r = raw
        .send(Method::POST, "/v2/c/blobs/uploads/", &[], None)
        .await;
    let loc1 = r.header("location").unwrap();
    let r = raw
        .send(
            Method::PATCH,
            &loc1,
            &[("content-range", "0-15")],
            Some(data[..16].to_vec()),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.header("range").unwrap(), "0-15");
    let loc2 = r.header("location").unwrap();
    assert_ne!(loc1, loc2, "a new Location after each PATCH");
    // Status of the session.
    let r = raw.send(Method::GET, &loc2, &[], None).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("range").unwrap(), "0-15");
    // The stale Location is refused.
    let r = raw
        .send(
            Method::PATCH,
            &loc1,
            &[("content-range", "16-31")],
            Some(data[16..32].to_vec()),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "BLOB_UPLOAD_INVALID".into()));
    // Out of order: a gap → 416 with the current Range.
    let r = raw
        .send(
            Method::PATCH,
            &loc2,
            &[("content-range", "20-35")],
            Some(data[20..36].to_vec()),
        )
        .await;
    assert_eq!(r.status, 416);
    assert_eq!(r.header("range").unwrap(), "0-15");
    // A range that does not match the body length → 416.
    let r = raw
        .send(
            Method::PATCH,
            &loc2,
            &[("content-range", "16-40")],
            Some(data[16..32].to_vec()),
        )
        .await;
    assert_eq!(r.status, 416);
    let r = raw
        .send(
            Method::PATCH,
            &loc2,
            &[("content-range", "16-31")],
            Some(data[16..32].to_vec()),
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.header("range").unwrap(), "0-31");
    let loc3 = r.header("location").unwrap();
    // The last chunk travels with the closing PUT.
    let r = raw
        .send(
            Method::PUT,
            &format!("{loc3}&digest={digest}"),
            &[("content-range", "32-39")],
            Some(data[32..].to_vec()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        fake.with_store(|s| s.blob("c", &digest))
            .unwrap()
            .as_slice(),
        &data[..]
    );

    // Streamed: one PATCH without Content-Range, then an empty PUT.
    let r = raw
        .send(Method::POST, "/v2/c/blobs/uploads/", &[], None)
        .await;
    let loc = r.header("location").unwrap();
    let r = raw.send(Method::PATCH, &loc, &[], Some(data.clone())).await;
    assert_eq!(r.status, 202);
    let loc = r.header("location").unwrap();
    let r = raw
        .send(Method::PUT, &format!("{loc}&digest={digest}"), &[], None)
        .await;
    assert_eq!(r.status, 201);

    // Cancel.
    let r = raw
        .send(Method::POST, "/v2/c/blobs/uploads/", &[], None)
        .await;
    let loc = r.header("location").unwrap();
    assert_eq!(raw.send(Method::DELETE, &loc, &[], None).await.status, 204);
    assert_eq!(raw.send(Method::GET, &loc, &[], None).await.status, 404);
}

#[tokio::test]
async fn digest_mismatch_is_refused() {
    let fake = FakeOci::start(Profile::distribution());
    let raw = Raw::new(&fake);
    let r = raw
        .send(Method::POST, "/v2/d/blobs/uploads/", &[], None)
        .await;
    let loc = r.header("location").unwrap();
    let wrong = sha256_digest(b"something else");
    let r = raw
        .send(
            Method::PUT,
            &format!("{loc}&digest={wrong}"),
            &[],
            Some(b"payload".to_vec()),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "DIGEST_INVALID".into()));
    assert!(!fake.has_blob("d", &wrong));
    // Missing and malformed digests.
    let r = raw
        .send(Method::POST, "/v2/d/blobs/uploads/", &[], None)
        .await;
    let loc = r.header("location").unwrap();
    let r = raw
        .send(Method::PUT, &loc, &[], Some(b"payload".to_vec()))
        .await;
    assert_eq!((r.status, r.code()), (400, "DIGEST_INVALID".into()));
    let r = raw
        .send(
            Method::POST,
            "/v2/d/blobs/uploads/?digest=sha256:abc",
            &[],
            Some(b"p".to_vec()),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "DIGEST_INVALID".into()));
    let r = raw
        .send(
            Method::POST,
            &format!("/v2/d/blobs/uploads/?digest={wrong}"),
            &[],
            Some(b"p".to_vec()),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "DIGEST_INVALID".into()));
}

#[tokio::test]
async fn mount_variants() {
    let fake = FakeOci::start(Profile::distribution());
    let raw = Raw::new(&fake);
    let d = client(&fake).upload_blob("src/repo", b"shared layer").await;
    // Mounted from a repository that has it → 201.
    let r = raw
        .send(
            Method::POST,
            &format!("/v2/dst/blobs/uploads/?mount={d}&from=src/repo"),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("docker-content-digest").unwrap(), d);
    assert_eq!(r.header("location").unwrap(), format!("/v2/dst/blobs/{d}"));
    assert!(fake.has_blob("dst", &d));
    // From a repository without it → 202 session.
    let r = raw
        .send(
            Method::POST,
            &format!("/v2/dst2/blobs/uploads/?mount={d}&from=empty"),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 202);
    assert!(
        r.header("location")
            .unwrap()
            .contains("/v2/dst2/blobs/uploads/")
    );
    assert!(!fake.has_blob("dst2", &d));
    // Without from: a session by default (distribution 2.8) …
    let r = raw
        .send(
            Method::POST,
            &format!("/v2/dst3/blobs/uploads/?mount={d}"),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 202);
    // … a search when configured …
    fake.update_profile(|p| p.mount_without_from = MountWithoutFrom::Search);
    let r = raw
        .send(
            Method::POST,
            &format!("/v2/dst3/blobs/uploads/?mount={d}"),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 201);
    // … or an error (Quay).
    fake.update_profile(|p| {
        p.mount_without_from = MountWithoutFrom::Refuse(Refusal::new(
            400,
            "BLOB_UPLOAD_INVALID",
            "mount requires from",
        ))
    });
    let r = raw
        .send(
            Method::POST,
            &format!("/v2/dst4/blobs/uploads/?mount={d}"),
            &[],
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "BLOB_UPLOAD_INVALID".into()));
    // Mount refused outright (clients retry without mount).
    fake.update_profile(|p| {
        p.mount_refusal = Some(Refusal::new(
            403,
            "DENIED",
            "cross-repository mount refused",
        ))
    });
    let r = raw
        .send(
            Method::POST,
            &format!("/v2/dst6/blobs/uploads/?mount={d}&from=src/repo"),
            &[],
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "DENIED".into()));
    assert_eq!(
        raw.send(Method::POST, "/v2/dst6/blobs/uploads/", &[], None)
            .await
            .status,
        202
    );
    fake.update_profile(|p| p.mount_refusal = None);
    // Mount disabled (ECR without BLOB_MOUNTING) → 202 even with from.
    fake.update_profile(|p| p.mount = false);
    let r = raw
        .send(
            Method::POST,
            &format!("/v2/dst5/blobs/uploads/?mount={d}&from=src/repo"),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 202);
}

// ---------------------------------------------------------------------------------------------
// Manifest PUT validation

#[tokio::test]
async fn manifest_put_validation() {
    let fake = FakeOci::start(Profile::distribution());
    let c = client(&fake);
    let raw = Raw::new(&fake);
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let layer = b"layer";
    let manifest = image_manifest(config, &[layer]);
    let ct = [("content-type", OCI_MANIFEST_T)];
    // Nothing uploaded yet → MANIFEST_BLOB_UNKNOWN.
    let r = raw
        .send(
            Method::PUT,
            "/v2/m/manifests/v1",
            &ct,
            Some(manifest.clone()),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "MANIFEST_BLOB_UNKNOWN".into()));
    c.upload_blob("m", config).await;
    let r = raw
        .send(
            Method::PUT,
            "/v2/m/manifests/v1",
            &ct,
            Some(manifest.clone()),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "MANIFEST_BLOB_UNKNOWN".into()),
        "layer missing"
    );
    // Blobs of another repository do not count.
    c.upload_blob("elsewhere", layer).await;
    let r = raw
        .send(
            Method::PUT,
            "/v2/m/manifests/v1",
            &ct,
            Some(manifest.clone()),
        )
        .await;
    assert_eq!(r.status, 400);
    c.upload_blob("m", layer).await;
    // Content-Type must equal mediaType.
    let r = raw
        .send(
            Method::PUT,
            "/v2/m/manifests/v1",
            &[("content-type", OCI_INDEX_T)],
            Some(manifest.clone()),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "MANIFEST_INVALID".into()));
    let r = raw
        .send(
            Method::PUT,
            "/v2/m/manifests/v1",
            &[],
            Some(manifest.clone()),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "MANIFEST_INVALID".into()));
    // Not JSON, wrong schema version.
    let r = raw
        .send(Method::PUT, "/v2/m/manifests/v1", &ct, Some(b"{".to_vec()))
        .await;
    assert_eq!((r.status, r.code()), (400, "MANIFEST_INVALID".into()));
    // PUT by a digest that is not the body's → DIGEST_INVALID.
    let r = raw
        .send(
            Method::PUT,
            &format!("/v2/m/manifests/{}", sha256_digest(b"x")),
            &ct,
            Some(manifest.clone()),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "DIGEST_INVALID".into()));
    // Accepted: 201 with Location and Docker-Content-Digest.
    let digest = sha256_digest(&manifest);
    let r = raw
        .send(
            Method::PUT,
            "/v2/m/manifests/v1",
            &ct,
            Some(manifest.clone()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("docker-content-digest").unwrap(), digest);
    assert_eq!(
        r.header("location").unwrap(),
        format!("/v2/m/manifests/{digest}")
    );
    assert!(r.header("oci-subject").is_none());
    // By digest: stored untagged.
    let r = raw
        .send(
            Method::PUT,
            &format!("/v2/m/manifests/{digest}"),
            &ct,
            Some(manifest.clone()),
        )
        .await;
    assert_eq!(r.status, 201);
    // An index whose child is unknown is refused; once the child exists, accepted.
    let index = |child: &str| {
        serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX_T,
            "manifests": [{"mediaType": OCI_MANIFEST_T, "digest": child, "size": 10}],
        }))
        .unwrap()
    };
    let r = raw
        .send(
            Method::PUT,
            "/v2/m/manifests/idx",
            &[("content-type", OCI_INDEX_T)],
            Some(index(&sha256_digest(b"no"))),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "MANIFEST_BLOB_UNKNOWN".into()));
    let r = raw
        .send(
            Method::PUT,
            "/v2/m/manifests/idx",
            &[("content-type", OCI_INDEX_T)],
            Some(index(&digest)),
        )
        .await;
    assert_eq!(r.status, 201);
    // Bad tag and bad name.
    let r = raw
        .send(
            Method::PUT,
            "/v2/m/manifests/-bad",
            &ct,
            Some(manifest.clone()),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "TAG_INVALID".into()));
    let r = raw
        .send(
            Method::PUT,
            "/v2/Upper/manifests/v1",
            &ct,
            Some(manifest.clone()),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "NAME_INVALID".into()));
    let r = raw
        .send(Method::PUT, "/v2/a%2Fb/manifests/v1", &ct, Some(manifest))
        .await;
    assert_eq!((r.status, r.code()), (400, "NAME_INVALID".into()));
}

// ---------------------------------------------------------------------------------------------
// Discovery: tag lists

async fn seed_tags(fake: &FakeOci, repo: &str, tags: &[&str]) {
    let c = client(fake);
    let img = c.push_image(repo, tags[0], &[b"t".to_vec()], CREATED).await;
    for t in &tags[1..] {
        c.put_manifest(repo, t, &img.media_type, &img.manifest)
            .await;
    }
}

#[tokio::test]
async fn tag_list_variants() {
    let tags = ["b", "a", "e", "c", "d"];
    // Sorted with n + last and a relative Link.
    let fake = FakeOci::start(Profile::distribution());
    seed_tags(&fake, "p/q", &tags).await;
    let raw = Raw::new(&fake);
    let mut path = "/v2/p/q/tags/list?n=2".to_string();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let r = raw.get(&path, &[]).await;
        assert_eq!(r.status, 200);
        let body = r.json();
        assert_eq!(body["name"], "p/q");
        seen.extend(
            body["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string()),
        );
        pages += 1;
        match r.header("link") {
            Some(link) => {
                assert!(
                    link.starts_with("</v2/p/q/tags/list?"),
                    "relative Link: {link}"
                );
                path = link[1..link.find('>').unwrap()].to_string();
            }
            None => break,
        }
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    assert_eq!(pages, 3);
    let r = raw.get("/v2/p/q/tags/list?n=2&last=c", &[]).await;
    assert_eq!(r.json()["tags"], json!(["d", "e"]));
    let r = raw.get("/v2/p/q/tags/list?n=0", &[]).await;
    assert_eq!(r.json()["tags"], json!([]));
    let r = raw.get("/v2/p/q/tags/list?n=-1", &[]).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "PAGINATION_NUMBER_INVALID".into())
    );
    let r = raw.get("/v2/p/q/tags/list", &[]).await;
    assert_eq!(r.json()["tags"].as_array().unwrap().len(), 5);
    assert!(r.header("link").is_none());
    // Unknown repository; a repository without tags → null.
    let r = raw.get("/v2/nope/tags/list", &[]).await;
    assert_eq!((r.status, r.code()), (404, "NAME_UNKNOWN".into()));
    client(&fake).upload_blob("blobs/only", b"b").await;
    let r = raw.get("/v2/blobs/only/tags/list", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["tags"], Value::Null);

    // distribution 2.8: every tag, n and last ignored, no Link, not sorted.
    let old = FakeOci::start(Profile::distribution_2_8());
    seed_tags(&old, "p/q", &tags).await;
    let r = Raw::new(&old)
        .get("/v2/p/q/tags/list?n=2&last=c", &[])
        .await;
    let got: Vec<String> = serde_json::from_value(r.json()["tags"].clone()).unwrap();
    assert_eq!(got.len(), 5);
    assert!(r.header("link").is_none());
    let mut sorted = got.clone();
    sorted.sort();
    assert_ne!(got, sorted, "storage order is not lexical");

    // Quay: fixed pages, opaque next_page, last ignored.
    let quay = FakeOci::start(Profile {
        tag_paging: TagPaging::FixedPage { size: 2 },
        ..Profile::distribution()
    });
    seed_tags(&quay, "p/q", &tags).await;
    let raw = Raw::new(&quay);
    let r = raw.get("/v2/p/q/tags/list?n=100&last=c", &[]).await;
    assert_eq!(r.json()["tags"], json!(["a", "b"]), "n and last ignored");
    let link = r.header("link").unwrap();
    assert!(link.contains("next_page="), "{link}");
    let next = &link[1..link.find('>').unwrap()];
    let r = raw.get(next, &[]).await;
    assert_eq!(r.json()["tags"], json!(["c", "d"]));
    let r = raw.get("/v2/p/q/tags/list?next_page=forged", &[]).await;
    assert_eq!(r.status, 400);

    // ECR: n above 1000 refused.
    let ecr = FakeOci::start(Profile {
        max_n: Some(1000),
        ..Profile::distribution()
    });
    seed_tags(&ecr, "p", &tags).await;
    let raw = Raw::new(&ecr);
    assert_eq!(raw.get("/v2/p/tags/list?n=1000", &[]).await.status, 200);
    let r = raw.get("/v2/p/tags/list?n=1001", &[]).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "PAGINATION_NUMBER_INVALID".into())
    );
}

// ---------------------------------------------------------------------------------------------
// Referrers

async fn push_referrer(
    c: &RegistryClient,
    repo: &str,
    subject: &PushedImageRef,
    artifact_type: &str,
) -> (String, Option<String>) {
    let empty = b"{}";
    let ed = c.upload_blob(repo, empty).await;
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST_T,
        "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": ed, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": ed, "size": 2}],
        "subject": {"mediaType": OCI_MANIFEST_T, "digest": subject.digest, "size": subject.size},
        "annotations": {"org.example.kind": artifact_type},
    }))
    .unwrap();
    let digest = sha256_digest(&body);
    let resp = c
        .send(
            Method::PUT,
            &format!("/v2/{repo}/manifests/{digest}"),
            {
                let mut h = reqwest::header::HeaderMap::new();
                h.insert("content-type", OCI_MANIFEST_T.parse().unwrap());
                h
            },
            Some(body.into()),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let subject_header = resp
        .headers()
        .get("oci-subject")
        .map(|v| v.to_str().unwrap().to_string());
    (digest, subject_header)
}

struct PushedImageRef {
    digest: String,
    size: usize,
}

#[tokio::test]
async fn referrers_on_and_off() {
    let fake = FakeOci::start(Profile::oci_1_1());
    let c = client(&fake);
    let img = c.push_image("r", "v1", &[b"x".to_vec()], CREATED).await;
    let subject = PushedImageRef {
        digest: img.digest.clone(),
        size: img.manifest.len(),
    };
    let (sig, hdr) = push_referrer(&c, "r", &subject, "application/vnd.example.sig").await;
    assert_eq!(hdr.as_deref(), Some(img.digest.as_str()), "OCI-Subject");
    let (sbom, _) = push_referrer(&c, "r", &subject, "application/vnd.example.sbom").await;
    let raw = Raw::new(&fake);
    let r = raw
        .get(&format!("/v2/r/referrers/{}", img.digest), &[])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type").unwrap(), OCI_INDEX_T);
    let body = r.json();
    assert_eq!(body["mediaType"], OCI_INDEX_T);
    let list = body["manifests"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let sig_desc = list.iter().find(|d| d["digest"] == sig.as_str()).unwrap();
    assert_eq!(sig_desc["artifactType"], "application/vnd.example.sig");
    assert_eq!(
        sig_desc["annotations"]["org.example.kind"],
        "application/vnd.example.sig"
    );
    assert_eq!(sig_desc["mediaType"], OCI_MANIFEST_T);
    // Filtered.
    let r = raw
        .get(
            &format!(
                "/v2/r/referrers/{}?artifactType=application/vnd.example.sbom",
                img.digest
            ),
            &[],
        )
        .await;
    assert_eq!(r.header("oci-filters-applied").unwrap(), "artifactType");
    let list = r.json()["manifests"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["digest"], sbom.as_str());
    // Unknown subject → empty list; malformed → 400.
    let r = raw
        .get(&format!("/v2/r/referrers/{}", sha256_digest(b"none")), &[])
        .await;
    assert_eq!((r.status, r.json()["manifests"].clone()), (200, json!([])));
    let r = raw.get("/v2/r/referrers/sha256:zz", &[]).await;
    assert_eq!(r.status, 400);
    // A deleted referrer leaves the list.
    assert_eq!(c.delete_manifest("r", &sig).await, StatusCode::ACCEPTED);
    let r = raw
        .get(&format!("/v2/r/referrers/{}", img.digest), &[])
        .await;
    assert_eq!(r.json()["manifests"].as_array().unwrap().len(), 1);

    // Off: a plain-text 404 and no OCI-Subject.
    let off = FakeOci::start(Profile::distribution());
    let c = client(&off);
    let img = c.push_image("r", "v1", &[b"x".to_vec()], CREATED).await;
    let subject = PushedImageRef {
        digest: img.digest.clone(),
        size: img.manifest.len(),
    };
    let (_, hdr) = push_referrer(&c, "r", &subject, "application/vnd.example.sig").await;
    assert_eq!(hdr, None);
    let r = Raw::new(&off)
        .get(&format!("/v2/r/referrers/{}", img.digest), &[])
        .await;
    assert_eq!(r.status, 404);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert_eq!(r.text().trim(), "404 page not found");
}

// ---------------------------------------------------------------------------------------------
// Management: deletes

#[tokio::test]
async fn tag_delete_variants() {
    for (tag_delete, status, code) in [
        (TagDelete::Untag, 202, None),
        (TagDelete::DigestInvalid, 400, Some("DIGEST_INVALID")),
        (TagDelete::Unsupported, 405, Some("UNSUPPORTED")),
        (TagDelete::NotFound, 404, None),
    ] {
        let fake = FakeOci::start(Profile {
            tag_delete: tag_delete.clone(),
            ..Profile::distribution()
        });
        seed_tags(&fake, "t", &["one", "two"]).await;
        let r = Raw::new(&fake)
            .send(Method::DELETE, "/v2/t/manifests/one", &[], None)
            .await;
        assert_eq!(r.status, status, "{tag_delete:?}");
        if let Some(code) = code {
            assert_eq!(r.code(), code);
        }
        if status == 202 {
            assert_eq!(fake.tags("t"), ["two"], "only the tag goes");
            assert_eq!(fake.manifest_digests("t").len(), 1);
            let r = Raw::new(&fake)
                .send(Method::DELETE, "/v2/t/manifests/one", &[], None)
                .await;
            assert_eq!((r.status, r.code()), (404, "MANIFEST_UNKNOWN".into()));
        } else {
            assert_eq!(fake.tags("t"), ["one", "two"]);
        }
    }
}

#[tokio::test]
async fn digest_delete_variants() {
    // Removes the manifest and every tag on it.
    let fake = FakeOci::start(Profile::distribution());
    seed_tags(&fake, "t", &["one", "two"]).await;
    let keep = client(&fake)
        .push_image("t", "keep", &[b"k".to_vec()], CREATED)
        .await;
    let d = fake.tag_map("t")["one"].clone();
    let raw = Raw::new(&fake);
    let r = raw
        .send(Method::DELETE, &format!("/v2/t/manifests/{d}"), &[], None)
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(fake.tags("t"), ["keep"]);
    assert_eq!(fake.manifest_digests("t"), [keep.digest]);
    let r = raw
        .send(Method::DELETE, &format!("/v2/t/manifests/{d}"), &[], None)
        .await;
    assert_eq!((r.status, r.code()), (404, "MANIFEST_UNKNOWN".into()));
    let r = raw
        .send(Method::DELETE, "/v2/t/manifests/sha256:zz", &[], None)
        .await;
    assert_eq!((r.status, r.code()), (400, "DIGEST_INVALID".into()));
    let r = raw
        .get("/v2/t/manifests/one", &[("accept", MANIFEST_ACCEPT)])
        .await;
    assert_eq!(r.status, 404);

    // GCR: refused while tagged, and while an index lists it.
    let gcr = FakeOci::start(Profile {
        digest_delete: DigestDelete::RefuseWhileTagged(Refusal::new(
            400,
            "GOOGLE_MANIFEST_DANGLING_TAG",
            "manifest is referenced by tags",
        )),
        refuse_delete_of_child: Some(Refusal::new(
            400,
            "GOOGLE_MANIFEST_DANGLING_PARENT_IMAGE",
            "manifest is referenced by an index",
        )),
        ..Profile::distribution()
    });
    let c = client(&gcr);
    let img = c.push_image("g", "v1", &[b"g".to_vec()], CREATED).await;
    let idx = c.push_index("g", "multi", CREATED).await;
    let raw = Raw::new(&gcr);
    let r = raw
        .send(
            Method::DELETE,
            &format!("/v2/g/manifests/{}", img.digest),
            &[],
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "GOOGLE_MANIFEST_DANGLING_TAG".into())
    );
    let child = &idx.children[0].digest;
    let r = raw
        .send(
            Method::DELETE,
            &format!("/v2/g/manifests/{child}"),
            &[],
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "GOOGLE_MANIFEST_DANGLING_PARENT_IMAGE".into())
    );
    assert_eq!(
        raw.send(Method::DELETE, "/v2/g/manifests/v1", &[], None)
            .await
            .status,
        202
    );
    let r = raw
        .send(
            Method::DELETE,
            &format!("/v2/g/manifests/{}", img.digest),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 202);

    // Docker Hub: 403 while tagged. Disabled: 405.
    let hub = FakeOci::start(Profile {
        digest_delete: DigestDelete::RefuseWhileTagged(Refusal::new(403, "DENIED", "tagged")),
        tag_delete: TagDelete::Unsupported,
        ..Profile::distribution()
    });
    let img = client(&hub)
        .push_image("h", "v1", &[b"h".to_vec()], CREATED)
        .await;
    let r = Raw::new(&hub)
        .send(
            Method::DELETE,
            &format!("/v2/h/manifests/{}", img.digest),
            &[],
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "DENIED".into()));
    hub.update_profile(|p| p.digest_delete = DigestDelete::Unsupported);
    let r = Raw::new(&hub)
        .send(
            Method::DELETE,
            &format!("/v2/h/manifests/{}", img.digest),
            &[],
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (405, "UNSUPPORTED".into()));
    assert_eq!(hub.tags("h"), ["v1"]);

    // Blob delete.
    let d = client(&fake).upload_blob("t", b"blob").await;
    let r = raw_delete(&fake, &format!("/v2/t/blobs/{d}")).await;
    assert_eq!(r, 202);
    assert!(!fake.has_blob("t", &d));
    assert_eq!(raw_delete(&fake, &format!("/v2/t/blobs/{d}")).await, 404);
}

async fn raw_delete(fake: &FakeOci, path: &str) -> u16 {
    Raw::new(fake)
        .send(Method::DELETE, path, &[], None)
        .await
        .status
}

// ---------------------------------------------------------------------------------------------
// Auth

fn bearer_profile(service: Option<&str>, realm: &str) -> Profile {
    Profile::distribution().with_auth(Auth::bearer(realm, service, |c| match c {
        Credentials::Anonymous => Some(Grants::none().allow("public/*", &["pull"])),
        Credentials::Basic { user, password } if password == "pw" => match user.as_str() {
            "reader" => Some(Grants::none().allow("*", &["pull"])),
            "writer" => Some(Grants::none().allow("*", &["pull", "push"])),
            "admin" => Some(Grants::none().allow("*", &["*"]).with_catalog()),
            _ => None,
        },
        _ => None,
    }))
}

async fn token(fake: &FakeOci, creds: Option<(&str, &str)>, scopes: &[&str]) -> (u16, Value) {
    let mut url = reqwest::Url::parse(&format!("{}/token", fake.url())).unwrap();
    url.query_pairs_mut().append_pair("service", "fake-oci");
    for s in scopes {
        url.query_pairs_mut().append_pair("scope", s);
    }
    let mut rb = http_client().get(url);
    if let Some((u, p)) = creds {
        rb = rb.basic_auth(u, Some(p));
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn bearer_scopes_are_enforced() {
    let fake = FakeOci::start(bearer_profile(Some("fake-oci"), "/token"));
    let raw = Raw::new(&fake);
    // Ping: challenge without scope.
    let r = raw.get("/v2/", &[]).await;
    assert_eq!(r.status, 401);
    let (scheme, params) = parse_challenge(&r.header("www-authenticate").unwrap());
    assert_eq!(scheme, "bearer");
    assert_eq!(params["realm"], format!("{}/token", fake.url()));
    assert_eq!(params["service"], "fake-oci");
    assert!(!params.contains_key("scope"));
    // A repository request: the challenge names the scope.
    let r = raw.get("/v2/team/app/tags/list", &[]).await;
    let (_, params) = parse_challenge(&r.header("www-authenticate").unwrap());
    assert_eq!(params["scope"], "repository:team/app:pull");
    assert_eq!(r.code(), "UNAUTHORIZED");

    // The writer pushes through the harness client (challenge → token → retry).
    let writer = RegistryClient::new(&fake.url(), Creds::basic("writer", "pw"));
    let img = writer
        .push_image("team/app", "v1", &[b"w".to_vec()], CREATED)
        .await;
    // A bad password gets no token.
    let (status, _) = token(
        &fake,
        Some(("writer", "nope")),
        &["repository:team/app:pull"],
    )
    .await;
    assert_eq!(status, 401);
    // Token reply shape.
    let (status, body) = token(
        &fake,
        Some(("writer", "pw")),
        &["repository:team/app:pull,push,delete"],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["token"], body["access_token"]);
    assert_eq!(body["expires_in"], 300);
    let t = body["token"].as_str().unwrap().to_string();
    let auth = format!("Bearer {t}");
    let ah = [("authorization", auth.as_str())];
    assert_eq!(raw.get("/v2/", &ah).await.status, 200);
    assert_eq!(raw.get("/v2/team/app/tags/list", &ah).await.status, 200);
    // Granted pull,push only: DELETE → 401 insufficient_scope naming delete.
    let r = raw
        .send(
            Method::DELETE,
            &format!("/v2/team/app/manifests/{}", img.digest),
            &ah,
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    let (_, params) = parse_challenge(&r.header("www-authenticate").unwrap());
    assert_eq!(params["error"], "insufficient_scope");
    assert_eq!(params["scope"], "repository:team/app:delete");
    // A token for another repository does not cover this one.
    let other = fake.mint_token(&["repository:other:pull,push"]);
    let r = raw
        .get(
            "/v2/team/app/tags/list",
            &[("authorization", &format!("Bearer {other}"))],
        )
        .await;
    let (_, params) = parse_challenge(&r.header("www-authenticate").unwrap());
    assert_eq!(
        (r.status, params["error"].as_str()),
        (401, "insufficient_scope")
    );
    // A pull token cannot push (POST needs pull,push).
    let (_, body) = token(
        &fake,
        Some(("reader", "pw")),
        &["repository:team/app:pull,push"],
    )
    .await;
    let rt = format!("Bearer {}", body["token"].as_str().unwrap());
    let r = raw
        .send(
            Method::POST,
            "/v2/team/app/blobs/uploads/",
            &[("authorization", &rt)],
            None,
        )
        .await;
    let (_, params) = parse_challenge(&r.header("www-authenticate").unwrap());
    assert_eq!(r.status, 401);
    assert_eq!(params["scope"], "repository:team/app:pull,push");
    // The admin's `*` covers delete.
    let admin = RegistryClient::new(&fake.url(), Creds::basic("admin", "pw"));
    assert_eq!(
        admin.delete_manifest("team/app", &img.digest).await,
        StatusCode::ACCEPTED
    );
    // Anonymous pull where granted, nothing elsewhere.
    let (status, body) = token(
        &fake,
        None,
        &["repository:public/x:pull", "repository:team/app:pull"],
    )
    .await;
    assert_eq!(status, 200);
    let anon = format!("Bearer {}", body["token"].as_str().unwrap());
    assert_eq!(
        raw.get("/v2/team/app/tags/list", &[("authorization", &anon)])
            .await
            .status,
        401
    );
    assert_ne!(
        raw.get("/v2/public/x/tags/list", &[("authorization", &anon)])
            .await
            .status,
        401
    );
    // Catalog needs registry:catalog:*.
    let r = raw.get("/v2/_catalog", &ah).await;
    let (_, params) = parse_challenge(&r.header("www-authenticate").unwrap());
    assert_eq!(params["scope"], "registry:catalog:*");
    assert_eq!(admin.catalog().await, ["team/app"]);
    // Expired and unknown tokens → invalid_token.
    fake.expire_tokens();
    let r = raw.get("/v2/team/app/tags/list", &ah).await;
    let (_, params) = parse_challenge(&r.header("www-authenticate").unwrap());
    assert_eq!((r.status, params["error"].as_str()), (401, "invalid_token"));
    // The log says which requests carried credentials.
    let log = fake.requests();
    assert!(log.iter().any(|r| r.path == "/token" && r.status == 200));
    assert!(log.iter().any(|r| r.method == "PUT"
        && r.auth_scheme().as_deref() == Some("bearer")
        && r.status == 201));
}

#[tokio::test]
async fn bearer_without_service_and_other_realms() {
    // AR: no service in the challenge; the realm path is configurable, even under /v2/.
    for realm in ["/v2/token", "/oauth2/token", "/jwt/auth"] {
        let fake = FakeOci::start(bearer_profile(None, realm));
        let r = Raw::new(&fake).get("/v2/", &[]).await;
        let (_, params) = parse_challenge(&r.header("www-authenticate").unwrap());
        assert!(!params.contains_key("service"));
        assert_eq!(params["realm"], format!("{}{realm}", fake.url()));
        let c = RegistryClient::new(&fake.url(), Creds::basic("writer", "pw"));
        c.push_image("x", "v1", &[b"s".to_vec()], CREATED).await;
        assert_eq!(fake.tags("x"), ["v1"]);
    }
    // OAuth2 POST.
    let fake = FakeOci::start(bearer_profile(Some("fake-oci"), "/token"));
    let resp = http_client()
        .post(format!("{}/token", fake.url()))
        .form(&[
            ("grant_type", "password"),
            ("username", "reader"),
            ("password", "pw"),
            ("client_id", "dockhand"),
            ("service", "fake-oci"),
            ("scope", "repository:a:pull repository:b:pull"),
            ("access_type", "offline"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(body["refresh_token"].is_string());
    // Another service is refused.
    let resp = http_client()
        .get(format!(
            "{}/token?service=other&scope=repository:a:pull",
            fake.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn basic_auth() {
    let fake = FakeOci::start(
        Profile::distribution().with_auth(Auth::basic_users(&[("alice", "secret")])),
    );
    let raw = Raw::new(&fake);
    let r = raw.get("/v2/", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate").unwrap(),
        "Basic realm=\"fake-oci\""
    );
    let bad = RegistryClient::new(&fake.url(), Creds::basic("alice", "wrong"));
    assert_eq!(bad.ping().await, StatusCode::UNAUTHORIZED);
    let c = RegistryClient::new(&fake.url(), Creds::basic("alice", "secret"));
    assert_eq!(c.ping().await, StatusCode::OK);
    c.push_image("b", "v1", &[b"b".to_vec()], CREATED).await;
    assert_eq!(fake.tags("b"), ["v1"]);
}

// ---------------------------------------------------------------------------------------------
// Faults, hooks, vendor routes

#[tokio::test]
async fn faults_answer_429_with_retry_after() {
    let fake = FakeOci::start(Profile::distribution());
    let raw = Raw::new(&fake);
    fake.fail_next(FaultRule::too_many("/tags/list", 1, RetryAfter::Seconds(2)));
    fake.fail_next(FaultRule::too_many(
        "/tags/list",
        1,
        RetryAfter::HttpDate(Duration::from_secs(30)),
    ));
    fake.fail_next(FaultRule::new(
        Some(Method::GET),
        "/tags/list",
        1,
        FaultAction::PlainText(502, "bad gateway".into()),
    ));
    let r = raw.get("/v2/a/tags/list", &[]).await;
    assert_eq!((r.status, r.code()), (429, "TOOMANYREQUESTS".into()));
    assert_eq!(r.header("retry-after").unwrap(), "2");
    let r = raw.get("/v2/a/tags/list", &[]).await;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").unwrap().ends_with(" GMT"));
    let r = raw.get("/v2/a/tags/list", &[]).await;
    assert_eq!((r.status, r.text()), (502, "bad gateway".into()));
    let r = raw.get("/v2/a/tags/list", &[]).await;
    assert_eq!((r.status, r.code()), (404, "NAME_UNKNOWN".into()));
}

#[derive(Default)]
struct Versions(Vec<(String, String, Option<String>)>);

#[tokio::test]
async fn hooks_and_extra_routes() {
    use axum::routing::get;
    let mut profile = Profile::distribution();
    profile.hooks.on_manifest_put = Some(std::sync::Arc::new(
        |s: &mut Store, repo: &str, digest: &str, tag: Option<&str>| {
            s.ext_mut::<Versions>()
                .0
                .push((repo.into(), digest.into(), tag.map(String::from)));
        },
    ));
    profile.hooks.on_response = Some(std::sync::Arc::new(
        |m: &Method, path: &str, _s: u16, h: &mut reqwest::header::HeaderMap| {
            if *m == Method::GET && path.contains("/manifests/") {
                h.insert("ratelimit-remaining", "99;w=21600".parse().unwrap());
            }
        },
    ));
    profile.extra_headers.push((
        "gitlab-container-registry-features".into(),
        "tag_delete".into(),
    ));
    let fake = FakeOci::start_with(profile, |h| {
        axum::Router::new().route(
            "/api/versions",
            get(move || {
                let h = h.clone();
                async move {
                    let n = h.with_store(|s| s.ext::<Versions>().map_or(0, |v| v.0.len()));
                    axum::Json(json!({ "count": n }))
                }
            }),
        )
    });
    let c = client(&fake);
    let idx = c.push_index("gh/app", "v1", CREATED).await;
    let versions = fake.with_store(|s| s.ext::<Versions>().unwrap().0.clone());
    assert_eq!(versions.len(), 3);
    assert_eq!(
        versions[2],
        ("gh/app".into(), idx.digest.clone(), Some("v1".into()))
    );
    let raw = Raw::new(&fake);
    let r = raw.get("/api/versions", &[]).await;
    assert_eq!(r.json()["count"], 3);
    let r = raw
        .get("/v2/gh/app/manifests/v1", &[("accept", MANIFEST_ACCEPT)])
        .await;
    assert_eq!(r.header("ratelimit-remaining").unwrap(), "99;w=21600");
    assert_eq!(
        r.header("gitlab-container-registry-features").unwrap(),
        "tag_delete"
    );
    let r = raw
        .send(
            Method::HEAD,
            "/v2/gh/app/manifests/v1",
            &[("accept", MANIFEST_ACCEPT)],
            None,
        )
        .await;
    assert!(r.header("ratelimit-remaining").is_none(), "HEAD is free");
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.path == "/api/versions" && r.status == 200)
    );
    // Unknown paths outside /v2/ are plain-text 404s.
    let r = raw.get("/nothing", &[]).await;
    assert_eq!((r.status, r.text().trim()), (404, "404 page not found"));
    // set_pushed moves the push time.
    let t = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000);
    fake.set_pushed("gh/app", &idx.digest, t);
    assert_eq!(fake.manifest("gh/app", "v1").unwrap().pushed, t);
    fake.clear_log();
    assert!(fake.requests().is_empty());
}

// ---------------------------------------------------------------------------------------------
// dockhand's own client against the fake

/// Image tags of `repo` (attached `sha256-…` tags left out).
fn image_tags(fake: &FakeOci, repo: &str) -> Vec<String> {
    fake.tags(repo)
        .into_iter()
        .filter(|t| !t.starts_with("sha256-"))
        .collect()
}

/// `dockhand publish` then `dockhand cleanup` with `--implementation default`, on a registry with
/// tag DELETE (native untag), on distribution 2.8 (safe untag through a throw-away manifest) and
/// behind token auth.
#[test]
fn dockhand_publishes_and_cleans_up() {
    use dockhand::fixtures::seed_example_variant;
    let token_auth = Auth::bearer_users(&[("ci", "pw", Grants::all())], None);
    let quay_like = Profile {
        tag_paging: TagPaging::FixedPage { size: 2 },
        absolute_locations: true,
        ..Profile::distribution()
    };
    for (label, profile, login) in [
        ("untag", Profile::distribution(), false),
        ("referrers", Profile::oci_1_1(), false),
        ("paged", quay_like, false),
        ("2.8", Profile::distribution_2_8(), false),
        (
            "bearer",
            Profile::distribution_2_8().with_auth(token_auth),
            true,
        ),
    ] {
        let fake = FakeOci::start(profile);
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path();
        let host = fake.host();
        let repo = format!("{host}/flant");
        let mut common = vec!["--implementation", "default"];
        if login {
            common.extend(["--registry-username", "ci", "--registry-password", "pw"]);
        }
        let publish = |variant: Option<&str>, tags: &[&str]| -> Vec<(String, String)> {
            let images = cwd.join(variant.unwrap_or("current"));
            let digests = seed_example_variant(&images, variant).unwrap();
            let mut args: Vec<String> = ["publish", "-i", &repo]
                .iter()
                .chain(common.iter())
                .map(|s| s.to_string())
                .collect();
            for name in ["backend", "frontend"] {
                args.push("--image".into());
                args.push(format!("{name}=oci:{}", images.join(name).display()));
            }
            for t in tags {
                args.push("--tag-custom".into());
                args.push(t.to_string());
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ok(dockhand(&args, cwd));
            digests
        };
        let current = publish(None, &["v1"]);
        let shared = publish(Some("shared"), &["old-1", "keep-1"]);
        let gone = publish(Some("gone"), &["old-2"]);
        for (name, digest) in &current {
            let r = format!("flant/{name}");
            assert_eq!(
                image_tags(&fake, &r),
                ["keep-1", "old-1", "old-2", "v1"],
                "{label}"
            );
            assert_eq!(fake.tag_map(&r)["v1"], *digest, "{label}: digest preserved");
        }
        assert!(
            fake.requests().iter().all(|r| r.status < 500),
            "{label}: no server errors"
        );

        // Origin records: indexed by the referrers API where it exists (OCI-Subject on the PUT),
        // else kept in `sha256-<hex>` fallback tags (docs/registries.md#referrers).
        let referrers = fake.profile().referrers;
        let fallback_tags = fake
            .tags("flant/backend")
            .iter()
            .filter(|t| t.starts_with("sha256-"))
            .count();
        let subject_puts = fake
            .requests()
            .iter()
            .filter(|r| r.method == "PUT" && r.response_header("oci-subject").is_some())
            .count();
        if referrers {
            assert_eq!(fallback_tags, 0, "{label}");
            assert!(subject_puts > 0, "{label}: origin records carry a subject");
        } else {
            assert_eq!(subject_puts, 0, "{label}");
        }
        fake.clear_log();
        let mut args = vec![
            "cleanup",
            "-i",
            &repo,
            "--image",
            "backend",
            "--image",
            "frontend",
            "--keep-last",
            "0",
            "--grace",
            "0",
            "--only-tag",
            "^old-",
            "--output",
            "json",
        ];
        args.extend(common.iter().copied());
        let r = ok(dockhand(&args, cwd));
        let doc: Value = serde_json::from_str(&r.stdout).unwrap();
        for (i, (name, digest)) in current.iter().enumerate() {
            let r = format!("flant/{name}");
            assert_eq!(
                image_tags(&fake, &r),
                ["keep-1", "v1"],
                "{label} {name}: {doc:#}"
            );
            assert_eq!(fake.tag_map(&r)["v1"], *digest);
            assert_eq!(
                fake.tag_map(&r)["keep-1"],
                shared[i].1,
                "{label}: sibling kept"
            );
            assert!(
                fake.manifest(&r, &gone[i].1).is_none(),
                "{label}: the untagged image is deleted"
            );
        }
        let log = fake.requests();
        let deletes: Vec<String> = log
            .iter()
            .filter(|r| r.method == "DELETE")
            .map(|r| format!("{} {}", r.line(), r.status))
            .collect();
        if referrers {
            assert!(
                log.iter()
                    .any(|r| r.path.contains("/referrers/") && r.status == 200),
                "{label}: cleanup reads the referrers API"
            );
        }
        let native_untag = fake.profile().tag_delete == TagDelete::Untag;
        match native_untag {
            true => assert!(
                log.iter().any(|r| r.method == "DELETE"
                    && r.path.ends_with("/manifests/old-1")
                    && r.status == 202),
                "{label}: native untag: {deletes:?}"
            ),
            false => {
                // Safe untag: a throw-away manifest PUT under old-1, then deleted by digest.
                assert!(
                    log.iter().any(|r| r.method == "PUT"
                        && r.path.ends_with("/manifests/old-1")
                        && r.status == 201),
                    "{label}: {deletes:?}"
                );
                assert!(
                    log.iter().any(|r| r.method == "DELETE"
                        && r.path.contains("/manifests/sha256:")
                        && r.status == 202),
                    "{label}: {deletes:?}"
                );
            }
        }
        if login {
            assert!(
                log.iter()
                    .filter(|r| r.path.starts_with("/v2/flant"))
                    .all(|r| r.status != 401
                        || !r.has_auth()
                        || r.response_header("www-authenticate")
                            .is_some_and(|c| c.contains("insufficient_scope"))),
                "{label}: only challenges, no rejected tokens"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// More switches

#[tokio::test]
async fn mount_needs_pull_on_the_source() {
    let fake = FakeOci::start(bearer_profile(Some("fake-oci"), "/token"));
    let writer = RegistryClient::new(&fake.url(), Creds::basic("writer", "pw"));
    let d = writer.upload_blob("src", b"layer to mount").await;
    let raw = Raw::new(&fake);
    let path = format!("/v2/dst/blobs/uploads/?mount={d}&from=src");
    // A token for the target only: no mount, an ordinary session.
    let t = fake.mint_token(&["repository:dst:pull,push"]);
    let r = raw
        .send(
            Method::POST,
            &path,
            &[("authorization", &format!("Bearer {t}"))],
            None,
        )
        .await;
    assert_eq!(r.status, 202);
    // Both scopes in one token: mounted.
    let (_, body) = token(
        &fake,
        Some(("writer", "pw")),
        &["repository:dst:pull,push", "repository:src:pull"],
    )
    .await;
    let t = body["token"].as_str().unwrap();
    let r = raw
        .send(
            Method::POST,
            &path,
            &[("authorization", &format!("Bearer {t}"))],
            None,
        )
        .await;
    assert_eq!(r.status, 201);
    assert!(fake.has_blob("dst", &d));
}

#[tokio::test]
async fn blob_get_redirects_to_storage_that_refuses_credentials() {
    let fake = FakeOci::start(Profile {
        redirect_blobs: true,
        ..Profile::distribution().with_auth(Auth::basic_users(&[("alice", "secret")]))
    });
    let c = RegistryClient::new(&fake.url(), Creds::basic("alice", "secret"));
    let d = c.upload_blob("r", b"stored elsewhere").await;
    let auth = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "alice:secret")
    );
    let raw = Raw::new(&fake);
    let r = raw
        .get(&format!("/v2/r/blobs/{d}"), &[("authorization", &auth)])
        .await;
    assert_eq!(r.status, 307);
    let loc = r.header("location").unwrap();
    assert!(
        loc.starts_with("http://localhost:") && loc.contains("sig="),
        "{loc}"
    );
    // HEAD is answered here.
    let r = raw
        .send(
            Method::HEAD,
            &format!("/v2/r/blobs/{d}"),
            &[("authorization", &auth)],
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    // Following with the credentials is refused; without, served.
    let r = raw.get(&loc, &[("authorization", &auth)]).await;
    assert_eq!(r.status, 400);
    let r = raw.get(&loc, &[]).await;
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"stored elsewhere"[..])
    );
    let log = fake.storage_requests();
    assert_eq!(log.len(), 2);
    assert!(log[0].has_auth() && !log[1].has_auth());
    // A forged signature is refused.
    let forged = format!("{}forged", &loc[..loc.find("sig=").unwrap() + 4]);
    assert_eq!(raw.get(&forged, &[]).await.status, 403);
}

#[tokio::test]
async fn absolute_locations_lenient_accept_and_push_order() {
    let fake = FakeOci::start(Profile {
        absolute_locations: true,
        strict_accept: false,
        tag_paging: TagPaging::PushOrder { default_n: Some(2) },
        ..Profile::distribution()
    });
    let c = client(&fake);
    let raw = Raw::new(&fake);
    let r = raw
        .send(Method::POST, "/v2/a/blobs/uploads/", &[], None)
        .await;
    assert!(r.header("location").unwrap().starts_with(&fake.url()));
    // The harness client follows absolute Locations too.
    let mut digests = Vec::new();
    for (i, tag) in ["z", "y", "x"].iter().enumerate() {
        let img = c.push_image("a", tag, &[vec![i as u8]], CREATED).await;
        fake.set_pushed(
            "a",
            &img.digest,
            std::time::UNIX_EPOCH + Duration::from_secs(1_000 + i as u64),
        );
        digests.push(img.digest);
    }
    // Oldest first, two per page by default, Link continues after `last`.
    let r = raw.get("/v2/a/tags/list", &[]).await;
    assert_eq!(r.json()["tags"], json!(["z", "y"]));
    let link = r.header("link").unwrap();
    let next = &link[1..link.find('>').unwrap()];
    let r = raw.get(next, &[]).await;
    assert_eq!(r.json()["tags"], json!(["x"]));
    assert!(r.header("link").is_none());
    // Served whatever the Accept.
    let r = raw.get("/v2/a/manifests/z", &[]).await;
    assert_eq!(r.status, 200);
}

#[test]
fn seeding_without_http_and_v2_overrides() {
    let mut profile = Profile::distribution();
    // GitLab's legacy tag delete route, answered by a vendor override.
    profile.hooks.v2_override = Some(std::sync::Arc::new(|req: &V2Request, h: &FakeHandle| {
        let (repo, tag) = req.rest.split_once("/tags/reference/")?;
        if req.method != Method::DELETE || req.repo.is_some() {
            return None;
        }
        let need = Need::for_method(repo, &req.method);
        if let Err(resp) = h.authorize(&h.profile().auth, &req.headers, &need) {
            return Some(*resp);
        }
        let removed = h.with_store(|s| s.repo_mut(repo).tags.remove(tag).is_some());
        Some(if removed {
            axum::http::StatusCode::ACCEPTED.into_response()
        } else {
            OciError::manifest_unknown(tag).into_response()
        })
    }));
    let fake = FakeOci::start(profile);
    let (img, idx) = fake.with_store(|s| {
        let a = s.seed_image("g/app", Some("v1"), &[b"one"], CREATED);
        let arm = s.seed_image_for("g/app", None, &[b"two"], CREATED, "linux", "arm64");
        let idx = s.seed_index("g/app", Some("multi"), &[a.clone(), arm]);
        (a, idx)
    });
    assert_eq!(fake.tags("g/app"), ["multi", "v1"]);
    assert_eq!(fake.manifest("g/app", "multi").unwrap().children.len(), 2);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = client(&fake);
        assert_eq!(c.head_manifest("g/app", "v1").await.unwrap(), img);
        let m = c.get_manifest("g/app", "multi").await.unwrap();
        assert_eq!(m.digest, idx);
        assert_eq!(
            m.json()["manifests"][1]["platform"]["architecture"],
            "arm64"
        );
        let raw = Raw::new(&fake);
        let r = raw
            .send(Method::DELETE, "/v2/g/app/tags/reference/v1", &[], None)
            .await;
        assert_eq!(r.status, 202);
        let r = raw
            .send(Method::DELETE, "/v2/g/app/tags/reference/v1", &[], None)
            .await;
        assert_eq!(r.status, 404);
        let r = raw.get("/v2/g/app/tags/reference/v1", &[]).await;
        assert_eq!(r.text().trim(), "404 page not found");
    });
    assert_eq!(fake.tags("g/app"), ["multi"]);
}

#[tokio::test]
async fn vetoes_tag_list_hook_and_catalog() {
    let mut profile = Profile::distribution();
    // Immutable tags `v*` (Harbor/ECR/Quay style refusals come from a check hook).
    profile.hooks.check_manifest_put = Some(std::sync::Arc::new(
        |s: &Store, repo: &str, digest: &str, tag: Option<&str>| match tag {
            Some(t) if t.starts_with('v') => match s.repo(repo).and_then(|r| r.tags.get(t)) {
                Some(old) if old != digest => Err(OciError::new(
                    400,
                    "TAG_INVALID",
                    "tag is immutable",
                    json!({ "tag": t }),
                )),
                _ => Ok(()),
            },
            _ => Ok(()),
        },
    ));
    profile.hooks.check_delete = Some(std::sync::Arc::new(
        |_: &Store, _: &str, reference: &str| {
            if reference == "protected" {
                Err(OciError::denied("protected tag"))
            } else {
                Ok(())
            }
        },
    ));
    // GCR-style extended tag list.
    profile.hooks.tags_list = Some(std::sync::Arc::new(
        |s: &Store, repo: &str, body: &mut Value| {
            let r = s.repo(repo).unwrap();
            let map: serde_json::Map<String, Value> = r
                .manifests
                .iter()
                .map(|(d, m)| {
                    (
                        d.clone(),
                        json!({ "tag": r.tags_of(d), "mediaType": m.media_type }),
                    )
                })
                .collect();
            body["manifest"] = Value::Object(map);
        },
    ));
    let fake = FakeOci::start(profile);
    let c = client(&fake);
    let v1 = c.push_image("i", "v1", &[b"1".to_vec()], CREATED).await;
    let other = c
        .push_image("i", "protected", &[b"2".to_vec()], CREATED)
        .await;
    // Re-pushing the same digest under v1 is fine; another digest is refused.
    c.put_manifest("i", "v1", &v1.media_type, &v1.manifest)
        .await;
    let r = Raw::new(&fake)
        .send(
            Method::PUT,
            "/v2/i/manifests/v1",
            &[("content-type", OCI_MANIFEST_T)],
            Some(other.manifest.clone()),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "TAG_INVALID".into()));
    assert_eq!(fake.tag_map("i")["v1"], v1.digest);
    let r = Raw::new(&fake)
        .send(Method::DELETE, "/v2/i/manifests/protected", &[], None)
        .await;
    assert_eq!((r.status, r.code()), (403, "DENIED".into()));
    let body = Raw::new(&fake).get("/v2/i/tags/list", &[]).await.json();
    assert_eq!(body["manifest"][&v1.digest]["tag"], json!(["v1"]));
    assert_eq!(body["tags"], json!(["protected", "v1"]));
    // Catalog: sorted, n/last, relative Link.
    for r in ["b/x", "a", "c"] {
        c.upload_blob(r, b"x").await;
    }
    let r = Raw::new(&fake).get("/v2/_catalog?n=2", &[]).await;
    assert_eq!(r.json()["repositories"], json!(["a", "b/x"]));
    assert_eq!(
        r.header("link").unwrap(),
        "</v2/_catalog?last=b/x&n=2>; rel=\"next\""
    );
    let r = Raw::new(&fake).get("/v2/_catalog?n=2&last=b/x", &[]).await;
    assert_eq!(r.json()["repositories"], json!(["c", "i"]));
}

#[tokio::test]
async fn auth_variants() {
    // Basic with per-user grants: a valid user lacking an action gets 403 DENIED.
    let check = |c: &Credentials| match c {
        Credentials::Basic { user, password } if password == "pw" => match user.as_str() {
            "ro" => Some(Grants::none().allow("*", &["pull"])),
            "rw" => Some(Grants::all()),
            _ => None,
        },
        _ => None,
    };
    let fake = FakeOci::start(Profile::distribution().with_auth(Auth::Basic {
        realm: "basic".into(),
        check: std::sync::Arc::new(check),
    }));
    RegistryClient::new(&fake.url(), Creds::basic("rw", "pw"))
        .push_image("x", "v1", &[b"x".to_vec()], CREATED)
        .await;
    let ro = RegistryClient::new(&fake.url(), Creds::basic("ro", "pw"));
    assert_eq!(ro.tags("x").await, ["v1"]);
    assert_eq!(ro.delete_manifest("x", "v1").await, StatusCode::FORBIDDEN);

    // Harbor: Bearer, with Basic accepted directly.
    let fake = FakeOci::start(Profile::distribution().with_auth(Auth::Bearer(BearerAuth {
        accept_basic: true,
        service: Some("harbor-registry".into()),
        realm: "/service/token".into(),
        check: std::sync::Arc::new(check),
        ..BearerAuth::default()
    })));
    let r = Raw::new(&fake).get("/v2/", &[]).await;
    let (scheme, params) = parse_challenge(&r.header("www-authenticate").unwrap());
    assert_eq!(
        (scheme.as_str(), params["service"].as_str()),
        ("bearer", "harbor-registry")
    );
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "ro:pw")
    );
    let r = Raw::new(&fake)
        .get("/v2/", &[("authorization", &basic)])
        .await;
    assert_eq!(r.status, 200);

    // Token reply variants: only access_token, no expires_in.
    let fake = FakeOci::start(Profile::distribution().with_auth(Auth::Bearer(BearerAuth {
        fields: TokenFields::AccessTokenOnly,
        expires_in: None,
        ..BearerAuth::default()
    })));
    let body = http_client()
        .get(format!("{}/token?scope=repository:a:pull", fake.url()))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(body["access_token"].is_string());
    assert!(body.get("token").is_none() && body.get("expires_in").is_none());
    // OAuth2 POST off → 404 (use GET).
    fake.update_profile(|p| {
        if let Auth::Bearer(b) = &mut p.auth {
            b.oauth2_post = false;
        }
    });
    let resp = http_client()
        .post(format!("{}/token", fake.url()))
        .form(&[("grant_type", "password"), ("client_id", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn manifest_list_by_tag_without_list_accept_serves_amd64() {
    let fake = FakeOci::start(Profile::distribution());
    let c = client(&fake);
    let amd = c
        .push_image_as("l", None, &[b"a".to_vec()], CREATED, "linux", "amd64", true)
        .await;
    let arm = c
        .push_image_as("l", None, &[b"b".to_vec()], CREATED, "linux", "arm64", true)
        .await;
    let list = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST_LIST,
        "manifests": [
            {"mediaType": DOCKER_MANIFEST, "digest": arm.digest, "size": arm.manifest.len(),
             "platform": {"os": "linux", "architecture": "arm64"}},
            {"mediaType": DOCKER_MANIFEST, "digest": amd.digest, "size": amd.manifest.len(),
             "platform": {"os": "linux", "architecture": "amd64"}},
        ],
    }))
    .unwrap();
    let ld = c
        .put_manifest("l", "multi", DOCKER_MANIFEST_LIST, &list)
        .await;
    let raw = Raw::new(&fake);
    let r = raw
        .get("/v2/l/manifests/multi", &[("accept", DOCKER_MANIFEST)])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("docker-content-digest").unwrap(), amd.digest);
    let r = raw
        .get("/v2/l/manifests/multi", &[("accept", DOCKER_MANIFEST_LIST)])
        .await;
    assert_eq!(r.header("docker-content-digest").unwrap(), ld);
}
