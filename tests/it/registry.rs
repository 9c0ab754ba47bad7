//! The transport and the OCI operations against real `docker-registry` servers (anonymous,
//! htpasswd and token auth), a fault-injecting proxy and a redirecting fake.

use crate::support;

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use dockhand::Kind;
use dockhand::registry::credentials::{Credential, CredentialStore};
use dockhand::registry::distribution::{
    Deleted, Distribution, Mounted, Repo, bytes_body, fallback_tag, file_range_body,
};
use dockhand::registry::media::{Manifest, OCI_INDEX, OCI_MANIFEST, sha256_digest};
use dockhand::registry::retry::RetryPolicy;
use dockhand::registry::transport::{Transport, TransportConfig};
use reqwest::Method;
use support::*;

fn client_with(creds: &[(&str, Credential)], retry: RetryPolicy) -> Distribution {
    let store = CredentialStore::default();
    for (host, c) in creds {
        store.set(host, c.clone());
    }
    let config = TransportConfig {
        retry,
        ..Default::default()
    };
    Distribution::new(Transport::new(config, store).unwrap())
}

fn client(creds: &[(&str, Credential)]) -> Distribution {
    client_with(creds, RetryPolicy::default())
}

/// Uploads a config and one layer and puts an OCI manifest under `tag`.
async fn push(d: &Distribution, repo: &Repo, tag: &str, layer: &[u8]) -> Manifest {
    let config = br#"{"architecture":"amd64","os":"linux","created":"2024-05-01T12:00:00Z"}"#;
    for blob in [&config[..], layer] {
        let digest = sha256_digest(blob);
        if d.head_blob(repo, &digest).await.unwrap().is_none() {
            d.upload_blob(repo, &digest, bytes_body(Bytes::copy_from_slice(blob)))
                .await
                .unwrap();
        }
    }
    let json = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256_digest(config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256_digest(layer), "size": layer.len()}],
    });
    let m = Manifest::new(
        Bytes::from(serde_json::to_vec(&json).unwrap()),
        Some(OCI_MANIFEST),
    );
    assert_eq!(d.put_manifest(repo, tag, &m).await.unwrap(), m.digest);
    m
}

#[tokio::test]
async fn anonymous_manifest_and_tag_operations() {
    let reg = RegistryServer::anonymous();
    let d = client(&[]);
    let repo = Repo::new(reg.host(), "team/app");
    assert_eq!(
        d.tags(&repo, None).await.unwrap(),
        None,
        "unknown repository"
    );
    let m = push(&d, &repo, "v1", b"layer one").await;
    d.put_manifest(&repo, "v1-alias", &m).await.unwrap();

    let mut tags = d.tags(&repo, Some(100)).await.unwrap().unwrap();
    tags.sort();
    assert_eq!(tags, vec!["v1", "v1-alias"]);
    let head = d.head_manifest(&repo, "v1").await.unwrap().unwrap();
    assert_eq!(
        (head.digest.as_str(), head.media_type.as_str(), head.size),
        (m.digest.as_str(), OCI_MANIFEST, m.bytes.len() as u64)
    );
    let got = d.get_manifest(&repo, &m.digest).await.unwrap().unwrap();
    assert_eq!(got.bytes, m.bytes);
    assert_eq!(d.head_manifest(&repo, "nope").await.unwrap(), None);
    assert_eq!(
        d.head_blob(&repo, &sha256_digest(b"layer one"))
            .await
            .unwrap(),
        Some(9)
    );
    assert_eq!(
        d.head_blob(&repo, &sha256_digest(b"absent")).await.unwrap(),
        None
    );

    // distribution 2.8 cannot delete a tag: reported as unsupported, nothing removed.
    match d.delete_manifest(&repo, "v1").await.unwrap() {
        Deleted::Unsupported { status: 400, code } => {
            assert_eq!(code.as_deref(), Some("DIGEST_INVALID"))
        }
        other => panic!("tag delete gave {other:?}"),
    }
    assert!(d.head_manifest(&repo, "v1").await.unwrap().is_some());
    // A digest delete removes the manifest and every tag on it; a repeat is "not found".
    assert_eq!(
        d.delete_manifest(&repo, &m.digest).await.unwrap(),
        Deleted::Done
    );
    assert_eq!(d.head_manifest(&repo, "v1-alias").await.unwrap(), None);
    assert_eq!(
        d.delete_manifest(&repo, &m.digest).await.unwrap(),
        Deleted::NotFound
    );
}

