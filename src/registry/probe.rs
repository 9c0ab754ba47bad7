//! Detection's network step: one unauthenticated look at an unknown host, cached per host.
//!
//! `GET /v2/` shows the challenge; only when its realm points at a product that declares a
//! confirming request (Harbor, Quay) is one more anonymous request made. No credentials are ever
//! sent while the host is unknown.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use reqwest::Method;

use super::distribution::Distribution;
use super::transport::Request;
use crate::detect::{
    CiHints, Detection, ProbeFacts, Unprobed, confirmation_for, detect_offline, fallback,
    fallback_unprobed, interpret_probe,
};
use crate::error::Result;
use crate::implementation::Implementation;

fn cache() -> &'static Mutex<HashMap<String, Detection>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Detection>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The whole detection order for one registry host.
pub async fn detect(
    oci: &Distribution,
    host: &str,
    explicit: Option<Implementation>,
    ci: &CiHints,
    probe: bool,
) -> Detection {
    if let Some(d) = detect_offline(host, explicit, ci) {
        return d;
    }
    if !probe {
        return fallback_unprobed(host, Unprobed::Off);
    }
    let key = host.to_ascii_lowercase();
    if let Some(d) = cache().lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return d.clone();
    }
    let api_host = crate::implementation::registry_api_host(host);
    let d = match probe_facts(oci, &api_host).await {
        Ok(facts) => interpret_probe(host, &facts).unwrap_or_else(|| fallback(host)),
        Err(e) => {
            crate::log::warn(&format!(
                "could not probe {host} ({e}); detecting it without the probe"
            ));
            fallback_unprobed(host, Unprobed::Unreachable)
        }
    };
    cache()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, d.clone());
    d
}

/// How long detection's look at a host may take in all: one attempt, no retry. Capped by
/// `--connect-timeout`, so that a small connect timeout also shortens the probe.
pub const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Collects what anonymous requests show about a host.
pub async fn probe_facts(oci: &Distribution, host: &str) -> Result<ProbeFacts> {
    let limit = PROBE_TIMEOUT.min(oci.transport().config().connect_timeout);
    let (_, headers) = oci.transport().probe_ping(host, limit).await?;
    let challenge = headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut facts = ProbeFacts {
        headers: headers.keys().map(|k| k.as_str().to_string()).collect(),
        challenge,
        ..Default::default()
    };
    if let Some(confirm) = confirmation_for(facts.challenge.as_deref()) {
        let v = get_json(oci, host, confirm.path).await;
        if v.is_some_and(|v| (confirm.check)(&v)) {
            facts.confirmed = Some(confirm.implementation);
        }
    }
    Ok(facts)
}

async fn get_json(oci: &Distribution, host: &str, path: &str) -> Option<serde_json::Value> {
    let base = oci.transport().base_url(host).await.ok()?;
    let mut req = Request::new(Method::GET, base.join(path).ok()?);
    req.registry_auth = false;
    let resp = oci.transport().send(req).await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json().await.ok()
}
