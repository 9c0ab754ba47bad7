//! Images in use on Kubernetes clusters (`--keep-in-use kubernetes`): every image the workloads
//! of the kubeconfig's contexts reference, by tag or digest, for cleanup's keep list.
//!
//! - `kubeconfig`: parse and merge kubeconfig files, resolve a context (pure but for the files
//!   an entry names).
//! - `client`: one context's API client (CA, client certificate, token, exec plugins) and paged
//!   lists.
//! - `images`: the images of pods and pod templates, from the lists (pure).
//!
//! A context that cannot be read fails the whole collection (fail closed: nothing is deleted)
//! unless the caller allows skipping unreachable clusters.

pub mod client;
pub mod images;
pub mod kubeconfig;

use std::path::PathBuf;

use crate::cleanup::plan::KeepList;
use crate::error::{Classify, Error, Kind};

pub use client::{ExecCache, HttpOptions};
pub use images::{Images, Workload};

/// Why reading a kubeconfig or a cluster failed.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("cannot read kubeconfig {file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("kubeconfig {file}: {message}")]
    Config { file: String, message: String },
    #[error("kubeconfig {file}, context {context}: {field} {message}")]
    Field {
        file: String,
        context: String,
        field: String,
        message: String,
    },
    #[error("no kubeconfig file defines the context {context:?} (contexts: {known})")]
    UnknownContext { context: String, known: String },
    #[error(
        "kubeconfig {file}, context {context}: users[{user}].user.auth-provider: auth-provider \
         plugins (gcp, azure, oidc) are not supported"
    )]
    AuthProvider {
        file: String,
        context: String,
        user: String,
    },
    #[error("context {context}: exec credential plugin {command}: {message}")]
    Exec {
        context: String,
        command: String,
        message: String,
    },
    #[error("context {context}: {message}")]
    Setup { context: String, message: String },
    #[error("context {context}: cluster {server} is unreachable: {message}")]
    Unreachable {
        context: String,
        server: String,
        message: String,
    },
    #[error(
        "context {context}: the API server refused GET {path} with {status}{}",
        colon(detail)
    )]
    Refused {
        context: String,
        path: String,
        status: u16,
        detail: String,
    },
    #[error("context {context}: GET {path}: the continue token expired (410 Gone) twice")]
    Gone { context: String, path: String },
    #[error("context {context}: GET {path}: {message}")]
    Api {
        context: String,
        path: String,
        message: String,
    },
}

fn colon(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(": {s}")
    }
}

impl KubeError {
    /// Whether `--skip-unreachable-clusters` may skip the context: network failures, TLS, time
    /// outs and server errors. Refusals (401/403), bad answers and bad configuration never are.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, KubeError::Unreachable { .. })
    }
}

impl Classify for KubeError {
    fn kind(&self) -> Kind {
        match self {
            KubeError::Read { .. }
            | KubeError::Config { .. }
            | KubeError::Field { .. }
            | KubeError::UnknownContext { .. }
            | KubeError::AuthProvider { .. }
            | KubeError::Setup { .. } => Kind::Input,
            KubeError::Exec { .. } | KubeError::Refused { .. } => Kind::Auth,
            KubeError::Unreachable { .. } | KubeError::Gone { .. } | KubeError::Api { .. } => {
                Kind::Operation
            }
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            KubeError::AuthProvider { .. } => Some(
                "use an exec credential plugin instead (gke-gcloud-auth-plugin, kubelogin), or \
                 a token"
                    .into(),
            ),
            KubeError::Refused { .. } => Some(
                "the user needs get/list on pods, deployments, statefulsets, daemonsets, \
                 replicasets, jobs and cronjobs in all namespaces"
                    .into(),
            ),
            KubeError::Unreachable { message, .. } if message.contains("certificate") => Some(
                "the server's certificate is not trusted: set the cluster's \
                 certificate-authority(-data), and tls-server-name when the certificate names \
                 another host; nothing is deleted while a cluster's images are unknown"
                    .into(),
            ),
            KubeError::Unreachable { .. } => Some(
                "nothing is deleted while a cluster's images are unknown; pass \
                 --skip-unreachable-clusters to clean up anyway"
                    .into(),
            ),
            KubeError::UnknownContext { .. } => {
                Some("name a context with --kube-context, or leave it out for all".into())
            }
            _ => None,
        }
    }
}

impl From<KubeError> for Error {
    fn from(e: KubeError) -> Self {
        Error::from_layer(e)
    }
}

/// Which contexts to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contexts {
    All,
    Named(Vec<String>),
}

/// What one context gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextReport {
    pub context: String,
    pub server: String,
    pub images: Images,
    /// Pages read across all lists.
    pub pages: usize,
}

/// A context left out under `skip_unreachable`, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub context: String,
    pub reason: String,
}