#[tokio::test]
async fn delete_disabled_is_unsupported() {
    let reg = RegistryServer::start(RegistryOptions {
        delete_enabled: false,
        ..Default::default()
    });
    let d = client(&[]);
    let repo = Repo::new(reg.host(), "app");
    let m = push(&d, &repo, "v1", b"x").await;
    assert!(matches!(
        d.delete_manifest(&repo, &m.digest).await.unwrap(),
        Deleted::Unsupported { status: 405, .. }
    ));
}

#[tokio::test]
async fn mount_and_chunked_upload() {
    let reg = RegistryServer::anonymous();
    let d = client(&[]);
    let a = Repo::new(reg.host(), "a");
    let b = Repo::new(reg.host(), "b");
    push(&d, &a, "v1", b"shared layer").await;
    let digest = sha256_digest(b"shared layer");
    assert_eq!(d.mount_blob(&b, &digest, "a").await.unwrap(), Mounted::Yes);
    assert_eq!(d.head_blob(&b, &digest).await.unwrap(), Some(12));
    // A blob the source does not have: the registry opens an upload session instead.
    assert!(matches!(
        d.mount_blob(&b, &sha256_digest(b"nowhere"), "a")
            .await
            .unwrap(),
        Mounted::Session(_)
    ));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blob");
    let data: Vec<u8> = (0..1_000_003u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let digest = sha256_digest(&data);
    d.upload_file_chunked(&b, &digest, &path, 256 * 1024)
        .await
        .unwrap();
    assert_eq!(
        d.head_blob(&b, &digest).await.unwrap(),
        Some(data.len() as u64)
    );
}

#[tokio::test]
async fn basic_auth_with_htpasswd() {
    let reg = RegistryServer::start(RegistryOptions {
        auth: RegistryAuth::Htpasswd(vec![("alice", "secret")]),
        ..Default::default()
    });
    let repo = Repo::new(reg.host(), "app");
    let d = client(&[(&reg.host(), Credential::basic("alice", "secret"))]);
    push(&d, &repo, "v1", b"x").await;
    assert_eq!(
        d.tags(&repo, None).await.unwrap(),
        Some(vec!["v1".to_string()])
    );

    let anonymous = client(&[]);
    let e = anonymous.tags(&repo, None).await.unwrap_err();
    assert_eq!(e.kind, Kind::Auth, "{e}");
    let wrong = client(&[(&reg.host(), Credential::basic("alice", "wrong"))]);
    let e = wrong.tags(&repo, None).await.unwrap_err();
    assert_eq!(e.kind, Kind::Auth, "{e}");
    assert!(
        !e.to_string().contains("wrong"),
        "the password is not printed: {e}"
    );
}

#[tokio::test]
async fn token_auth_caches_tokens_by_scope() {
    let tokens = TokenServer::start(
        vec![
            User::new("alice", "secret", vec![Grant::all()]),
            User::new("reader", "secret", vec![Grant::new("*", &["pull"])]),
        ],
        vec![],
    );
    let reg = RegistryServer::start(RegistryOptions {
        auth: RegistryAuth::Token(&tokens),
        ..Default::default()
    });
    let repo = Repo::new(reg.host(), "team/app");
    let d = client(&[(&reg.host(), Credential::basic("alice", "secret"))]);
    let m = push(&d, &repo, "v1", b"layer").await;
    let after_push = tokens.tokens_issued();
    for _ in 0..5 {
        d.head_manifest(&repo, "v1").await.unwrap().unwrap();
        d.tags(&repo, None).await.unwrap().unwrap();
    }
    // The pull,push token covers the reads: no new token for them.
    assert_eq!(
        tokens.tokens_issued(),
        after_push,
        "{:?}",
        tokens.requests()
    );
    assert!(after_push <= 2, "push needed {after_push} tokens");

    // A pull-only identity cannot delete: 401 insufficient_scope becomes an auth error.
    let reader = client(&[(&reg.host(), Credential::basic("reader", "secret"))]);
    assert!(reader.head_manifest(&repo, "v1").await.unwrap().is_some());
    let e = reader.delete_manifest(&repo, &m.digest).await.unwrap_err();
    assert_eq!(e.kind, Kind::Auth, "{e}");
    assert!(
        d.head_manifest(&repo, "v1").await.unwrap().is_some(),
        "nothing was deleted"
    );
    // The same deletion with a delete grant works.
    assert_eq!(
        d.delete_manifest(&repo, &m.digest).await.unwrap(),
        Deleted::Done
    );
    let scopes: Vec<String> = tokens
        .requests()
        .iter()
        .flat_map(|r| r.scopes.clone())
        .collect();
    assert!(
        scopes.iter().any(|s| s == "repository:team/app:delete"),
        "{scopes:?}"
    );
}

#[tokio::test]
async fn retries_429_and_503_then_succeeds() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let d = client(&[]);
    let repo = Repo::new(proxy.host(), "app");
    push(&d, &repo, "v1", b"x").await;
    proxy.clear_requests();
    proxy.add_fault(Fault::retry_after_secs(
        Method::GET,
        "/tags/list",
        1,
        429,
        1,
    ));
    assert_eq!(
        d.tags(&repo, None).await.unwrap(),
        Some(vec!["v1".to_string()])
    );
    let statuses: Vec<Option<u16>> = proxy
        .requests()
        .iter()
        .filter(|r| r.path.contains("/tags/list"))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![Some(429), Some(200)]);

    proxy.clear_requests();
    proxy.add_fault(Fault::retry_after_date(
        Method::HEAD,
        "/manifests/v1",
        1,
        503,
        1,
    ));
    assert!(d.head_manifest(&repo, "v1").await.unwrap().is_some());
    let statuses: Vec<Option<u16>> = proxy.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![Some(503), Some(200)]);

    // A dropped connection on a read is replayed too.
    proxy.clear_requests();
    proxy.add_fault(Fault::reset(Method::GET, "/tags/list", 1));
    assert_eq!(
        d.tags(&repo, None).await.unwrap(),
        Some(vec!["v1".to_string()])
    );
    assert_eq!(proxy.count_matching(Method::GET, "/tags/list"), 2);
}

