//! Self-tests of the integration-test harness (tests/it/support).

use crate::support;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use support::*;

const CREATED: &str = "2024-05-01T12:00:00Z";

fn client() -> reqwest::Client {
    support::client::http_client()
}

#[tokio::test]
async fn registry_anonymous_push_and_get_manifest() {
    let reg = RegistryServer::anonymous();
    let resp = client()
        .get(format!("{}/v2/", reg.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );

    let (digest, bytes) = push_image(
        &reg.url(),
        "team/app",
        "v1",
        &[b"layer one".to_vec(), b"layer two".to_vec()],
        CREATED,
        &Creds::Anonymous,
    )
    .await;
    assert_eq!(digest, sha256_digest(&bytes));

    let resp = client()
        .get(format!("{}/v2/team/app/manifests/v1", reg.url()))
        .header("Accept", MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice());

    // The config blob carries `created`.
    let rc = RegistryClient::new(&reg.url(), Creds::Anonymous);
    let m = rc.get_manifest("team/app", "v1").await.unwrap();
    let config_digest = m.json()["config"]["digest"].as_str().unwrap().to_string();
    let config: serde_json::Value =
        serde_json::from_slice(&rc.get_blob("team/app", &config_digest).await.unwrap()).unwrap();
    assert_eq!(config["created"], CREATED);
    assert_eq!(rc.tags("team/app").await, vec!["v1"]);
    assert!(
        reg.root()
            .join("docker/registry/v2/repositories/team/app")
            .is_dir()
    );

    // Index with two platforms; digest delete removes the tag (2.8: tag DELETE is 400).
    let (index_digest, _, children) =
        push_index(&reg.url(), "team/app", "multi", CREATED, &Creds::Anonymous).await;
    assert_eq!(children.len(), 2);
    let idx = rc.get_manifest("team/app", "multi").await.unwrap();
    assert_eq!(idx.media_type, "application/vnd.oci.image.index.v1+json");
    assert_eq!(idx.digest, index_digest);
    assert_eq!(
        rc.delete_manifest("team/app", "multi").await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        rc.delete_manifest("team/app", &index_digest).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(rc.tags("team/app").await, vec!["v1"]);
    assert!(rc.head_manifest("team/app", &children[0]).await.is_some());
}

#[tokio::test]
async fn registry_delete_disabled_gives_405() {
    let reg = RegistryServer::start(RegistryOptions {
        auth: RegistryAuth::Anonymous,
        delete_enabled: false,
    });
    let (digest, _) = push_image(&reg.url(), "app", "v1", &[], CREATED, &Creds::Anonymous).await;
    let rc = RegistryClient::new(&reg.url(), Creds::Anonymous);
    assert_eq!(
        rc.delete_manifest("app", &digest).await,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn registry_htpasswd() {
    let reg = RegistryServer::start(RegistryOptions {
        auth: RegistryAuth::Htpasswd(vec![("alice", "secret")]),
        delete_enabled: true,
    });
    let http = client();
    let resp = http.get(format!("{}/v2/", reg.url())).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    let (scheme, params) = parse_challenge(&challenge);
    assert_eq!(scheme, "basic", "{challenge}");
    assert_eq!(params["realm"], "dockhand-test");

    let resp = http
        .get(format!("{}/v2/", reg.url()))
        .basic_auth("alice", Some("secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = http
        .get(format!("{}/v2/", reg.url()))
        .basic_auth("alice", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let creds = Creds::basic("alice", "secret");
    let (digest, _) = push_image(&reg.url(), "app", "v1", &[b"x".to_vec()], CREATED, &creds).await;
    let rc = RegistryClient::new(&reg.url(), creds);
    assert_eq!(
        rc.head_manifest("app", "v1").await.as_deref(),
        Some(digest.as_str())
    );
}

#[tokio::test]
async fn registry_token_auth() {
    let ts = TokenServer::start(
        vec![
            User::new("alice", "secret", vec![Grant::all(), Grant::catalog()]),
            User::new("reader", "pw", vec![Grant::new("app", &["pull"])]),
        ],
        vec![Grant::new("public/*", &["pull"])],
    );
    let reg = RegistryServer::start(RegistryOptions {
        auth: RegistryAuth::Token(&ts),
        delete_enabled: true,
    });
    let http = client();

    // Anonymous: 401 with a Bearer challenge naming realm and service.
    let resp = http.get(format!("{}/v2/", reg.url())).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    let (scheme, params) = parse_challenge(&challenge);
    assert_eq!(scheme, "bearer", "{challenge}");
    assert_eq!(params["realm"], ts.realm());
    assert_eq!(params["service"], ts.service());

    // Seed through the token flow.
    let (digest, _) = push_image(
        &reg.url(),
        "app",
        "v1",
        &[b"layer".to_vec()],
        CREATED,
        &Creds::basic("alice", "secret"),
    )
    .await;
    let seeded = ts.requests();
    assert!(!seeded.is_empty());
    assert!(
        seeded
            .iter()
            .all(|r| r.user.as_deref() == Some("alice") && r.status == 200)
    );
    ts.clear_requests();

    // Wrong password: 401 from the token server.
    let resp = http
        .get(ts.realm())
        .query(&[("service", ts.service()), ("scope", "repository:app:pull")])
        .basic_auth("alice", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // A pull token from `reader` (who asks for more than granted).
    let resp = http
        .get(ts.realm())
        .query(&[
            ("service", ts.service()),
            ("scope", "repository:app:pull,push,delete"),
        ])
        .basic_auth("reader", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["expires_in"], 300);
    assert_eq!(v["token"], v["access_token"]);
    let token = v["token"].as_str().unwrap().to_string();
    let reqs = ts.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].scopes, vec!["repository:app:pull,push,delete"]);
    assert_eq!(reqs[1].granted[0].actions, vec!["pull"]);

    let resp = http
        .get(format!("{}/v2/app/manifests/v1", reg.url()))
        .header("Accept", MANIFEST_ACCEPT)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["docker-content-digest"], digest.as_str());

    // The pull-only token cannot delete: 401 insufficient_scope naming delete.
    let resp = http
        .delete(format!("{}/v2/app/manifests/{digest}", reg.url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    let (_, params) = parse_challenge(&challenge);
    assert_eq!(params["error"], "insufficient_scope", "{challenge}");
    assert_eq!(params["scope"], "repository:app:delete", "{challenge}");

    // alice can delete; catalog works with registry:catalog:*.
    let alice = RegistryClient::new(&reg.url(), Creds::basic("alice", "secret"));
    assert_eq!(alice.catalog().await, vec!["app"]);
    assert_eq!(
        alice.delete_manifest("app", &digest).await,
        StatusCode::ACCEPTED
    );

    // Anonymous pull of public/* works through an anonymous token.
    let (pd, _) = push_image(
        &reg.url(),
        "public/base",
        "1",
        &[],
        CREATED,
        &Creds::basic("alice", "secret"),
    )
    .await;
    let anon = RegistryClient::new(&reg.url(), Creds::Anonymous);
    assert_eq!(
        anon.head_manifest("public/base", "1").await.as_deref(),
        Some(pd.as_str())
    );
    assert!(
        ts.requests()
            .iter()
            .any(|r| r.user.is_none() && r.status == 200)
    );

    // An expired token is refused.
    let expired = ts.mint_token("alice", &["repository:app:pull"], -120);
    let resp = http
        .get(format!("{}/v2/app/tags/list", reg.url()))
        .bearer_auth(expired)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn proxy_injects_429_once_then_forwards() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    proxy.add_fault(Fault::retry_after_secs(Method::GET, "/v2/", 1, 429, 1));
    let http = client();

    let resp = http
        .get(format!("{}/v2/", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "1");
    let resp = http
        .get(format!("{}/v2/", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(proxy.faults_remaining(), 0);

    let reqs = proxy.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].status, Some(429));
    assert!(reqs[0].fault.is_some());
    assert_eq!(reqs[1].status, Some(200));
    assert!(reqs[1].fault.is_none());
    assert!(!reqs[1].has_authorization());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_streams_uploads_and_rewrites_nothing() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    // Seeding through the proxy works: Location headers point back at the proxy.
    let big = vec![7u8; 8 * 1024 * 1024];
    let start = Instant::now();
    let (digest, _) = push_image(
        &proxy.url(),
        "big",
        "v1",
        std::slice::from_ref(&big),
        CREATED,
        &Creds::Anonymous,
    )
    .await;
    let took = start.elapsed();
    assert!(proxy.bytes_uploaded() >= big.len() as u64);
    assert_eq!(proxy.count(Method::POST), 2);
    assert_eq!(proxy.count_matching(Method::PUT, "/blobs/uploads/"), 2);
    assert!(
        proxy
            .requests()
            .iter()
            .all(|r| r.status.is_some_and(|s| s < 300)),
        "{:#?}",
        proxy.requests()
    );
    // Every request reached the registry via the proxy (no direct hop).
    assert_eq!(proxy.count(Method::PUT), 3);

    // HEAD keeps Content-Length; GET streams the body back.
    let layer_digest = sha256_digest(&big);
    let resp = client()
        .head(format!("{}/v2/big/blobs/{layer_digest}", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-length"],
        big.len().to_string().as_str()
    );
    let rc = RegistryClient::new(&proxy.url(), Creds::Anonymous);
    assert_eq!(
        rc.get_blob("big", &layer_digest).await.unwrap().len(),
        big.len()
    );
    assert_eq!(
        rc.head_manifest("big", "v1").await.as_deref(),
        Some(digest.as_str())
    );
    eprintln!("8 MiB push through proxy took {took:?}");
}

#[tokio::test]
async fn proxy_connection_faults() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let http = client();
    proxy.add_fault(Fault::reset(Method::GET, "/v2/", 1));
    proxy.add_fault(Fault::new(Method::GET, "/v2/", 1, FaultAction::Close));
    proxy.add_fault(Fault::retry_after_date(Method::GET, "/v2/", 1, 503, 2));
    proxy.add_fault(Fault::new(
        Method::GET,
        "/v2/",
        1,
        FaultAction::ForwardThenRespond {
            status: 500,
            headers: vec![],
        },
    ));
    let err = http
        .get(format!("{}/v2/", proxy.url()))
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_status(), "{err:?}");
    let err = http
        .get(format!("{}/v2/", proxy.url()))
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_status(), "{err:?}");
    let resp = http
        .get(format!("{}/v2/", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        resp.headers()["retry-after"]
            .to_str()
            .unwrap()
            .ends_with(" GMT")
    );
    let resp = http
        .get(format!("{}/v2/", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let resp = http
        .get(format!("{}/v2/", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let statuses: Vec<_> = proxy.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![None, None, Some(503), Some(500), Some(200)]);

    // Mid-upload reset: the upload never completes.
    proxy.add_fault(Fault::new(
        Method::PUT,
        "/blobs/uploads/",
        1,
        FaultAction::ResetAfterRequestBytes(64 * 1024),
    ));
    let data = vec![1u8; 4 * 1024 * 1024];
    let rc = RegistryClient::new(&proxy.url(), Creds::Anonymous);
    let loc = rc
        .send(
            Method::POST,
            "/v2/app/blobs/uploads/",
            Default::default(),
            None,
        )
        .await
        .headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(loc.starts_with(&proxy.url()), "{loc}");
    let r = http
        .put(format!("{loc}&digest={}", sha256_digest(&data)))
        .body(data.clone())
        .send()
        .await;
    assert!(r.is_err(), "{r:?}");
    assert!(!rc.blob_exists("app", &sha256_digest(&data)).await);

    // Truncated download.
    let d = rc.upload_blob("app", &data).await;
    proxy.add_fault(Fault::new(
        Method::GET,
        "/blobs/",
        1,
        FaultAction::TruncateResponse(1000),
    ));
    let resp = http
        .get(format!("{}/v2/app/blobs/{d}", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.bytes().await.is_err());
}

#[tokio::test]
async fn redirect_pair_does_not_leak_credentials() {
    let pair = RedirectPair::start(b"blob bytes".to_vec());
    assert_ne!(pair.registry_url(), pair.storage_url());

    // Without credentials: 401 Basic.
    let resp = client()
        .get(format!("{}/v2/", pair.registry_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["www-authenticate"], "Basic realm=\"test\"");

    // reqwest's default redirect policy strips Authorization across hosts.
    let follow = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = follow
        .get(format!(
            "{}/v2/app/blobs/{}",
            pair.registry_url(),
            pair.blob_digest()
        ))
        .basic_auth("alice", Some("secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"blob bytes");
    assert_eq!(pair.storage_authorization(), Some(None));
    let regs = pair.registry_requests();
    assert_eq!(regs.len(), 2);
    assert_eq!(regs[1].status, 307);
    assert!(regs[1].authorization.is_some());

    // A client that forwards the header is caught.
    let no_follow = client();
    let resp = no_follow
        .get(format!(
            "{}/v2/app/blobs/{}",
            pair.registry_url(),
            pair.blob_digest()
        ))
        .basic_auth("alice", Some("secret"))
        .send()
        .await
        .unwrap();
    let loc = resp.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(loc, pair.redirect_location());
    no_follow
        .get(loc)
        .basic_auth("alice", Some("secret"))
        .send()
        .await
        .unwrap();
    assert!(matches!(pair.storage_authorization(), Some(Some(_))));
}

#[test]
fn harness_works_without_a_runtime_and_cleans_up() {
    let ts = TokenServer::start(vec![], vec![]);
    let reg = RegistryServer::start(RegistryOptions {
        auth: RegistryAuth::Token(&ts),
        delete_enabled: true,
    });
    let root = reg.root();
    let port = reg.port();
    assert!(
        reg.log().is_empty() || !reg.log().contains("panic"),
        "{}",
        reg.log()
    );
    drop(reg);
    assert!(!root.exists());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    let ts_addr = ts.url().trim_start_matches("http://").to_string();
    drop(ts);
    let deadline = Instant::now() + Duration::from_secs(2);
    while std::net::TcpStream::connect(&ts_addr).is_ok() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(std::net::TcpStream::connect(&ts_addr).is_err());
}

#[test]
fn dates_and_challenges() {
    assert_eq!(rfc3339(784_111_777), "1994-11-06T08:49:37Z");
    assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    let (s, p) = parse_challenge(
        r#"Bearer realm="http://a/token",service="reg",scope="repository:a:pull,push repository:b:pull",error="insufficient_scope""#,
    );
    assert_eq!(s, "bearer");
    assert_eq!(p["scope"], "repository:a:pull,push repository:b:pull");
    assert_eq!(p["error"], "insufficient_scope");
}

#[test]
#[should_panic(expected = "test body panicked")]
fn registry_is_killed_when_the_test_panics() {
    let _reg = RegistryServer::anonymous();
    panic!("test body panicked");
}

/// Run by hand: `cargo test --test it -- --ignored harness::hold_registry` and kill -9 the test process.
#[test]
#[ignore]
fn hold_registry_for_sigkill_check() {
    let _reg = RegistryServer::anonymous();
    std::thread::sleep(Duration::from_secs(60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn proxy_streams_200_mib_upload() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let data = vec![42u8; 200 * 1024 * 1024];
    let start = Instant::now();
    let rc = RegistryClient::new(&proxy.url(), Creds::Anonymous);
    let d = rc.upload_blob("big", &data).await;
    eprintln!("200 MiB upload through proxy: {:?}", start.elapsed());
    assert!(proxy.bytes_uploaded() >= data.len() as u64);
    assert!(rc.blob_exists("big", &d).await);
}

#[tokio::test]
async fn registry_garbage_collect_and_restart() {
    let mut reg = RegistryServer::anonymous();
    assert_eq!(reg.garbage_collect(false), "");
    let rc = RegistryClient::new(&reg.url(), Creds::Anonymous);
    let keep = rc
        .push_image("app", "keep", &[b"kept layer".to_vec()], CREATED)
        .await;
    let gone = rc
        .push_image("app", "gone", &[b"deleted layer".to_vec()], CREATED)
        .await;
    assert_eq!(
        rc.delete_manifest("app", &gone.digest).await,
        StatusCode::ACCEPTED
    );
    let root = reg.root();
    let blob_data = |d: &str| {
        root.join("docker/registry/v2/blobs/sha256")
            .join(&d[7..9])
            .join(&d[7..])
            .join("data")
    };
    assert!(blob_data(&gone.layer_digests[0]).exists());
    let url = reg.url();
    let out = reg.garbage_collect(false);
    assert!(out.contains("blob eligible for deletion"), "{out}");
    assert_eq!(reg.url(), url, "restarted on the same port");
    assert!(!blob_data(&gone.layer_digests[0]).exists());
    assert!(blob_data(&keep.layer_digests[0]).exists());
    let rc = RegistryClient::new(&reg.url(), Creds::Anonymous);
    assert_eq!(rc.tags("app").await, vec!["keep"]);
}

#[test]
fn proxy_routes_match_segments() {
    use support::proxy::route_matches;
    assert!(route_matches("/manifests/", "/v2/a/manifests/t"));
    assert!(route_matches("/v2/*/manifests/*", "/v2/app/manifests/v1"));
    assert!(!route_matches(
        "/v2/*/manifests/*",
        "/v2/team/app/manifests/v1"
    ));
    assert!(route_matches(
        "/v2/**/manifests/*",
        "/v2/team/app/manifests/v1"
    ));
    assert!(route_matches(
        "/v2/*/blobs/uploads/*",
        "/v2/a/blobs/uploads/x?digest=y"
    ));
    assert!(!route_matches("/v2/*/blobs/*", "/v2/a/manifests/t"));
}

/// Hang (never answer), per-route rules that never run out, delays, and the
/// request and connection counts; and the silent listener.
#[tokio::test]
async fn proxy_hangs_routes_and_counts() {
    let reg = RegistryServer::anonymous();
    let proxy = FaultProxy::start(&reg.url());
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    proxy.add_fault(Fault::hang(Method::GET, "/v2/*/tags/list", 1));
    proxy.add_fault(Fault::always(
        Method::HEAD,
        "/v2/*/manifests/*",
        FaultAction::Respond {
            status: 429,
            headers: vec![("Retry-After".into(), "1".into())],
            body: vec![],
        },
    ));
    proxy.add_fault(Fault::delay(
        Method::GET,
        "/v2/",
        1,
        Duration::from_millis(300),
    ));
    let hung = http
        .get(format!("{}/v2/app/tags/list", proxy.url()))
        .timeout(Duration::from_millis(500))
        .send()
        .await
        .unwrap_err();
    assert!(hung.is_timeout(), "{hung:?}");
    for _ in 0..3 {
        let r = http
            .head(format!("{}/v2/app/manifests/v1", proxy.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let start = Instant::now();
    let r = http
        .get(format!("{}/v2/", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(proxy.count_route(Method::HEAD, "/v2/*/manifests/*"), 3);
    assert_eq!(proxy.count_route(Method::GET, "/v2/*/tags/list"), 1);
    assert!(proxy.connections() >= 5, "{}", proxy.connections());

    let silent = SilentServer::start();
    let err = http
        .get(format!("http://{}/v2/", silent.host()))
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(silent.accepted(), 1);
}
