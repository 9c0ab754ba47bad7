//! What the vendor REST APIs share, so each implementation file keeps only what its vendor does
//! differently: one percent-encoder for path segments, one time parser for the formats the
//! vendors write, and the vendor error envelopes behind one trait ([`VendorError`]).

use std::time::{Duration, SystemTime};

use serde::Deserialize;

/// Percent-encodes one URL path segment: everything but RFC 3986's unreserved characters
/// (`A–Z a–z 0–9 - . _ ~`) and `:` (digests stay `sha256:…`), so `/` becomes `%2F` and a
/// repository path stays one segment. Harbor decodes its repository segment twice and encodes
/// it twice; GitHub's package names are one segment (`a/b` → `a%2Fb`).
/// (RFC 3986 §2.3: <https://www.rfc-editor.org/rfc/rfc3986#section-2.3>.)
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A time as the vendor APIs write it:
/// - RFC 3339 with `Z` or any offset (`2019-01-06T16:49:51.272+00:00`, GitLab), a space for the
///   `T`, fractions longer than nanoseconds (ACR's 7 digits are fine; longer ones are cut);
/// - RFC 2822 in UTC (`Mon, 06 Jan 2025 10:00:00 -0000`, Quay's `last_modified`); other
///   offsets there are not read (no vendor sends them).
pub fn parse_time(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    rfc3339(s).or_else(|| rfc2822_utc(s))
}

/// RFC 3339 with the offset applied and the fraction cut to nanoseconds. humantime reads the
/// rest; its weak parser would take `+02:00` but ignore it, so the offset is split off first.
fn rfc3339(s: &str) -> Option<SystemTime> {
    let t = s.find('T').or_else(|| s.find(' '))?;
    let (date, time) = s.split_at(t);
    let (time, offset) = match time.strip_suffix('Z').or_else(|| time.strip_suffix('z')) {
        Some(time) => (time, None),
        None => match time.rfind(['+', '-']) {
            Some(pos) => {
                let (time, offset) = time.split_at(pos);
                (time, Some(offset))
            }
            None => (time, None),
        },
    };
    // humantime reads up to nanoseconds: cut a longer fraction.
    let time = match time.split_once('.') {
        Some((whole, frac)) => {
            let digits: String = frac
                .chars()
                .take_while(char::is_ascii_digit)
                .take(9)
                .collect();
            if digits.is_empty() {
                whole.to_string()
            } else {
                format!("{whole}.{digits}")
            }
        }
        None => time.to_string(),
    };
    let local = humantime::parse_rfc3339_weak(&format!("{date}{time}")).ok()?;
    let Some(offset) = offset else {
        return Some(local);
    };
    let digits: String = offset[1..].chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() != 4 {
        return None;
    }
    let hours: u64 = digits[..2].parse().ok()?;
    let minutes: u64 = digits[2..].parse().ok()?;
    let shift = Duration::from_secs((hours * 60 + minutes) * 60);
    // Local time = UTC + offset, so UTC = local − offset.
    if offset.starts_with('-') {
        local.checked_add(shift)
    } else {
        local.checked_sub(shift)
    }
}

/// `Mon, 06 Jan 2025 10:00:00 -0000` (or `+0000`, `GMT`, `UTC`): an HTTP date in UTC.
fn rfc2822_utc(s: &str) -> Option<SystemTime> {
    let utc = s
        .strip_suffix("-0000")
        .or_else(|| s.strip_suffix("+0000"))
        .or_else(|| s.strip_suffix("GMT"))
        .or_else(|| s.strip_suffix("UTC"))?;
    httpdate::parse_http_date(&format!("{} GMT", utc.trim())).ok()
}

/// One entry of the OCI Distribution error envelope `{"errors":[{"code","message"}]}`
/// (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes>), which
/// Harbor and Quay also use for their own APIs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct OciError {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

impl OciError {
    /// The first error of an envelope in `body`, if the body is one.
    pub fn first(body: &str) -> Option<OciError> {
        #[derive(Deserialize)]
        struct Envelope {
            #[serde(default)]
            errors: Vec<OciError>,
        }
        serde_json::from_str::<Envelope>(body)
            .ok()
            .and_then(|e| e.errors.into_iter().next())
    }

    /// The first error's code, when it has a non-empty one.
    pub fn first_code(body: &str) -> Option<String> {
        OciError::first(body)
            .and_then(|e| e.code)
            .filter(|c| !c.is_empty())
    }
}

/// A vendor API's error body: the code and the text it gives, read the one way every
/// implementation words an error (`detail`: the text, else the body's start).
pub trait VendorError: Sized {
    /// The envelope in `body`, if the body is one.
    fn parse(body: &str) -> Option<Self>;
    /// The error code (`DENIED`, `UNAUTHORIZED`, …), where the vendor sends one.
    fn code(&self) -> Option<String> {
        None
    }
    /// The human text.
    fn text(&self) -> Option<String>;

    /// The envelope's text, else the body's first 200 characters (trimmed).
    fn detail(body: &str) -> String {
        Self::parse(body)
            .and_then(|e| e.text())
            .unwrap_or_else(|| excerpt(body))
    }
}

/// The start of a body that is no known envelope: 200 characters, trimmed.
pub fn excerpt(body: &str) -> String {
    body.chars()
        .take(200)
        .collect::<String>()
        .trim()
        .to_string()
}

impl VendorError for OciError {
    fn parse(body: &str) -> Option<OciError> {
        OciError::first(body)
    }
    fn code(&self) -> Option<String> {
        self.code.clone()
    }
    fn text(&self) -> Option<String> {
        self.message.clone()
    }
}