#[tokio::test]
async fn a_registry_that_stays_down_fails_after_bounded_attempts() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let policy = RetryPolicy {
        max_attempts: 3,
        base: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_total_wait: Duration::from_secs(5),
    };
    let d = client_with(&[], policy);
    let repo = Repo::new(proxy.host(), "app");
    d.tags(&repo, None).await.unwrap();
    proxy.clear_requests();
    proxy.add_fault(Fault::status(Method::GET, "/tags/list", 10, 503));
    let e = d.tags(&repo, None).await.unwrap_err();
    assert_eq!(e.kind, Kind::Operation);
    assert!(e.message.contains("503"), "{e}");
    assert_eq!(proxy.count_matching(Method::GET, "/tags/list"), 3);
}

#[tokio::test]
async fn redirect_to_another_host_carries_no_credentials() {
    let pair = RedirectPair::start(b"blob bytes on storage".to_vec());
    let d = client(&[(&pair.registry_host(), Credential::basic("alice", "secret"))]);
    let repo = Repo::new(pair.registry_host(), "app");
    let resp = d.get_blob(&repo, pair.blob_digest()).await.unwrap();
    assert_eq!(resp.bytes().await.unwrap().as_ref(), pair.blob());
    assert_eq!(
        pair.storage_authorization(),
        Some(None),
        "storage saw an Authorization header"
    );
    assert!(
        pair.registry_requests()
            .iter()
            .any(|r| r.authorization.is_some()),
        "the registry itself got credentials"
    );
}

#[tokio::test]
async fn referrers_fall_back_to_the_tag_schema() {
    let reg = RegistryServer::anonymous();
    let d = client(&[]);
    let repo = Repo::new(reg.host(), "app");
    let subject = push(&d, &repo, "v1", b"image").await;
    let sig = push(&d, &repo, "sig-tmp", b"signature").await;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": sig.digest, "size": sig.bytes.len(), "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json"}],
    });
    let index = Manifest::new(
        Bytes::from(serde_json::to_vec(&index).unwrap()),
        Some(OCI_INDEX),
    );
    d.put_manifest(&repo, &fallback_tag(&subject.digest), &index)
        .await
        .unwrap();
    let r = d.referrers(&repo, &subject.digest).await.unwrap();
    assert!(!r.api, "distribution 2.8 has no referrers API");
    assert_eq!(r.descriptors.len(), 1);
    assert_eq!(r.descriptors[0].digest, sig.digest);
    let none = d.referrers(&repo, &sig.digest).await.unwrap();
    assert!(none.descriptors.is_empty());
}

