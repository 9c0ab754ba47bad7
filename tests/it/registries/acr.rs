//! Azure Container Registry end to end: the real binary with `--implementation acr` against the
//! ACR fake (`support::fake_acr`): Azure AD service-principal login and token exchange as
//! documented, admin Basic, the empty-GUID rule, `_tags` listing and untag, locks, the classic
//! SKU, permissions (exit 3) and 429s; and `dockhand detect` for ACR hosts.

use crate::support;
use crate::support::layouts::{git, git_repo, layout, oci};
use crate::support::mixed_plan::BranchPlan;
use crate::support::report::entry_ending as entry;
use crate::support::run::{Run, dockhand_env, ok};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use dockhand::naming::slug::slug_tag;
use serde_json::Value;
use support::fake_acr::{
    AAD_SCOPE, ADMIN_PASSWORD, ADMIN_USER, EMPTY_GUID, FakeAcr, all_actions, push_only,
};
use support::fake_oci::{FaultRule, Grants, RetryAfter};
use support::{Creds, RegistryClient};

const CLIENT: &str = "5a1e0c3b-sp-client";
const SECRET: &str = "sp-secret-Hn4v9";
const TENANT: &str = "72f988bf-tenant";

/// The binary with this module's extra environment (an empty list has a type here).
fn dockhand(args: &[&str], cwd: &Path, env: &[(&str, String)]) -> Run {
    dockhand_env(args, cwd, env)
}

// ---------------------------------------------------------------------------------------------
// Running dockhand

/// The service principal of the fake, as CI sets it.
fn sp_env(fake: &FakeAcr) -> Vec<(&'static str, String)> {
    vec![
        ("AZURE_CLIENT_ID", CLIENT.to_string()),
        ("AZURE_CLIENT_SECRET", SECRET.to_string()),
        ("AZURE_TENANT_ID", TENANT.to_string()),
        ("AZURE_AUTHORITY_HOST", fake.authority()),
    ]
}

fn admin_args() -> Vec<&'static str> {
    vec![
        "--registry-username",
        ADMIN_USER,
        "--registry-password",
        ADMIN_PASSWORD,
    ]
}

// ---------------------------------------------------------------------------------------------
// Fixtures

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Pushes a small cosign-style signature of `subject` under its `.sig` tag (as the admin).
fn push_signature(fake: &FakeAcr, repo: &str, subject: &str) -> (String, String) {
    let client = RegistryClient::new(&fake.url(), Creds::basic(ADMIN_USER, ADMIN_PASSWORD));
    let tag = format!("{}.sig", subject.replace(':', "-"));
    let d = rt()
        .block_on(client.push_image(repo, &tag, &[b"signature".to_vec()], "2024-05-01T12:00:00Z"))
        .digest;
    (tag, d)
}

/// Requests answered with success (a first request without credentials gets 401 and the
/// challenge; it is sent again with a token).
fn count(fake: &FakeAcr, method: &str, path_part: &str) -> usize {
    fake.requests_matching(method, path_part)
        .iter()
        .filter(|r| r.status < 400)
        .count()
}

// ---------------------------------------------------------------------------------------------
// 1. Publish, then a mixed cleanup through the ACR API

