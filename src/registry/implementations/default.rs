//! `default`: any OCI Distribution / Docker Registry v2 server, through the shared data plane
//! only. Detection falls back to it, so it has no host patterns or probe signs.

use super::Registration;
use crate::implementation::{Capabilities, Implementation, Probe, Spec, Untag};
use crate::registry::{Generic, Registry};

impl Implementation {
    /// Any OCI Distribution / Docker Registry v2 server.
    #[allow(non_upper_case_globals)]
    pub const Default: Implementation = Implementation::of(&SPEC);
}

static SPEC: Spec = Spec {
    id: "default",
    title: "OCI Distribution registry",
    help: "Any OCI Distribution registry",
    aliases: &["generic", "oci", "distribution"],
    capabilities: |_, common| Capabilities {
        untag: Untag::OciTagDeleteOrSafeUntag,
        listing_with_times: false,
        ..common
    },
    hosts: &[],
    unprobed_prefix: None,
    probe: Probe::NONE,
};

pub static REGISTRATION: Registration = Registration {
    implementation: Implementation::Default,
    open: |caps, oci, _, _| {
        Box::pin(async move { Ok(Box::new(Generic::new(caps, oci)) as Box<dyn Registry>) })
    },
};