/// Peak resident memory of this process in KiB (`VmHWM`).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn write_pseudo_random_file(path: &Path, size: usize) -> String {
    use sha2::{Digest, Sha256};
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut hasher = Sha256::new();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut chunk = vec![0u8; 1 << 20];
    for _ in 0..size / chunk.len() {
        for b in chunk.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state as u8;
        }
        hasher.update(&chunk);
        f.write_all(&chunk).unwrap();
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// A 200 MiB blob is streamed from disk: the process does not hold it in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_blob_upload_is_streamed() {
    let reg = RegistryServer::anonymous();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.blob");
    let size = 200 << 20;
    let digest = write_pseudo_random_file(&path, size);
    let d = client(&[]);
    let repo = Repo::new(reg.host(), "big");
    d.head_blob(&repo, &digest).await.unwrap();
    // Reset the peak to the current size, then measure what the upload adds.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = peak_rss_kib();
    d.upload_blob(
        &repo,
        &digest,
        file_range_body(path.clone(), 0, size as u64),
    )
    .await
    .unwrap();
    let grown_kib = peak_rss_kib().saturating_sub(before);
    assert_eq!(
        d.head_blob(&repo, &digest).await.unwrap(),
        Some(size as u64)
    );
    assert!(
        grown_kib < 32 * 1024,
        "peak memory grew by {grown_kib} KiB while uploading 200 MiB"
    );
    eprintln!("uploading 200 MiB grew peak RSS by {grown_kib} KiB");
}