/// The `{"message": …}` / `{"error": …}` / `{"detail": …}` bodies of GitHub
/// (`{"message","documentation_url"}`, https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api),
/// GitLab (https://docs.gitlab.com/ee/api/rest/troubleshooting.html) and Docker Hub. A value
/// that is not a string (GitLab's validation errors are objects) is shown as JSON.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MessageError {
    #[serde(default)]
    pub message: Option<serde_json::Value>,
    #[serde(default)]
    pub error: Option<serde_json::Value>,
    #[serde(default)]
    pub detail: Option<serde_json::Value>,
}

impl MessageError {
    fn show(v: &Option<serde_json::Value>) -> Option<String> {
        v.as_ref().map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }
    pub fn message(&self) -> Option<String> {
        Self::show(&self.message)
    }
    /// GitLab's OAuth-style `error` (`insufficient_scope`, …).
    pub fn error(&self) -> Option<String> {
        Self::show(&self.error)
    }
}

impl VendorError for MessageError {
    fn parse(body: &str) -> Option<MessageError> {
        serde_json::from_str(body).ok()
    }
    /// `message`, else `error`, else `detail`.
    fn text(&self) -> Option<String> {
        self.message()
            .or_else(|| self.error())
            .or_else(|| Self::show(&self.detail))
    }
}

/// Docker Hub's API bodies: `{"detail": …}` before `{"message": …}`, strings only
/// (https://docs.docker.com/reference/api/hub/latest/).
pub struct HubError(MessageError);

impl VendorError for HubError {
    fn parse(body: &str) -> Option<HubError> {
        MessageError::parse(body).map(HubError)
    }
    fn text(&self) -> Option<String> {
        let text = |v: &Option<serde_json::Value>| v.as_ref()?.as_str().map(str::to_string);
        text(&self.0.detail).or_else(|| text(&self.0.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(s: &str) -> SystemTime {
        humantime::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn segments_keep_unreserved_and_colon() {
        assert_eq!(encode_segment("a/b/c.d_e-f~"), "a%2Fb%2Fc.d_e-f~");
        assert_eq!(encode_segment("sha256:ab"), "sha256:ab");
        assert_eq!(encode_segment("a b"), "a%20b");
        assert_eq!(encode_segment(&encode_segment("team/app")), "team%252Fapp");
    }

    #[test]
    fn rfc3339_with_any_offset() {
        let utc = parse_time("2019-01-06T16:49:51.272+00:00").unwrap();
        assert_eq!(parse_time("2019-01-06T16:49:51.272Z").unwrap(), utc);
        assert_eq!(parse_time("2019-01-06T18:49:51.272+02:00").unwrap(), utc);
        assert_eq!(parse_time("2019-01-06T11:49:51.272-05:00").unwrap(), utc);
        let z = parse_time("2019-01-06T16:49:51Z").unwrap();
        assert_eq!(
            z.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_546_793_391
        );
        assert_eq!(
            parse_time(" 2024-06-01 10:00:00 ").unwrap(),
            at("2024-06-01T10:00:00Z")
        );
    }

    #[test]
    fn long_fractions_are_cut() {
        let t = parse_time("2024-05-01T12:00:21.0856539Z").unwrap();
        assert_eq!(t, at("2024-05-01T12:00:21.0856539Z"));
        assert_eq!(
            parse_time("2024-05-01T12:00:21.123456789123Z").unwrap(),
            at("2024-05-01T12:00:21.123456789Z")
        );
    }

    #[test]
    fn rfc2822_in_utc_only() {
        let t = parse_time("Mon, 06 Jan 2025 10:00:00 -0000").unwrap();
        assert_eq!(t, at("2025-01-06T10:00:00Z"));
        assert_eq!(parse_time("Mon, 06 Jan 2025 10:00:00 +0200"), None);
    }

    #[test]
    fn not_a_time() {
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time(""), None);
    }

    #[test]
    fn oci_error_envelope() {
        let e = OciError::first(r#"{"errors":[{"code":"DENIED","message":"no"},{"code":"X"}]}"#);
        assert_eq!(
            e,
            Some(OciError {
                code: Some("DENIED".into()),
                message: Some("no".into())
            })
        );
        assert_eq!(OciError::first_code(r#"{"errors":[{"code":""}]}"#), None);
        assert_eq!(OciError::first_code("404 page not found"), None);
    }

    #[test]
    fn vendor_envelopes() {
        assert_eq!(
            MessageError::detail(r#"{"message":"Bad credentials","documentation_url":"x"}"#),
            "Bad credentials"
        );
        assert_eq!(
            MessageError::detail(r#"{"error":"insufficient_scope"}"#),
            "insufficient_scope"
        );
        assert_eq!(
            MessageError::detail(r#"{"message":{"name":["taken"]}}"#),
            r#"{"name":["taken"]}"#
        );
        assert_eq!(
            MessageError::detail("  <html>oops</html> "),
            "<html>oops</html>"
        );
        assert_eq!(HubError::detail(r#"{"detail":"d","message":"m"}"#), "d");
        assert_eq!(HubError::detail(r#"{"message":"m"}"#), "m");
        assert_eq!(
            OciError::detail(r#"{"errors":[{"code":"DENIED","message":"no"}]}"#),
            "no"
        );
        assert_eq!(
            OciError::parse(r#"{"errors":[{"code":"DENIED"}]}"#).and_then(|e| e.code()),
            Some("DENIED".to_string())
        );
        assert_eq!(excerpt(&"x".repeat(300)).len(), 200);
    }
}
