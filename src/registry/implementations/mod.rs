//! One module per registry implementation (docs/registries.md#per-registry). Each declares its
//! facts as data (an [`Implementation`]'s [`Spec`](crate::implementation::Spec): names,
//! capabilities, host patterns, probe signs) and how to open it; the vendor modules also hold
//! their API client and a [`Registry`] that overrides only what the vendor changes, everything
//! else being the shared OCI data plane.
//!
//! [`REGISTERED`] is the one list of implementations. [`open`] picks the registration of the
//! detected implementation and gives it the [`HostConfig`] (tokens, API URLs, credentials), so
//! vendor logins happen here and nowhere else.

pub mod acr;
pub mod default;
pub mod dockerhub;
pub mod ecr;
pub mod gcr;
pub mod github;
pub mod gitlab;
pub mod harbor;
pub mod quay;

use std::str::FromStr;

use futures_util::future::BoxFuture;

use super::Registry;
use super::distribution::Distribution;
use crate::error::{Error, Result};
use crate::implementation::{Capabilities, Implementation};
use crate::registry::host::HostConfig;

/// Every implementation, in detection order: host patterns and probe signs are tried in this
/// order, and names are listed in it. `default` comes first.
pub static REGISTERED: &[&Registration] = &[
    &default::REGISTRATION,
    &ecr::REGISTRATION,
    &acr::REGISTRATION,
    &dockerhub::REGISTRATION,
    &gcr::REGISTRATION,
    &github::REGISTRATION,
    &gitlab::REGISTRATION,
    &harbor::REGISTRATION,
    &quay::REGISTRATION,
];

/// Opens the registry object of one implementation (see [`open`]).
pub type Open = for<'a> fn(
    Capabilities,
    Distribution,
    &'a str,
    &'a HostConfig,
) -> BoxFuture<'a, Result<Box<dyn Registry>>>;

/// What an implementation module registers.
pub struct Registration {
    pub implementation: Implementation,
    pub open: Open,
}

impl Implementation {
    /// Every registered implementation, in detection order.
    pub fn all() -> impl Iterator<Item = Implementation> {
        REGISTERED.iter().map(|r| r.implementation)
    }
}

impl FromStr for Implementation {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let wanted = s.trim().to_ascii_lowercase();
        // werf's names are the canonical ones; a few spellings people type are accepted too.
        Implementation::all()
            .find(|i| i.name() == wanted || i.spec().aliases.contains(&wanted.as_str()))
            .ok_or_else(|| {
                let names: Vec<&str> = Implementation::all().map(|i| i.name()).collect();
                Error::input(format!("unknown implementation {s:?}"))
                    .with_hint(format!("use one of: {}", names.join(", ")))
            })
    }
}

/// The registry object for a detected implementation. `host` is the registry host of the
/// images repo (`host[:port]`).
pub async fn open(
    caps: Capabilities,
    oci: Distribution,
    host: &str,
    config: &HostConfig,
) -> Result<Box<dyn Registry>> {
    let registration = REGISTERED
        .iter()
        .find(|r| r.implementation == caps.implementation)
        .expect("every implementation is registered");
    (registration.open)(caps, oci, host, config).await
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::detect::{CiHints, Source, Unprobed, detect_offline, fallback_unprobed};
    use crate::implementation::Sign;

    /// Every registration is complete and consistent with the others.
    #[test]
    fn registrations_are_complete_and_consistent() {
        assert_eq!(REGISTERED[0].implementation, Implementation::Default);
        let mut spellings = HashSet::new();
        for i in Implementation::all() {
            let spec = i.spec();
            assert!(!spec.id.is_empty() && !spec.title.is_empty(), "{i}");
            for spelling in std::iter::once(&spec.id).chain(spec.aliases) {
                assert_eq!(spelling.to_ascii_lowercase(), *spelling, "{i}: {spelling}");
                assert!(spellings.insert(*spelling), "{spelling} is used twice");
                assert_eq!(spelling.parse::<Implementation>().unwrap(), i);
            }
            for pattern in spec.hosts {
                assert!(
                    pattern.regex.starts_with('^') && pattern.regex.ends_with('$'),
                    "{i}: {} is not anchored on the whole host",
                    pattern.regex
                );
                let d = detect_offline(pattern.example, None, &CiHints::default())
                    .unwrap_or_else(|| panic!("{i}: {} is not detected", pattern.example));
                assert_eq!((d.implementation, d.source), (i, Source::HostPattern));
                assert_eq!(
                    Capabilities::of(i, pattern.example).implementation,
                    i,
                    "{i}"
                );
            }
            if let Some(p) = &spec.unprobed_prefix {
                let host = format!("{}example.com", p.prefix);
                assert_eq!(fallback_unprobed(&host, Unprobed::Off).implementation, i);
            }
            let signs = spec.probe.proof.iter().chain(spec.probe.hint);
            assert_eq!(signs.count() == 0, spec.probe.reason.is_empty(), "{i}");
            for sign in spec.probe.proof.iter().chain(spec.probe.hint) {
                match sign {
                    Sign::Header(h) => assert_eq!(h.to_ascii_lowercase(), *h, "{i}"),
                    Sign::Challenge(words) => assert!(!words.is_empty(), "{i}"),
                    Sign::Confirmed {
                        realm_any, path, ..
                    } => assert!(!realm_any.is_empty() && !path.starts_with('/'), "{i}"),
                }
            }
        }
    }
}