/// `--concurrency` bounds the requests in flight to one host.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_to_one_host_are_bounded() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (i, p) = (in_flight.clone(), peak.clone());
    // A registry whose manifest HEADs take a while, counting how many overlap.
    let app = axum::Router::new().fallback(move || {
        let (i, p) = (i.clone(), p.clone());
        async move {
            let now = i.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            i.fetch_sub(1, Ordering::SeqCst);
            axum::http::StatusCode::NOT_FOUND
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let config = TransportConfig {
        concurrency: 2,
        ..Default::default()
    };
    let d = Distribution::new(Transport::new(config, CredentialStore::default()).unwrap());
    let repo = Repo::new(host, "app");
    d.head_manifest(&repo, "warm-up").await.unwrap();
    peak.store(0, Ordering::SeqCst);
    let heads: Vec<_> = (0..8)
        .map(|n| {
            let (d, repo) = (d.clone(), repo.clone());
            tokio::spawn(async move { d.head_manifest(&repo, &format!("t{n}")).await })
        })
        .collect();
    for h in heads {
        assert_eq!(h.await.unwrap().unwrap(), None);
    }
    assert_eq!(
        peak.load(Ordering::SeqCst),
        2,
        "at most --concurrency requests at once"
    );
}

/// A registry whose `Link` leads back to an earlier page: the listing stops with an error that
/// names the page, after the requests it took to see the loop (not forever). docker-registry
/// 2.8 serves every tag in one page, so the proxy answers the pages in its place.
#[tokio::test]
async fn tag_paging_that_loops_is_an_error_naming_the_page() {
    let reg = RegistryServer::anonymous();
    let d = client(&[]);
    let proxy = FaultProxy::start(&reg.url());
    let page = |query: &str, tags: &[&str], next: &str| {
        Fault::loop_pages(
            &format!("tags/list?{query}"),
            usize::MAX,
            "loop",
            tags,
            next,
        )
    };
    // Page 1 → page 2 → page 1 again.
    proxy.add_fault(page("n=2", &["a", "b"], "/v2/loop/tags/list?last=b&n=2"));
    proxy.add_fault(page("last=b", &["c", "d"], "/v2/loop/tags/list?n=2"));
    let through = Repo::new(proxy.host(), "loop");
    let e = d.tags(&through, Some(2)).await.unwrap_err();
    assert_eq!(e.kind, Kind::Operation);
    assert!(e.message.contains("loops"), "{}", e.message);
    assert!(
        e.message
            .contains(&format!("http://{}/v2/loop/tags/list?n=2", proxy.host())),
        "the error names the page seen before: {}",
        e.message
    );
    assert_eq!(
        proxy.count_matching(Method::GET, "tags/list"),
        2,
        "page 1, page 2, then the loop is seen without asking again"
    );

    // Page 1 → 2 → 3 → 2: a loop further back is caught the same way.
    proxy.clear_faults();
    proxy.clear_requests();
    proxy.add_fault(page("n=2", &["a", "b"], "/v2/loop/tags/list?last=b&n=2"));
    proxy.add_fault(page("last=b", &["c", "d"], "/v2/loop/tags/list?last=d&n=2"));
    proxy.add_fault(page("last=d", &["e"], "/v2/loop/tags/list?last=b&n=2"));
    let e = d.tags(&through, Some(2)).await.unwrap_err();
    assert!(e.message.contains("last=b&n=2"), "{}", e.message);
    assert_eq!(proxy.count_matching(Method::GET, "tags/list"), 3);

    // Without the loop the same pages list every tag.
    proxy.clear_faults();
    proxy.add_fault(page("n=2", &["a", "b"], "/v2/loop/tags/list?last=b&n=2"));
    proxy.add_fault(Fault::new(
        Method::GET,
        "tags/list?last=b",
        usize::MAX,
        FaultAction::Respond {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: br#"{"name":"loop","tags":["c"]}"#.to_vec(),
        },
    ));
    assert_eq!(
        d.tags(&through, Some(2)).await.unwrap().unwrap(),
        vec!["a", "b", "c"]
    );
}

/// A manifest over `--max-manifest-size` (default 4 MiB) is refused with the limit named, by its
/// `Content-Length` before reading; a raised limit takes it.
#[tokio::test]
async fn manifest_over_the_size_limit_is_refused_unless_raised() {
    let reg = RegistryServer::anonymous();
    let d = client(&[]);
    let repo = Repo::new(reg.host(), "big");
    push(&d, &repo, "small", b"layer").await;
    let proxy = FaultProxy::start(&reg.url());
    // 5 MiB of valid JSON (an index with a long annotation).
    let filler = "x".repeat(5 << 20);
    let body = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [],
        "annotations": {"filler": filler},
    }))
    .unwrap();
    assert!(body.len() > 5 << 20);
    proxy.add_fault(Fault::swap_body(
        "manifests/huge",
        usize::MAX,
        OCI_INDEX,
        body.clone(),
    ));
    let through = Repo::new(proxy.host(), "big");
    let e = d.get_manifest(&through, "huge").await.unwrap_err();
    assert_eq!(e.kind, Kind::Operation);
    for part in ["big:huge", "4194304 bytes (4 MiB)", "--max-manifest-size"] {
        assert!(e.message.contains(part), "{part:?} in {}", e.message);
    }
    assert!(
        e.hint
            .as_deref()
            .unwrap_or_default()
            .contains("DOCKHAND_MAX_MANIFEST_SIZE"),
        "{:?}",
        e.hint
    );
    // The small manifest still reads.
    assert!(d.get_manifest(&through, "small").await.unwrap().is_some());

    let raised = TransportConfig {
        max_manifest_size: 8 << 20,
        ..Default::default()
    };
    let d = Distribution::new(Transport::new(raised, CredentialStore::default()).unwrap());
    let m = d.get_manifest(&through, "huge").await.unwrap().unwrap();
    assert_eq!(m.bytes.len(), body.len());
    assert_eq!(m.media_type, OCI_INDEX);
}

