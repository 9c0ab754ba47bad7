//! Registry authentication: `WWW-Authenticate` challenges, token scopes, and a token cache.
//!
//! Distribution's flow (https://distribution.github.io/distribution/spec/auth/jwt; see also
//! docs/registries.md#authentication): a request gets 401 with a challenge; Basic means
//! "resend with credentials", Bearer means "fetch a token from the realm for these scopes".
//! Tokens are cached per (realm, service, scope set, identity) and a token whose actions include
//! `*` or a superset of the needed ones is reused.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::secret::Secret;

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic {
        realm: String,
    },
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
        error: Option<String>,
    },
}

impl Challenge {
    /// Parses the first challenge we can use (Bearer preferred over Basic when both are offered).
    pub fn parse(header: &str) -> Option<Challenge> {
        let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        let params = parse_params(rest);
        let get = |k: &str| params.get(k).cloned();
        match scheme.to_ascii_lowercase().as_str() {
            "bearer" => Some(Challenge::Bearer {
                realm: get("realm")?,
                service: get("service"),
                scope: get("scope"),
                error: get("error"),
            }),
            "basic" => Some(Challenge::Basic {
                realm: get("realm").unwrap_or_default(),
            }),
            _ => None,
        }
    }
}

/// `k=v` and `k="quoted, value"` pairs; keys lower-cased.
fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            break;
        }
        if chars.next_if_eq(&'=').is_none() {
            continue;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                .collect::<String>()
                .trim()
                .to_string();
        }
        out.insert(key.trim().to_ascii_lowercase(), value);
    }
    out
}

/// One `repository:<name>:<actions>` style scope with its actions as a set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub kind: String,
    pub name: String,
    pub actions: BTreeSet<String>,
}

impl Scope {
    pub fn repository(name: &str, actions: &[&str]) -> Scope {
        Scope {
            kind: "repository".into(),
            name: name.into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// Parses `type[(class)]:name:actions`; the name may contain `:` (host:port), so the first and
    /// last colons split it. A challenge's scope may hold several, separated by spaces.
    pub fn parse_list(s: &str) -> Vec<Scope> {
        s.split_whitespace()
            .filter_map(|one| {
                let (kind, rest) = one.split_once(':')?;
                let (name, actions) = rest.rsplit_once(':')?;
                Some(Scope {
                    kind: kind.to_string(),
                    name: name.to_string(),
                    actions: actions
                        .split(',')
                        .filter(|a| !a.is_empty())
                        .map(str::to_string)
                        .collect(),
                })
            })
            .collect()
    }

    pub fn covers(&self, other: &Scope) -> bool {
        self.kind == other.kind
            && self.name == other.name
            && (self.actions.contains("*") || other.actions.is_subset(&self.actions))
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let actions: Vec<&str> = self.actions.iter().map(String::as_str).collect();
        write!(f, "{}:{}:{}", self.kind, self.name, actions.join(","))
    }
}

/// Merges scopes so that each (kind, name) appears once with the union of its actions.
pub fn merge_scopes(scopes: impl IntoIterator<Item = Scope>) -> Vec<Scope> {
    let mut by_name: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for s in scopes {
        by_name
            .entry((s.kind, s.name))
            .or_default()
            .extend(s.actions);
    }
    by_name
        .into_iter()
        .map(|((kind, name), actions)| Scope {
            kind,
            name,
            actions,
        })
        .collect()
}

/// The answer of a token endpoint.
#[derive(Debug, serde::Deserialize)]
pub struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl TokenResponse {
    pub fn into_token(self) -> Option<(Secret, Duration)> {
        let token = self.token.filter(|t| !t.is_empty()).or(self.access_token)?;
        // The spec's default lifetime is 60 s when the server does not say.
        let ttl = Duration::from_secs(self.expires_in.unwrap_or(60).max(1));
        Some((Secret::new(token), ttl))
    }
}

#[derive(Debug, Clone)]
struct CachedToken {
    scopes: Vec<Scope>,
    token: Secret,
    refresh_at: Instant,
}

/// Tokens by (realm, service, identity); each entry lists the scopes it was granted for.
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<(String, String, String), Vec<CachedToken>>>,
}

/// Refresh this long before expiry so a token does not die in flight.
const EARLY: Duration = Duration::from_secs(10);

impl TokenCache {
    /// A live token whose scopes cover all of `wanted`.
    pub fn get(&self, key: &(String, String, String), wanted: &[Scope]) -> Option<Secret> {
        let now = Instant::now();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(key)?.iter().find_map(|t| {
            let live = t.refresh_at > now;
            let covers = wanted.iter().all(|w| t.scopes.iter().any(|s| s.covers(w)));
            (live && covers).then(|| t.token.clone())
        })
    }

