//! Property tests of every parser that reads untrusted input: references, digests, tags and
//! images-repo addresses, `WWW-Authenticate` challenges and scopes, `Link` and `Retry-After`
//! headers, manifests and indexes, the config file and the Docker config. (The tar reader's
//! header parsers are private; their properties are unit tests in `src/publish/source/tar.rs`.)
//!
//! Properties: no input makes a parser panic, and where a value has a printed form, parsing it
//! again gives the same value. 256 cases each by default (a few seconds in all); run longer with
//! `PROPTEST_CASES=100000 cargo test proptest`.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use dockhand::config;
use dockhand::naming::reference::{Digest, ImagesRepo, Reference};
use dockhand::naming::tag::{validate_image_name, validate_tag};
use dockhand::registry::auth::{Challenge, Scope};
use dockhand::registry::credentials::CredentialStore;
use dockhand::registry::distribution::next_link;
use dockhand::registry::media::{Manifest, OCI_INDEX, OCI_MANIFEST};
use dockhand::registry::retry::parse_retry_after;
use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderValue, LINK};

/// 256 cases unless `PROPTEST_CASES` says otherwise; failures are reported, not saved into
/// the source tree (a found case becomes a plain unit test next to the parser).
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text that looks like the input's grammar often enough to get past the first check:
/// its alphabet plus a few troublemakers (non-ASCII, controls, quotes, separators).
fn texty(alphabet: &'static str) -> impl Strategy<Value = String> {
    let chars: Vec<char> = alphabet
        .chars()
        .chain("é☃\u{0}\u{7f}\"\\ ,;=<>@:/".chars())
        .collect();
    proptest::collection::vec(proptest::sample::select(chars), 0..80)
        .prop_map(|v| v.into_iter().collect())
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        texty("abcxyzABC019._-/:@"),
        texty("abc019:sha256"),
    ]
}

// A valid reference, piece by piece: host, path components, tag, digest.
fn host() -> impl Strategy<Value = Option<String>> {
    let port = proptest::option::of(1u16..=65535)
        .prop_map(|p| p.map(|p| format!(":{p}")).unwrap_or_default());
    prop_oneof![
        Just(None),
        (
            "[a-z][a-z0-9]{0,8}(\\.[a-z][a-z0-9]{0,8}){1,2}",
            port.clone()
        )
            .prop_map(|(h, p)| Some(format!("{h}{p}"))),
        port.prop_map(|p| Some(format!("localhost{p}"))),
    ]
}

fn path() -> impl Strategy<Value = String> {
    proptest::collection::vec("[a-z0-9]{1,6}([._-][a-z0-9]{1,6}){0,2}", 1..4)
        .prop_map(|v| v.join("/"))
}

fn tag() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_][A-Za-z0-9_.-]{0,40}"
}