#[test]
fn publish_then_mixed_cleanup_through_the_acr_api() {
    let fake = FakeAcr::start();
    fake.add_principal(CLIENT, SECRET, TENANT, all_actions());
    fake.set_page_size(1);
    let env = sp_env(&fake);
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let images_repo = format!("{}/team", fake.host());
    let publish = |extra: &[&str]| {
        let mut args = vec!["publish", "-i", &images_repo, "--implementation", "acr"];
        args.extend_from_slice(extra);
        ok(dockhand(&args, cwd, &env));
    };

    // The seed example on the branch; backend also as `stable` (one digest, a kept and a stale tag).
    // Multi-arch: `app` on the branch (goes, with children and signature), `other` on main (stays).
    let BranchPlan {
        repo,
        tag_x,
        seeded,
        app_index,
        other_index,
    } = BranchPlan::publish(cwd, publish);
    let (app_sig, app_sig_digest) = push_signature(&fake, "team/app", &app_index);
    let (other_sig, _) = push_signature(&fake, "team/other", &other_index);
    // A stale image whose tag is locked.
    publish(&[
        "--image",
        &format!("locked={}", oci(&layout(cwd, "locked").0)),
        "--tag-git-branch",
        "feature/x",
    ]);
    fake.lock_tag("team/locked", &tag_x, false, true);

    let backend_digest = &seeded[0].1;
    assert_eq!(
        fake.tag_map("team/backend"),
        BTreeMap::from([
            (tag_x.clone(), backend_digest.clone()),
            ("stable".into(), backend_digest.clone())
        ])
    );
    assert_eq!(fake.tags("team/app"), {
        let mut v = vec![tag_x.clone(), app_sig.clone()];
        v.sort();
        v
    });
    let before: BTreeMap<&str, (BTreeMap<String, String>, Vec<String>)> =
        ["backend", "frontend", "app", "other", "locked"]
            .into_iter()
            .map(|n| {
                let r = format!("team/{n}");
                (n, (fake.tag_map(&r), fake.manifest_digests(&r)))
            })
            .collect();
    assert!(
        before["app"].1.len() >= 4,
        "index, two children, signature (and origin records): {:?}",
        before["app"].1
    );

    git(&repo, &["branch", "-D", "feature/x"]);
    fake.clear_log();
    let run = ok(dockhand(
        &[
            "cleanup",
            "-i",
            &images_repo,
            "--implementation",
            "acr",
            "--image",
            "backend",
            "--image",
            "frontend",
            "--image",
            "app",
            "--image",
            "other",
            "--image",
            "locked",
            "--git-dir",
            repo.to_str().unwrap(),
            "--git-refs",
            "local",
            "--grace",
            "0",
            "--output",
            "json",
        ],
        cwd,
        &env,
    ));
    let doc = run.json();
    assert_eq!(doc["implementation"], "acr");
    assert_eq!(doc["summary"]["failed"], 0, "{doc:#}");

    // Exactly the planned state.
    assert_eq!(
        entry(&doc, "/backend", &tag_x)["result"],
        "deleted",
        "{doc:#}"
    );
    assert_eq!(entry(&doc, "/backend", "stable")["result"], "kept");
    assert_eq!(
        fake.tag_map("team/backend"),
        BTreeMap::from([("stable".into(), backend_digest.clone())])
    );
    assert_eq!(
        fake.manifest_digests("team/backend"),
        before["backend"].1,
        "untag keeps every manifest"
    );
    assert!(fake.tags("team/frontend").is_empty());
    assert!(
        fake.manifest_digests("team/frontend").is_empty(),
        "frontend and its origin records are gone"
    );
    assert!(fake.tags("team/app").is_empty());
    assert!(
        fake.manifest_digests("team/app").is_empty(),
        "index, children, signature, records gone"
    );
    assert_eq!(entry(&doc, "/app", &app_sig)["result"], "deleted");
    assert_eq!(
        fake.tag_map("team/other"),
        before["other"].0,
        "the kept image keeps its tags"
    );
    assert_eq!(
        fake.manifest_digests("team/other"),
        before["other"].1,
        "and its children and signature"
    );
    assert!(fake.tags("team/other").contains(&other_sig));
    let locked = entry(&doc, "/locked", &tag_x);
    assert_eq!(locked["result"], "kept", "{doc:#}");
    assert!(
        locked["reason"]
            .as_str()
            .unwrap()
            .contains("deleteEnabled: false"),
        "{locked}"
    );
    assert_eq!(fake.tag_map("team/locked"), before["locked"].0);
    assert_eq!(fake.manifest_digests("team/locked"), before["locked"].1);

    // Through ACR's own API: `_tags` pages (page size 1: one request per tag, at least one per
    // repository), one untag, manifest deletes only for what went whole; no OCI tag lists, no
    // throw-away manifests, nothing sent for the locked tag.
    let pages: usize = before.values().map(|(tags, _)| tags.len().max(1)).sum();
    // Each repository with planned deletions is listed again right before them and once after
    // them (docs/cleanup-safety.md).
    let looks: usize = ["backend", "frontend", "app", "locked"]
        .iter()
        .map(|r| before[*r].0.len().max(1) + fake.tags(&format!("team/{r}")).len().max(1))
        .sum();
    assert_eq!(
        count(&fake, "GET", "/_tags"),
        pages + looks,
        "one request per _tags page"
    );
    assert!(fake.requests_matching("GET", "/_tags").iter().all(|r| {
        r.query
            .as_deref()
            .is_some_and(|q| q.contains("orderby=timedesc"))
    }));
    assert_eq!(
        count(&fake, "GET", "/tags/list"),
        0,
        "the ACR listing replaces tags/list"
    );
    let untags: Vec<String> = fake
        .requests_matching("DELETE", "/acr/v1/")
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(untags, vec![format!("/acr/v1/team/backend/_tags/{tag_x}")]);
    let deleted: BTreeSet<String> = fake
        .requests_matching("DELETE", "/manifests/")
        .iter()
        .filter(|r| r.status < 400)
        .map(|r| r.path.clone())
        .collect();
    let expected: BTreeSet<String> = ["frontend", "app"]
        .iter()
        .flat_map(|n| {
            before[n]
                .1
                .iter()
                .map(move |d| format!("/v2/team/{n}/manifests/{d}"))
        })
        .collect();
    assert_eq!(
        deleted, expected,
        "one DELETE per manifest of the images that went"
    );
    assert_eq!(count(&fake, "DELETE", "/manifests/"), expected.len());
    assert!(expected.iter().any(|p| p.ends_with(&app_sig_digest)));
    assert_eq!(
        count(&fake, "PUT", "/manifests/"),
        0,
        "no safe untag on ACR"
    );
    assert!(
        fake.requests().iter().all(|r| r.status != 403),
        "no refused request"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. The service-principal flow as documented

#[test]
fn service_principal_flow_sends_the_documented_forms() {
    let fake = FakeAcr::start();
    fake.add_principal(CLIENT, SECRET, TENANT, all_actions());
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let images_repo = format!("{}/sp", fake.host());
    let src = format!("app={}", oci(&layout(cwd, "sp-app").0));
    ok(dockhand(
        &[
            "publish",
            "-i",
            &images_repo,
            "--implementation",
            "acr",
            "--image",
            &src,
            "--tag-custom",
            "v1",
        ],
        cwd,
        &sp_env(&fake),
    ));
    assert_eq!(fake.tags("sp/app"), vec!["v1"]);

    let aad = fake.forms("/aad/oauth2/v2.0/token");
    assert_eq!(aad.len(), 1, "one Azure AD token per run");
    assert_eq!(aad[0].get("grant_type"), Some("client_credentials"));
    assert_eq!(aad[0].get("client_id"), Some(CLIENT));
    assert_eq!(aad[0].get("client_secret"), Some(SECRET));
    assert_eq!(aad[0].get("scope"), Some(AAD_SCOPE));
    let aad_path = fake.requests_matching("POST", "/oauth2/v2.0/token");
    assert_eq!(
        aad_path[0].path,
        format!("/aad/{TENANT}/oauth2/v2.0/token"),
        "authority used as given"
    );

    let exchange = fake.forms("/oauth2/exchange");
    assert_eq!(exchange.len(), 1, "one exchange per run");
    assert_eq!(exchange[0].get("grant_type"), Some("access_token"));
    assert_eq!(exchange[0].get("service"), Some(fake.host().as_str()));
    assert_eq!(exchange[0].get("tenant"), Some(TENANT));
    assert!(
        exchange[0]
            .get("access_token")
            .is_some_and(|t| t.starts_with("aad-"))
    );

    let tokens = fake.forms("/oauth2/token");
    assert!(!tokens.is_empty());
    let refresh: BTreeSet<&str> = tokens
        .iter()
        .filter_map(|f| f.get("refresh_token"))
        .collect();
    assert_eq!(refresh.len(), 1, "one refresh token spent for every scope");
    assert!(refresh.iter().all(|r| r.starts_with("acr-refresh-")));
    for f in &tokens {
        assert_eq!(f.get("grant_type"), Some("refresh_token"), "{f:?}");
        assert_eq!(f.get("service"), Some(fake.host().as_str()));
        assert!(!f.all("scope").is_empty(), "{f:?}");
    }
    let scopes: BTreeSet<&str> = tokens.iter().flat_map(|f| f.all("scope")).collect();
    assert!(scopes.contains("repository:sp/app:pull,push"), "{scopes:?}");
    assert_eq!(
        count(&fake, "GET", "/oauth2/token"),
        0,
        "tokens only by the documented POST"
    );
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.auth_scheme().as_deref() != Some("basic")),
        "no Basic credentials anywhere"
    );

    // Cleanup asks for metadata_read on the repository it lists.
    let before = fake.forms("/oauth2/token").len();
    ok(dockhand(
        &[
            "cleanup",
            "-i",
            &images_repo,
            "--implementation",
            "acr",
            "--image",
            "app",
            "--keep-last",
            "5",
            "--dry-run",
            "--output",
            "json",
        ],
        cwd,
        &sp_env(&fake),
    ));
    let scopes: BTreeSet<String> = fake.forms("/oauth2/token")[before..]
        .iter()
        .flat_map(|f| f.all("scope").into_iter().map(String::from))
        .collect();
    assert!(
        scopes.contains("repository:sp/app:metadata_read"),
        "{scopes:?}"
    );

    // A wrong secret: exit 3, Azure AD's reason, nothing sent to the registry's API.
    fake.clear_log();
    let mut env = sp_env(&fake);
    env[1].1 = "wrong-secret-000".into();
    let r = dockhand(
        &[
            "publish",
            "-i",
            &images_repo,
            "--implementation",
            "acr",
            "--image",
            &src,
            "--tag-custom",
            "v2",
        ],
        cwd,
        &env,
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("AADSTS7000215"), "{}", r.stderr);
    assert!(r.stderr.contains("AZURE_CLIENT_SECRET"), "{}", r.stderr);
    assert!(
        !r.stderr.contains("wrong-secret-000"),
        "the secret is not shown: {}",
        r.stderr
    );
    assert_eq!(count(&fake, "POST", "/oauth2/exchange"), 0);
    assert_eq!(count(&fake, "PUT", "/manifests/"), 0);

    // Half a service principal: exit 2 before anything is sent.
    fake.clear_log();
    let r = dockhand(
        &[
            "publish",
            "-i",
            &images_repo,
            "--implementation",
            "acr",
            "--image",
            &src,
            "--tag-custom",
            "v2",
        ],
        cwd,
        &[("AZURE_CLIENT_SECRET", SECRET.to_string())],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("AZURE_CLIENT_ID"), "{}", r.stderr);
    assert!(fake.requests_matching("POST", "/oauth2").is_empty());
}