    pub fn put(
        &self,
        key: (String, String, String),
        scopes: Vec<Scope>,
        token: Secret,
        ttl: Duration,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let list = entries.entry(key).or_default();
        let now = Instant::now();
        list.retain(|t| t.refresh_at > now && t.scopes != scopes);
        let margin = EARLY.min(ttl / 2);
        list.push(CachedToken {
            scopes,
            token,
            refresh_at: now + ttl - margin,
        });
    }

    /// Forgets a token the server called invalid.
    pub fn evict(&self, key: &(String, String, String), token: &Secret) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = entries.get_mut(key) {
            list.retain(|t| &t.token != token);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_with_commas_in_quotes() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.example/token",service="reg.example",scope="repository:a/b:pull,push",error="insufficient_scope""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("reg.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
                error: Some("insufficient_scope".into()),
            }
        );
    }

    #[test]
    fn parses_basic_and_unquoted() {
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic {
                realm: "Registry Realm".into()
            })
        );
        assert_eq!(
            Challenge::parse("bearer realm=https://x/token, service=x"),
            Some(Challenge::Bearer {
                realm: "https://x/token".into(),
                service: Some("x".into()),
                scope: None,
                error: None
            })
        );
        assert_eq!(Challenge::parse("Negotiate abc"), None);
    }

    #[test]
    fn scope_names_may_hold_colons() {
        let s = Scope::parse_list("repository:localhost:5000/a:pull,push registry:catalog:*");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "localhost:5000/a");
        assert_eq!(s[0].to_string(), "repository:localhost:5000/a:pull,push");
        assert!(s[1].covers(&Scope {
            kind: "registry".into(),
            name: "catalog".into(),
            actions: ["x".to_string()].into()
        }));
    }

    #[test]
    fn pull_push_does_not_cover_delete_but_star_does() {
        let pp = Scope::repository("a", &["pull", "push"]);
        assert!(pp.covers(&Scope::repository("a", &["pull"])));
        assert!(!pp.covers(&Scope::repository("a", &["delete"])));
        assert!(!pp.covers(&Scope::repository("b", &["pull"])));
        assert!(Scope::repository("a", &["*"]).covers(&Scope::repository("a", &["delete"])));
        let merged = merge_scopes([
            pp,
            Scope::repository("a", &["delete"]),
            Scope::repository("b", &["pull"]),
        ]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].to_string(), "repository:a:delete,pull,push");
    }

    #[test]
    fn cache_reuses_covering_tokens_only() {
        let cache = TokenCache::default();
        let key = ("realm".to_string(), "svc".to_string(), "alice".to_string());
        cache.put(
            key.clone(),
            vec![Scope::repository("a", &["pull", "push"])],
            Secret::new("tok-1-xyz"),
            Duration::from_secs(300),
        );
        assert!(
            cache
                .get(&key, &[Scope::repository("a", &["pull"])])
                .is_some()
        );
        assert!(
            cache
                .get(&key, &[Scope::repository("a", &["delete"])])
                .is_none()
        );
        assert!(
            cache
                .get(&key, &[Scope::repository("b", &["pull"])])
                .is_none()
        );
        // A short-lived token is still used for the first half of its life.
        cache.put(
            key.clone(),
            vec![Scope::repository("c", &["pull"])],
            Secret::new("tok-2-xyz"),
            Duration::from_secs(4),
        );
        assert!(
            cache
                .get(&key, &[Scope::repository("c", &["pull"])])
                .is_some()
        );
        cache.evict(&key, &Secret::new("tok-1-xyz"));
        assert!(
            cache
                .get(&key, &[Scope::repository("a", &["pull"])])
                .is_none()
        );
    }
}