fn digest() -> impl Strategy<Value = String> {
    "[0-9a-f]{64}".prop_map(|h| format!("sha256:{h}"))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn reference_parse_never_panics_and_round_trips(s in any_text()) {
        if let Ok(r) = Reference::parse(&s) {
            let again = Reference::parse(&r.to_string()).expect("a printed reference parses");
            prop_assert_eq!(again, r);
        }
    }

    #[test]
    fn valid_references_parse_to_their_parts(
        host in host(),
        path in path(),
        tag in proptest::option::of(tag()),
        digest in proptest::option::of(digest()),
    ) {
        // Without a host, a first component with a dot would be one (as in Docker).
        let path = match (&host, path.split_once('/')) {
            (None, Some((first, rest))) => format!("{}/{rest}", first.replace('.', "_")),
            (None, None) => path.replace('.', "_"),
            _ => path,
        };
        let mut s = match &host {
            Some(h) => format!("{h}/{path}"),
            None => path.clone(),
        };
        if let Some(t) = &tag {
            s = format!("{s}:{t}");
        }
        if let Some(d) = &digest {
            s = format!("{s}@{d}");
        }
        // Long names may be refused (255 bytes); anything else must parse.
        if s.len() < 200 {
            let r = Reference::parse(&s).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
            prop_assert_eq!(r.tag.as_deref(), tag.as_deref());
            prop_assert_eq!(r.digest.as_ref().map(|d| d.to_string()), digest);
            prop_assert!(r.repository.ends_with(&path));
            prop_assert_eq!(Reference::parse(&r.to_string()).unwrap().to_string(), r.to_string());
        }
    }

    #[test]
    fn digest_parse_never_panics_and_round_trips(s in any_text()) {
        if let Ok(d) = Digest::parse(&s) {
            prop_assert_eq!(Digest::parse(&d.to_string()).unwrap(), d.clone());
            prop_assert_eq!(d.to_string(), s);
        }
    }

    #[test]
    fn images_repo_parse_never_panics_and_round_trips(s in any_text()) {
        if let Ok(r) = ImagesRepo::parse(&s) {
            prop_assert_eq!(ImagesRepo::parse(&r.to_string()).unwrap(), r);
        }
    }

    #[test]
    fn tag_rules_never_panic_and_agree_with_the_grammar(s in any_text()) {
        let grammar = {
            let mut chars = s.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
                && s.len() <= 128
        };
        prop_assert_eq!(validate_tag(&s).is_ok(), grammar);
        let _ = validate_image_name(&s);
    }

    #[test]
    fn challenge_parse_never_panics(s in any_text()) {
        let _ = Challenge::parse(&s);
        let _ = Challenge::parse(&format!("Bearer {s}"));
        let _ = Scope::parse_list(&s);
    }

    #[test]
    fn bearer_challenges_round_trip(
        realm in "[ -~]{0,40}",
        service in proptest::option::of("[ -~]{0,20}"),
        scope in proptest::option::of("[ -~]{0,40}"),
    ) {
        let quote = |v: &str| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""));
        let mut header = format!("Bearer realm={}", quote(&realm));
        if let Some(s) = &service {
            header.push_str(&format!(",service={}", quote(s)));
        }
        if let Some(s) = &scope {
            header.push_str(&format!(", scope={}", quote(s)));
        }
        prop_assert_eq!(
            Challenge::parse(&header),
            Some(Challenge::Bearer { realm, service, scope, error: None })
        );
    }

    #[test]
    fn scopes_round_trip(
        name in "[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,2}",
        actions in proptest::collection::btree_set("[a-z*]{1,6}", 1..4),
    ) {
        let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
        let scope = Scope::repository(&name, &actions);
        prop_assert_eq!(Scope::parse_list(&scope.to_string()), vec![scope]);
    }

    #[test]
    fn link_headers_never_panic(values in proptest::collection::vec(any_text(), 0..4)) {
        let base = url::Url::parse("https://r.example/v2/a/tags/list?n=10").unwrap();
        let mut h = HeaderMap::new();
        for v in &values {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.append(LINK, v);
            }
        }
        let _ = next_link(&h, &base);
    }

    #[test]
    fn link_next_targets_round_trip(last in "[A-Za-z0-9_.-]{1,30}", n in 1u32..10_000) {
        let base = url::Url::parse("https://r.example/v2/a/tags/list").unwrap();
        let mut h = HeaderMap::new();
        let target = format!("/v2/a/tags/list?last={last}&n={n}");
        h.insert(LINK, HeaderValue::from_str(&format!("<{target}>; rel=\"next\"")).unwrap());
        prop_assert_eq!(next_link(&h, &base), Some(base.join(&target).unwrap()));
    }

    #[test]
    fn retry_after_never_panics(s in any_text(), secs in any::<u64>()) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let _ = parse_retry_after(&s, now);
        prop_assert_eq!(parse_retry_after(&secs.to_string(), now), Some(Duration::from_secs(secs)));
    }

    #[test]
    fn retry_after_dates_round_trip(offset in 0u64..10_000_000) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let date = httpdate::fmt_http_date(now + Duration::from_secs(offset));
        prop_assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(offset)));
    }

    #[test]
    fn manifests_of_any_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        media_type in proptest::option::of(any_text()),
    ) {
        let m = Manifest::new(Bytes::from(bytes), media_type.as_deref());
        let _ = m.fields();
        let _ = m.blobs();
        prop_assert_eq!(m.descriptor().digest, m.digest);
    }

    #[test]
    fn manifests_of_json_shaped_input_never_panic(json in json_value()) {
        let bytes = Bytes::from(serde_json::to_vec(&json).unwrap());
        for media_type in [None, Some(OCI_MANIFEST), Some(OCI_INDEX), Some("text/plain")] {
            let m = Manifest::new(bytes.clone(), media_type);
            let _ = m.fields();
            let _ = m.blobs();
        }
    }

    #[test]
    fn config_files_never_panic(text in config_text()) {
        let _ = config::parse(&text, std::path::Path::new("dockhand.yaml"));
    }

    #[test]
    fn docker_configs_never_panic(json in docker_config(), host in "[a-z.]{1,12}(:[0-9]{1,5})?") {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, json).unwrap();
        if let Ok(store) = CredentialStore::load(Some(&path)) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            for h in [host.as_str(), "docker.io", "index.docker.io", "r.example"] {
                let _ = rt.block_on(store.lookup(h));
            }
        }
    }
}