// ---------------------------------------------------------------------------------------------
// 3. Other credentials: an Azure AD token, the admin user, the empty-GUID rule

#[test]
fn aad_token_admin_user_and_the_empty_guid_rule() {
    let fake = FakeAcr::start();
    fake.add_principal(CLIENT, SECRET, TENANT, all_actions());
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let images_repo = format!("{}/creds", fake.host());
    let src = format!("app={}", oci(&layout(cwd, "creds-app").0));
    let publish = |tag: &str, extra: &[&str], env: &[(&str, String)]| {
        let mut args = vec![
            "publish",
            "-i",
            &images_repo,
            "--implementation",
            "acr",
            "--image",
            &src,
            "--tag-custom",
            tag,
        ];
        args.extend_from_slice(extra);
        dockhand(&args, cwd, env)
    };

    // An existing Azure AD token (OIDC in CI): exchanged as is.
    let aad = fake.aad_token_for(CLIENT);
    ok(publish(
        "aad",
        &["--azure-access-token", &aad],
        &[("AZURE_TENANT_ID", TENANT.to_string())],
    ));
    let ex = fake.forms("/oauth2/exchange");
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].get("access_token"), Some(aad.as_str()));
    assert_eq!(
        fake.forms("/aad/oauth2/v2.0/token").len(),
        0,
        "no service-principal login then"
    );

    // The admin user: Basic, no exchange.
    fake.clear_log();
    ok(publish("admin", &admin_args(), &[]));
    assert_eq!(fake.forms("/oauth2/exchange").len(), 1, "no new exchange");
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.auth_scheme().as_deref() == Some("basic"))
    );
    let mut args = vec![
        "cleanup",
        "-i",
        &images_repo,
        "--implementation",
        "acr",
        "--image",
        "app",
        "--keep-last",
        "5",
        "--dry-run",
        "--output",
        "json",
    ];
    args.extend(admin_args());
    let doc = ok(dockhand(&args, cwd, &[])).json();
    assert_eq!(doc["summary"]["failed"], 0, "{doc:#}");
    assert!(
        fake.requests_matching("GET", "/acr/v1/creds/app/_tags")
            .iter()
            .any(|r| r.status == 200)
    );

    // The empty GUID marks a refresh token: spent by the refresh grant, never sent as Basic.
    let refresh = fake.refresh_token(all_actions());
    fake.clear_log();
    let forms_before = fake.forms("/oauth2/token").len();
    ok(publish(
        "guid",
        &[
            "--registry-username",
            EMPTY_GUID,
            "--registry-password",
            &refresh,
        ],
        &[],
    ));
    assert_eq!(fake.tags("creds/app"), vec!["aad", "admin", "guid"]);
    use base64::Engine;
    let guid_basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{EMPTY_GUID}:{refresh}"));
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.authorization.as_deref() != Some(&format!("Basic {guid_basic}"))),
        "the empty GUID never goes as Basic"
    );
    let forms = fake.forms("/oauth2/token");
    let new = &forms[forms_before..];
    assert!(!new.is_empty());
    assert!(
        new.iter()
            .all(|f| f.get("grant_type") == Some("refresh_token")
                && f.get("refresh_token") == Some(refresh.as_str()))
    );

    // The same token through the Docker config, as `docker login` leaves it.
    let docker = cwd.join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{EMPTY_GUID}:{refresh}"));
    std::fs::write(
        docker.join("config.json"),
        serde_json::json!({"auths": {fake.host(): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    ok(publish(
        "config",
        &[],
        &[("DOCKER_CONFIG", docker.display().to_string())],
    ));
    assert!(fake.tags("creds/app").contains(&"config".to_string()));
}

// ---------------------------------------------------------------------------------------------
// 4. Permissions (exit 3 naming the role or scope), 429, the classic SKU

#[test]
fn missing_delete_role_exits_3_naming_it() {
    let fake = FakeAcr::start();
    fake.add_principal(CLIENT, SECRET, TENANT, push_only());
    fake.add_principal(
        "reader",
        "reader-secret",
        TENANT,
        Grants::none().allow("*", &["pull"]),
    );
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let repo = git_repo(cwd, &["feature/y"]);
    let images_repo = format!("{}/perm", fake.host());
    let src = format!("app={}", oci(&layout(cwd, "perm-app").0));
    ok(dockhand(
        &[
            "publish",
            "-i",
            &images_repo,
            "--implementation",
            "acr",
            "--image",
            &src,
            "--tag-git-branch",
            "feature/y",
            "--tag-custom",
            "keep",
        ],
        cwd,
        &sp_env(&fake),
    ));
    git(&repo, &["branch", "-D", "feature/y"]);
    let cleanup = |env: &[(&str, String)]| {
        dockhand(
            &[
                "cleanup",
                "-i",
                &images_repo,
                "--implementation",
                "acr",
                "--image",
                "app",
                "--git-dir",
                repo.to_str().unwrap(),
                "--git-refs",
                "local",
                "--grace",
                "0",
            ],
            cwd,
            env,
        )
    };
    // AcrPush may list (metadata_read) but not delete.
    let r = cleanup(&sp_env(&fake));
    assert_eq!(r.code, 3, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("AcrDelete"), "{}", r.stderr);
    assert!(
        r.stderr.contains("repository:perm/app:delete"),
        "{}",
        r.stderr
    );
    assert_eq!(fake.tags("perm/app").len(), 2, "nothing was removed");

    // Without metadata_read the listing is refused: exit 3 naming the scope.
    let mut env = sp_env(&fake);
    env[0].1 = "reader".into();
    env[1].1 = "reader-secret".into();
    let r = cleanup(&env);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("metadata_read"), "{}", r.stderr);
    assert!(r.stderr.contains("AcrPull"), "{}", r.stderr);
}

/// Publishes `app` as `keep` and on branch `feature/z`, then deletes the branch: a cleanup then
/// untags the branch tag and keeps `keep` (one digest). Returns the git checkout.
fn one_stale_tag(fake: &FakeAcr, cwd: &Path, images_repo: &str) -> PathBuf {
    let repo = git_repo(cwd, &["feature/z"]);
    let src = format!(
        "app={}",
        oci(&layout(
            cwd,
            &format!("{images_repo}-app").replace(['/', ':', '.'], "-")
        )
        .0)
    );
    let mut args = vec![
        "publish",
        "-i",
        images_repo,
        "--implementation",
        "acr",
        "--image",
        &src,
        "--tag-git-branch",
        "feature/z",
        "--tag-custom",
        "keep",
    ];
    args.extend(admin_args());
    ok(dockhand(&args, cwd, &[]));
    git(&repo, &["branch", "-D", "feature/z"]);
    let _ = fake;
    repo
}

fn cleanup_stale(images_repo: &str, repo: &Path, cwd: &Path) -> Value {
    let mut args = vec![
        "cleanup",
        "-i",
        images_repo,
        "--implementation",
        "acr",
        "--image",
        "app",
        "--git-dir",
        repo.to_str().unwrap(),
        "--git-refs",
        "local",
        "--grace",
        "0",
        "--output",
        "json",
    ];
    args.extend(admin_args());
    ok(dockhand(&args, cwd, &[])).json()
}

#[test]
fn rate_limits_are_waited_out() {
    let fake = FakeAcr::start();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let images_repo = format!("{}/rl", fake.host());
    let repo = one_stale_tag(&fake, cwd, &images_repo);
    let digest = fake.tag_map("rl/app")["keep"].clone();
    fake.clear_log();
    fake.fail_next(FaultRule::too_many("/_tags", 2, RetryAfter::Seconds(1)));
    let start = std::time::Instant::now();
    let doc = cleanup_stale(&images_repo, &repo, cwd);
    assert!(
        start.elapsed() >= std::time::Duration::from_secs(2),
        "Retry-After was honoured"
    );
    let listing: Vec<u16> = fake
        .requests_matching("GET", "/_tags")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(&listing[..2], &[429, 429], "{listing:?}");
    assert_eq!(listing.last(), Some(&200), "{listing:?}");
    assert!(
        listing.iter().all(|s| matches!(s, 200 | 401 | 429)),
        "{listing:?}"
    );
    assert_eq!(doc["summary"]["failed"], 0, "{doc:#}");
    assert_eq!(
        fake.tag_map("rl/app"),
        BTreeMap::from([("keep".to_string(), digest)])
    );
}

#[test]
fn classic_sku_falls_back_to_the_oci_api() {
    let fake = FakeAcr::start();
    fake.set_classic(true);
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let images_repo = format!("{}/classic", fake.host());
    let repo = one_stale_tag(&fake, cwd, &images_repo);
    let digest = fake.tag_map("classic/app")["keep"].clone();
    let stale = slug_tag("feature/z");
    fake.clear_log();
    let doc = cleanup_stale(&images_repo, &repo, cwd);
    assert_eq!(doc["summary"]["failed"], 0, "{doc:#}");
    assert_eq!(entry(&doc, "/app", &stale)["result"], "deleted", "{doc:#}");
    assert_eq!(
        fake.tag_map("classic/app"),
        BTreeMap::from([("keep".to_string(), digest)])
    );
    let acr: Vec<(String, u16)> = fake
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/acr/v1/"))
        .map(|r| (r.line(), r.status))
        .collect();
    assert!(acr.iter().all(|(_, s)| *s == 405 || *s == 401), "{acr:?}");
    assert_eq!(
        acr.iter().filter(|(_, s)| *s == 405).count(),
        1,
        "405 once, then the OCI way: {acr:?}"
    );
    // The inventory, the look before deleting, the listing after (docs/cleanup-safety.md).
    assert_eq!(count(&fake, "GET", "/v2/classic/app/tags/list"), 3);
    assert_eq!(
        count(
            &fake,
            "DELETE",
            &format!("/v2/classic/app/manifests/{stale}")
        ),
        1,
        "OCI tag delete"
    );

    // --delete-untagged there: no `_manifests` listing exists, and the run says so once
    // instead of deleting nothing in silence (the capability says ACR lists untagged ones).
    let mut args = vec![
        "cleanup",
        "-i",
        &images_repo,
        "--implementation",
        "acr",
        "--image",
        "app",
        "--git-refs",
        "none",
        "--delete-untagged",
        "--grace",
        "0",
    ];
    args.extend(admin_args());
    let r = ok(dockhand(&args, cwd, &[]));
    let said = "--delete-untagged: the registry answered without its vendor listing (e.g. ACR's classic SKU has no /acr/v1)";
    assert_eq!(
        r.stderr.matches(said).count(),
        1,
        "{}\n{}",
        r.stderr,
        r.stdout
    );
    assert!(fake.tag_map("classic/app").contains_key("keep"));
}

// ---------------------------------------------------------------------------------------------
// 5. Detection

#[test]
fn detect_acr_hosts_auto_mode_and_nesting() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    for (address, reference) in [
        ("myregistry.azurecr.io", "myregistry.azurecr.io/backend:tag"),
        (
            "myregistry.azurecr.io/team/app",
            "myregistry.azurecr.io/team/app/backend:tag",
        ),
        (
            "sovereign.azurecr.cn/team",
            "sovereign.azurecr.cn/team/backend:tag",
        ),
        ("gov.azurecr.us/a/b/c", "gov.azurecr.us/a/b/c/backend:tag"),
    ] {
        let doc = ok(dockhand(
            &[
                "detect",
                "-i",
                address,
                "--image",
                "backend",
                "--tag-custom",
                "tag",
                "--output",
                "json",
            ],
            cwd,
            &[],
        ))
        .json();
        assert_eq!(doc["implementation"], "acr", "{address}: {doc:#}");
        assert_eq!(
            doc["detection"]["source"], "host-pattern",
            "{address}: {doc:#}"
        );
        assert_eq!(doc["mode"], "multirepo", "{address}: nests");
        assert_eq!(doc["images"][0]["references"][0], reference);
    }
    // Monorepo on request; look-alikes are not ACR.
    let doc = ok(dockhand(
        &[
            "detect",
            "-i",
            "r.azurecr.io/team/all",
            "--images-repo-mode",
            "monorepo",
            "--image",
            "backend",
            "--tag-custom",
            "tag",
            "--output",
            "json",
        ],
        cwd,
        &[],
    ))
    .json();
    assert_eq!(
        doc["images"][0]["references"][0],
        "r.azurecr.io/team/all:backend-tag"
    );
    let doc = ok(dockhand(
        &[
            "detect",
            "-i",
            "r.azurecr.io.example.com/team",
            "--no-probe",
            "--output",
            "json",
        ],
        cwd,
        &[],
    ))
    .json();
    assert_eq!(doc["implementation"], "default");

    // An unknown host is recognised by its /oauth2/token challenge.
    let fake = FakeAcr::start();
    let doc = ok(dockhand(
        &[
            "detect",
            "-i",
            &format!("{}/team", fake.host()),
            "--output",
            "json",
        ],
        cwd,
        &[],
    ))
    .json();
    assert_eq!(doc["implementation"], "acr", "{doc:#}");
    assert_eq!(doc["detection"]["source"], "probe", "{doc:#}");
}

// ---------------------------------------------------------------------------------------------
// 6. Push times from `_tags` (7 fractional digits), no config reads

#[test]
fn push_times_come_from_the_tags_listing() {
    let fake = FakeAcr::start();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let client = RegistryClient::new(&fake.url(), Creds::basic(ADMIN_USER, ADMIN_PASSWORD));
    // Pushed by hand (no origin records): only the registry knows when. The configs say 2020, so
    // reading them instead would judge both old.
    let old = rt()
        .block_on(client.push_image(
            "times/app",
            "old",
            &[b"old".to_vec()],
            "2020-01-01T00:00:00Z",
        ))
        .digest;
    rt().block_on(client.push_image(
        "times/app",
        "new",
        &[b"new".to_vec()],
        "2020-01-01T00:00:00Z",
    ));
    fake.set_pushed(
        "times/app",
        &old,
        std::time::SystemTime::now() - std::time::Duration::from_secs(30 * 86_400),
    );
    fake.clear_log();
    let mut args = vec![
        "cleanup",
        "-i",
        &format!("{}/times", fake.host()),
        "--implementation",
        "acr",
        "--image",
        "app",
        "--keep-younger-than",
        "7d",
        "--grace",
        "0",
        "--output",
        "json",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    args.extend(admin_args().into_iter().map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let doc = ok(dockhand(&args, cwd, &[])).json();
    assert_eq!(entry(&doc, "/app", "old")["result"], "deleted", "{doc:#}");
    assert_eq!(entry(&doc, "/app", "new")["result"], "kept", "{doc:#}");
    assert_eq!(fake.tags("times/app"), vec!["new"]);
    assert_eq!(
        fake.requests_matching("GET", "/blobs/").len(),
        0,
        "no config reads"
    );
    assert!(
        fake.requests()
            .iter()
            .filter(|r| r.path.ends_with("/_tags") && r.status == 200)
            .count()
            >= 1
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Write-locked tags and locked manifests are kept, with what hangs off them

#[test]
fn write_locks_and_manifest_locks_are_kept_with_reasons() {
    let fake = FakeAcr::start();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let repo = git_repo(cwd, &["feature/l"]);
    let images_repo = format!("{}/locks", fake.host());
    for name in ["wlocked", "mlocked"] {
        let src = format!("{name}={}", oci(&layout(cwd, name).0));
        let mut args = vec![
            "publish",
            "-i",
            &images_repo,
            "--implementation",
            "acr",
            "--image",
            &src,
            "--tag-git-branch",
            "feature/l",
        ];
        args.extend(admin_args());
        ok(dockhand(&args, cwd, &[]));
    }
    let stale = slug_tag("feature/l");
    fake.lock_tag("locks/wlocked", &stale, true, false);
    let mdigest = fake.tag_map("locks/mlocked")[&stale].clone();
    fake.lock_manifest("locks/mlocked", &mdigest);
    let before: Vec<(Vec<String>, Vec<String>)> = ["locks/wlocked", "locks/mlocked"]
        .iter()
        .map(|r| (fake.tags(r), fake.manifest_digests(r)))
        .collect();
    git(&repo, &["branch", "-D", "feature/l"]);
    fake.clear_log();
    let mut args = vec![
        "cleanup",
        "-i",
        &images_repo,
        "--implementation",
        "acr",
        "--image",
        "wlocked",
        "--image",
        "mlocked",
        "--git-dir",
        repo.to_str().unwrap(),
        "--git-refs",
        "local",
        "--grace",
        "0",
        "--output",
        "json",
    ];
    args.extend(admin_args());
    let doc = ok(dockhand(&args, cwd, &[])).json();
    assert_eq!(doc["summary"]["failed"], 0, "{doc:#}");
    let w = entry(&doc, "/wlocked", &stale);
    assert_eq!(w["result"], "kept", "{doc:#}");
    assert!(
        w["reason"]
            .as_str()
            .unwrap()
            .contains("writeEnabled: false"),
        "{w}"
    );
    let m = entry(&doc, "/mlocked", &stale);
    assert_eq!(m["result"], "kept", "{doc:#}");
    assert!(
        m["reason"]
            .as_str()
            .unwrap()
            .contains("REGISTRY_DISALLOWED_OPERATION"),
        "{m}"
    );
    // What hangs off them (origin records) is kept too, not failed.
    assert!(!doc["manifests"].as_array().unwrap().is_empty(), "{doc:#}");
    for e in doc["manifests"].as_array().unwrap() {
        assert_eq!(e["result"], "kept", "{e}");
    }
    let after: Vec<(Vec<String>, Vec<String>)> = ["locks/wlocked", "locks/mlocked"]
        .iter()
        .map(|r| (fake.tags(r), fake.manifest_digests(r)))
        .collect();
    assert_eq!(after, before, "nothing changed");
    // Nothing is sent for the write-locked tag; the manifest lock is learned from the refusal.
    assert_eq!(fake.requests_matching("DELETE", "/locks/wlocked/").len(), 0);
    let refused: Vec<u16> = fake
        .requests_matching("DELETE", "/locks/mlocked/")
        .iter()
        .map(|r| r.status)
        .filter(|s| *s != 401)
        .collect();
    assert_eq!(refused, vec![405]);
}