/// The images in use across the contexts read.
#[derive(Debug, Clone, Default)]
pub struct InUse {
    pub images: Images,
    pub contexts: Vec<ContextReport>,
    pub skipped: Vec<Skipped>,
}

impl InUse {
    /// The keep list the planner takes (`KeepList { digests, references }`).
    pub fn keep_list(&self) -> KeepList {
        let mut k = KeepList::default();
        self.merge_into(&mut k);
        k
    }

    /// Adds these images to an existing keep list (e.g. one read from `--keep-list`).
    /// Each entry records the contexts that use it, for the cleanup report's reason.
    pub fn merge_into(&self, keep: &mut KeepList) {
        keep.digests.extend(self.images.digests.iter().cloned());
        keep.references
            .extend(self.images.references.iter().cloned());
        let mut users: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for c in &self.contexts {
            for entry in c.images.digests.iter().chain(&c.images.references) {
                users.entry(entry).or_default().push(&c.context);
            }
        }
        for (entry, contexts) in users {
            let label = if contexts.len() == 1 {
                "context"
            } else {
                "contexts"
            };
            keep.why.insert(
                entry.to_string(),
                format!("in use on Kubernetes ({label} {})", contexts.join(", ")),
            );
        }
    }

    /// One line per context (and per skipped context), for the log.
    pub fn summary(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for c in &self.contexts {
            let kinds: Vec<String> = c
                .images
                .workloads
                .iter()
                .map(|(k, n)| format!("{n} {}", k.plural()))
                .collect();
            lines.push(format!(
                "context {}: {} references and {} digests in use ({})",
                c.context,
                c.images.references.len(),
                c.images.digests.len(),
                kinds.join(", ")
            ));
        }
        for s in &self.skipped {
            lines.push(format!("context {} skipped: {}", s.context, s.reason));
        }
        lines
    }
}

/// Reads one context: every workload list, all namespaces.
pub async fn collect_context(
    ctx: &kubeconfig::Context,
    options: &HttpOptions,
    exec_cache: &ExecCache,
) -> Result<ContextReport, KubeError> {
    let client = client::ApiClient::connect(ctx, options, exec_cache).await?;
    let mut images = Images::default();
    let mut pages = 0;
    for kind in Workload::ALL {
        let mut of_kind = Images::default();
        pages += client
            .list_pages(kind.path(), &mut |page| match page {
                client::Page::Items(items) => of_kind.add_items(kind, items),
                client::Page::Restart => of_kind = Images::default(),
            })
            .await?;
        images.extend(&of_kind);
    }
    Ok(ContextReport {
        context: ctx.name.clone(),
        server: crate::secret::redact_url(&ctx.cluster.server),
        images,
        pages,
    })
}

/// The images in use in the kubeconfig's contexts (all, or the named ones).
///
/// Fails closed: a context that cannot be read is an error naming it, unless `skip_unreachable`
/// is set and the cluster could not be reached (then a warning, and the result lists it in
/// `skipped`). Configuration errors and refusals (401/403) are never skipped.
pub async fn collect(
    kubeconfig_paths: &[PathBuf],
    contexts: &Contexts,
    skip_unreachable: bool,
    options: &HttpOptions,
) -> Result<InUse, Error> {
    let config = kubeconfig::load(kubeconfig_paths)?;
    let names = match contexts {
        Contexts::All => config.context_names(),
        Contexts::Named(n) => n.clone(),
    };
    if names.is_empty() {
        return Err(Error::input(format!(
            "kubeconfig {}: defines no context",
            kubeconfig_paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(":")
        ))
        .with_hint("--keep-in-use kubernetes needs at least one cluster to read"));
    }
    // Every named context resolves before any request: bad input fails as input.
    let resolved = names
        .iter()
        .map(|n| config.resolve(n))
        .collect::<Result<Vec<_>, _>>()?;
    let exec_cache = ExecCache::default();
    let mut result = InUse::default();
    for ctx in &resolved {
        match collect_context(ctx, options, &exec_cache).await {
            Ok(r) => {
                result.images.extend(&r.images);
                result.contexts.push(r);
            }
            Err(e) if skip_unreachable && e.is_unreachable() => {
                crate::log::warn(&format!(
                    "{e}; skipped (--skip-unreachable-clusters): images in use there are not kept"
                ));
                result.skipped.push(Skipped {
                    context: ctx.name.clone(),
                    reason: e.to_string(),
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
    if result.contexts.is_empty() {
        return Err(Error::operation(format!(
            "no cluster could be read ({} skipped as unreachable)",
            result
                .skipped
                .iter()
                .map(|s| s.context.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .with_hint("nothing is deleted when no cluster says which images are in use"));
    }
    Ok(result)
}