/// Arbitrary JSON, with the manifest field names often enough to reach the typed fields.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let key = prop_oneof![
        Just("schemaVersion".to_string()),
        Just("mediaType".to_string()),
        Just("config".to_string()),
        Just("layers".to_string()),
        Just("manifests".to_string()),
        Just("subject".to_string()),
        Just("digest".to_string()),
        Just("size".to_string()),
        Just("annotations".to_string()),
        Just("platform".to_string()),
        "[a-z]{1,6}",
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        any_text().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// YAML-ish text: the config's keys and values, line by line, with indentation and document
/// separators, so the parser gets past the YAML layer into dockhand's own checks.
fn config_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("---".to_string()),
        Just("project: demo".to_string()),
        Just("configVersion: 1".to_string()),
        Just("image: app".to_string()),
        Just("image: ~".to_string()),
        Just("cleanup:".to_string()),
        Just("artifact: x".to_string()),
        Just("from: alpine".to_string()),
        (
            prop_oneof![
                Just("images_repo"),
                Just("concurrency"),
                Just("max_manifest_size"),
                Just("insecure_registry"),
                Just("keep_last"),
                Just("keep_younger_than"),
                Just("source"),
                Just("grace"),
                Just("no_probe"),
            ],
            any_text(),
        )
            .prop_map(|(k, v)| format!("{k}: {v}")),
        any_text(),
    ];
    proptest::collection::vec((0usize..3, line), 0..12).prop_map(|lines| {
        lines
            .into_iter()
            .map(|(indent, l)| format!("{}{l}\n", "  ".repeat(indent)))
            .collect()
    })
}

/// A Docker config: `auths` entries with any `auth`/`username`/`password`/`identitytoken`
/// (no `credsStore` or `credHelpers`, which would run programs), or any text.
fn docker_config() -> impl Strategy<Value = String> {
    let field = proptest::option::of(prop_oneof![
        any_text(),
        "[A-Za-z0-9+/=]{0,24}",
        any::<Vec<u8>>().prop_map(|b| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(b)
        }),
    ]);
    let entry = (field.clone(), field.clone(), field.clone(), field).prop_map(
        |(auth, username, password, identitytoken)| {
            serde_json::json!({
                "auth": auth, "username": username, "password": password,
                "identitytoken": identitytoken,
            })
        },
    );
    prop_oneof![
        proptest::collection::btree_map(
            prop_oneof![
                any_text(),
                Just("https://index.docker.io/v1/".to_string()),
                Just("docker.io".to_string()),
                Just("r.example".to_string()),
            ],
            entry,
            0..4
        )
        .prop_map(|auths| serde_json::json!({ "auths": auths }).to_string()),
        any_text(),
    ]
}
