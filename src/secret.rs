//! Secrets: a type that never prints its value, and a scrubber for everything that is printed.
//!
//! Every secret the program reads is registered here; the log and error printers pass their text
//! through [`scrub`], so a secret that slips into a message (an echoed header, a URL) is still
//! masked. On GitHub the same list feeds `::add-mask::`.

use std::fmt;
use std::sync::{Mutex, OnceLock};

fn registry() -> &'static Mutex<Vec<String>> {
    static SECRETS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Remembers `value` so that [`scrub`] masks it. Very short values are not registered: masking
/// every "a" in the output would help nobody.
pub fn register(value: &str) {
    if value.len() < 4 {
        return;
    }
    let mut list = registry().lock().unwrap_or_else(|p| p.into_inner());
    if !list.iter().any(|s| s == value) {
        list.push(value.to_string());
        // Longest first, so that a secret containing another is masked whole.
        list.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// All registered secrets (for `::add-mask::`).
pub fn registered() -> Vec<String> {
    registry().lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Replaces every registered secret in `text` with `***`.
pub fn scrub(text: &str) -> String {
    let list = registry().lock().unwrap_or_else(|p| p.into_inner());
    let mut out = text.to_string();
    for s in list.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

/// A secret string: registered on creation, `***` in Debug and Display.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        register(&value);
        Secret(value)
    }
    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A URL fit for a log line: no user info, and query values other than a few harmless ones
/// replaced (presigned storage URLs carry their credential in the query).
pub fn redact_url(url: &url::Url) -> String {
    const SAFE: &[&str] = &[
        "n",
        "last",
        "digest",
        "mount",
        "from",
        "service",
        "scope",
        "tag",
        "artifactType",
    ];
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if SAFE.contains(&k.as_ref()) {
                    v.into_owned()
                } else {
                    "***".to_string()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    scrub(u.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        assert_eq!(scrub("token=hunter2-very-secret;"), "token=***;");
    }

    #[test]
    fn urls_lose_credentials() {
        let u = url::Url::parse("https://user:pw@s3.example/blob?X-Amz-Signature=abc&n=5").unwrap();
        let r = redact_url(&u);
        assert!(!r.contains("pw") && !r.contains("abc"), "{r}");
        assert!(r.contains("n=5"), "{r}");
    }
}