/// A manifest body without `Content-Length` that never ends is read only up to the limit.
#[tokio::test]
async fn endless_manifest_body_is_cut_at_the_limit() {
    let app = axum::Router::new().fallback(|| async {
        let chunk = Bytes::from(vec![b' '; 64 << 10]);
        let endless =
            futures_util::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
        axum::response::Response::builder()
            .header("content-type", OCI_MANIFEST)
            .body(axum::body::Body::from_stream(endless))
            .unwrap()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let config = TransportConfig {
        max_manifest_size: 1 << 20,
        ..Default::default()
    };
    let d = Distribution::new(Transport::new(config, CredentialStore::default()).unwrap());
    let started = std::time::Instant::now();
    let e = tokio::time::timeout(
        Duration::from_secs(30),
        d.get_manifest(&Repo::new(host, "app"), "latest"),
    )
    .await
    .expect("the read stops at the limit")
    .unwrap_err();
    assert!(e.message.contains("1048576 bytes (1 MiB)"), "{}", e.message);
    eprintln!("cut off after {:?}", started.elapsed());
}

/// A registry that serves other bytes than the digest asked for is refused.
#[tokio::test]
async fn swapped_manifest_body_is_refused() {
    let reg = RegistryServer::anonymous();
    let d = client(&[]);
    let repo = Repo::new(reg.host(), "swap");
    let one = push(&d, &repo, "one", b"layer one").await;
    let two = push(&d, &repo, "two", b"layer two").await;
    let proxy = FaultProxy::start(&reg.url());
    proxy.add_fault(Fault::swap_body(
        &format!("manifests/{}", one.digest),
        usize::MAX,
        OCI_MANIFEST,
        two.bytes.to_vec(),
    ));
    let through = Repo::new(proxy.host(), "swap");
    let e = d.get_manifest(&through, &one.digest).await.unwrap_err();
    assert!(e.message.contains(&two.digest), "{}", e.message);
    assert!(e.message.contains(&one.digest), "{}", e.message);
}

/// Listing 1,000,000 tags (1,000 pages of 1,000) holds the tags, not the pages: peak memory
/// grows by about the size of the tag strings. The figure is printed for the README.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_tags_list_in_memory_proportional_to_the_tags() {
    const TOTAL: usize = 1_000_000;
    const PAGE: usize = 1_000;
    // A registry serving `tag-0000000` … in pages, with `Link` to the next as distribution does.
    let app = axum::Router::new().fallback(
        |axum::extract::Query(q): axum::extract::Query<
            std::collections::HashMap<String, String>,
        >| async move {
            let start: usize = q
                .get("last")
                .and_then(|l| l.strip_prefix("tag-"))
                .and_then(|n| n.parse::<usize>().ok())
                .map_or(0, |n| n + 1);
            let end = (start + PAGE).min(TOTAL);
            let tags: Vec<String> = (start..end).map(|i| format!("tag-{i:07}")).collect();
            let body =
                serde_json::to_vec(&serde_json::json!({"name": "many", "tags": tags})).unwrap();
            let mut resp =
                axum::response::Response::builder().header("content-type", "application/json");
            if end < TOTAL {
                resp = resp.header(
                    "link",
                    format!(
                        "</v2/many/tags/list?last=tag-{:07}&n={PAGE}>; rel=\"next\"",
                        end - 1
                    ),
                );
            }
            resp.body(axum::body::Body::from(body)).unwrap()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let d = client(&[]);
    let repo = Repo::new(host, "many");
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = peak_rss_kib();
    let started = std::time::Instant::now();
    let tags = d.tags(&repo, Some(PAGE)).await.unwrap().unwrap();
    let took = started.elapsed();
    let grown_kib = peak_rss_kib().saturating_sub(before);
    assert_eq!(tags.len(), TOTAL);
    assert_eq!(tags[TOTAL - 1], "tag-0999999");
    let held: usize = tags.iter().map(|t| t.capacity() + 24).sum();
    eprintln!(
        "1,000,000 tags in 1,000 pages: peak RSS +{} MiB ({} bytes a tag; the strings hold {} MiB) in {took:?}",
        grown_kib / 1024,
        grown_kib * 1024 / TOTAL as u64,
        held >> 20
    );
    assert!(
        grown_kib < 256 * 1024,
        "peak memory grew by {grown_kib} KiB for a million tags"
    );
}

/// An error answer with an endless body is read only up to a bound: the error comes back.
#[tokio::test]
async fn endless_error_body_is_cut() {
    let app = axum::Router::new().fallback(|| async {
        let chunk = Bytes::from(vec![b'x'; 64 << 10]);
        let endless =
            futures_util::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
        axum::response::Response::builder()
            .status(500)
            .body(axum::body::Body::from_stream(endless))
            .unwrap()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let d = client(&[]);
    let e = tokio::time::timeout(
        Duration::from_secs(30),
        d.get_manifest(&Repo::new(host, "app"), "latest"),
    )
    .await
    .expect("the error body is read only up to a bound")
    .unwrap_err();
    assert!(e.message.contains("HTTP 500"), "{}", e.message);
    assert!(e.message.len() < 1000, "{}", e.message.len());
}
