//! AWS ECR (docs/registries.md#aws-ecr): the ECR API through `aws-sdk-ecr`, the registry data plane
//! through the shared OCI client.
//!
//! - Credentials: the AWS SDK's standard chain (environment, profile, SSO, web identity, ECS,
//!   instance metadata); the endpoint from `AWS_ENDPOINT_URL_ECR` / `AWS_ENDPOINT_URL` exactly as
//!   given (the SDK reads them), else the regional one the host implies (FIPS, dual-stack and
//!   China partitions follow from the host name).
//! - Registry login: `GetAuthorizationToken` → Basic `AWS:<password>` installed on the transport
//!   for the registry host, renewed before `expiresAt` on the next API call.
//! - Listing: `DescribeImages`, every page, with push times and media types.
//! - Deletion: `BatchDeleteImage`, ≤ 100 ids a call; every `failures[]` entry becomes that id's
//!   outcome. Removing the last tag of an image deletes the image, so an untag first checks that
//!   another tag stays.
//! - Publishing: `CreateRepository` for a repository that `DescribeRepositories` does not know.
//!
//! API calls are retried here (not in the SDK) on throttling and transient errors, with the
//! transport's backoff, so that attempts are bounded and counted in one place.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_sdk_ecr::Client;
use aws_sdk_ecr::config::BehaviorVersion;
use aws_sdk_ecr::config::retry::RetryConfig;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecr::types::{ImageIdentifier, TagStatus};
use base64::Engine;
use futures_util::StreamExt;

use super::Registration;
use crate::error::{Error, Result};
use crate::implementation::{
    Capabilities, Depth, HostPattern, Implementation, Probe, PullRecords, RepositoryListing, Spec,
};
use crate::registry::credentials::Credential;
use crate::registry::distribution::{Deleted, Distribution, Repo};
use crate::registry::paging::Pages;
use crate::registry::retry::RetryPolicy;
use crate::registry::untag::Untagged;
use crate::registry::{Listed, Listing, Pulled, Registry};
use crate::secret::Secret;

/// Ids per `BatchDeleteImage` / `DescribeImages` call (docs/registries.md#aws-ecr: 1–100).
pub const MAX_IDS: usize = 100;
/// Page size asked of `DescribeImages` (its maximum).
const PAGE: i32 = 1000;
/// The documented lifetime of a registry login, used when ECR's `expiresAt` is unusable.
const LOGIN_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Renew a login this long before it expires (or at half its lifetime, if that is shorter).
const LOGIN_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Where the ECR API is, as the registry host says it (or the environment, for a host that is not
/// an ECR host, such as a proxy or a test server forced with `--implementation ecr`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// The registry (account) id; sent as `registryId` with every call when known.
    pub account: Option<String>,
    pub region: Option<String>,
    pub fips: bool,
    pub dual_stack: bool,
}

impl Target {
    /// Account, region, FIPS and dual-stack from an ECR host name:
    /// `<acct>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]` or `<acct>.dkr-ecr[-fips].<region>.on.aws`.
    pub fn from_host(host: &str) -> Option<Target> {
        let name = crate::detect::host_name(host);
        let labels: Vec<&str> = name.split('.').collect();
        let account = *labels.first()?;
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (service, region, rest) = match labels.as_slice() {
            [_, "dkr", service, region, rest @ ..] => (*service, *region, rest),
            [_, service, region, rest @ ..] => (*service, *region, rest),
            _ => return None,
        };
        let dual_stack = match (service, rest) {
            ("ecr" | "ecr-fips", ["amazonaws", "com"] | ["amazonaws", "com", "cn"]) => false,
            ("dkr-ecr" | "dkr-ecr-fips", ["on", "aws"]) => true,
            _ => return None,
        };
        let region_ok = !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return None;
        }
        Some(Target {
            account: Some(account.to_string()),
            region: Some(region.to_string()),
            fips: service.ends_with("-fips"),
            dual_stack,
        })
    }

    /// The target for any registry host: from the host when it is an ECR host, else the region
    /// from `AWS_REGION` / `AWS_DEFAULT_REGION` (`env` looks variables up) and no account.
    pub fn resolve(host: &str, env: &dyn Fn(&str) -> Option<String>) -> Target {
        Target::from_host(host).unwrap_or_else(|| Target {
            region: ["AWS_REGION", "AWS_DEFAULT_REGION"]
                .iter()
                .find_map(|k| env(k).filter(|v| !v.trim().is_empty()))
                .map(|v| v.trim().to_string()),
            ..Target::default()
        })
    }
}

/// The ECR API endpoint the SDK resolves for a region (no endpoint override): e.g.
/// `https://api.ecr.cn-north-1.amazonaws.com.cn`, `https://api.ecr-fips.us-gov-west-1.amazonaws.com`.
pub fn api_endpoint(target: &Target) -> Result<String> {
    use aws_sdk_ecr::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    let region = target
        .region
        .clone()
        .ok_or_else(|| Error::input("no AWS region"))?;
    let params = Params::builder()
        .region(region)
        .use_fips(target.fips)
        .use_dual_stack(target.dual_stack)
        .build()
        .map_err(|e| Error::input(format!("ECR endpoint parameters: {e}")))?;
    let resolver = DefaultResolver::new();
    let endpoint = futures_util::FutureExt::now_or_never(resolver.resolve_endpoint(&params))
        .ok_or_else(|| Error::operation("the ECR endpoint resolver did not answer at once"))?
        .map_err(|e| Error::input(format!("no ECR endpoint for {target:?}: {e}")))?;
    Ok(endpoint.url().to_string())
}

/// The registry login and until when it is good.
#[derive(Debug, Clone, Copy)]
struct Login {
    renew_at: SystemTime,
}

/// When to renew a login obtained at `received` that ECR says expires at `expires`. An expiry
/// already past (a skewed clock, or a test server that sends a fixed old date) falls back to the
/// documented 12 h lifetime instead of renewing on every call.
pub fn renew_at(received: SystemTime, expires: Option<SystemTime>) -> SystemTime {
    let lifetime = expires
        .and_then(|e| e.duration_since(received).ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(LOGIN_LIFETIME);
    received + lifetime - LOGIN_MARGIN.min(lifetime / 2)
}

/// An ECR API error, reduced to what decides what happens next.
#[derive(Debug, Clone)]
struct ApiError {
    code: Option<String>,
    message: String,
    status: Option<u16>,
    /// Worth trying again (throttled, server-side trouble, the connection dropped).
    transient: bool,
}

/// Error codes that mean "slow down" (AWS SDK conventions; `LimitExceededException` is left out:
/// on ECR it is a quota, such as the number of repositories, not a rate).
const THROTTLING: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
];

/// Error codes that mean the AWS credentials are missing, wrong, expired or not allowed.
const AUTH_CODES: &[&str] = &[
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationTokenException",
    "MissingAuthenticationToken",
    "ExpiredTokenException",
    "ExpiredToken",
    "RequestExpired",
];

impl ApiError {
    fn from_sdk<E>(e: SdkError<E, aws_sdk_ecr::config::http::HttpResponse>) -> ApiError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = e.raw_response().map(|r| r.status().as_u16());
        let code = e.code().map(str::to_string);
        let transient = match &e {
            SdkError::TimeoutError(_) => true,
            SdkError::DispatchFailure(d) => d.is_io() || d.is_timeout(),
            SdkError::ResponseError(_) => true,
            SdkError::ServiceError(_) => {
                code.as_deref().is_some_and(|c| {
                    THROTTLING.contains(&c) || c == "ServerException" || c == "InternalFailure"
                }) || status.is_some_and(|s| s == 429 || s >= 500)
            }
            _ => false,
        };
        let message = match e.message() {
            Some(m) => m.to_string(),
            None => aws_sdk_ecr::error::DisplayErrorContext(&e).to_string(),
        };
        ApiError {
            code,
            message,
            status,
            transient,
        }
    }

    fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    fn is_auth(&self) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| AUTH_CODES.contains(&c))
            || matches!(self.status, Some(401 | 403))
    }
}

/// An ECR call's failure as the user sees it: auth problems name the IAM action (exit 3).
fn api_error(action: &str, resource: &str, e: ApiError) -> Error {
    let code = e.code.clone().unwrap_or_else(|| "error".into());
    let text = if resource == "*" {
        format!("ECR {action} failed: {code}: {}", e.message)
    } else {
        format!("ECR {action} on {resource} failed: {code}: {}", e.message)
    };
    if !e.is_auth() {
        return Error::operation(text);
    }
    let hint = match e.code.as_deref() {
        Some(
            "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "InvalidSignatureException"
            | "SignatureDoesNotMatch"
            | "IncompleteSignature",
        ) => "the AWS access key is not valid here: check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY \
              or AWS_PROFILE, and that the key belongs to this partition (China, GovCloud)"
            .to_string(),
        Some("ExpiredTokenException" | "ExpiredToken" | "RequestExpired") => {
            "the AWS session has expired: renew it (aws sso login, a fresh role session or OIDC \
             token), or check the machine's clock"
                .to_string()
        }
        _ => {
            let on = if resource == "*" {
                "on resource \"*\"".to_string()
            } else {
                format!("on {resource}")
            };
            format!(
                "the AWS identity needs the IAM permission ecr:{action} {on} \
                 (an SCP, a permissions boundary or a repository policy may also deny it)"
            )
        }
    };
    Error::auth(text).with_hint(hint)
}

/// Per-id failure codes that are worth retrying (docs/registries.md#aws-ecr).
fn transient_failure(code: &str) -> bool {
    matches!(
        code,
        "TooManyRequests" | "Unavailable" | "UpstreamTooManyRequests" | "UpstreamUnavailable"
    )
}

/// One id of a `BatchDeleteImage` call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Id {
    Digest(String),
    Tag(String),
}

impl Id {
    fn identifier(&self) -> ImageIdentifier {
        match self {
            Id::Digest(d) => ImageIdentifier::builder().image_digest(d).build(),
            Id::Tag(t) => ImageIdentifier::builder().image_tag(t).build(),
        }
    }
    fn matches(&self, i: &ImageIdentifier) -> bool {
        match self {
            Id::Digest(d) => i.image_digest() == Some(d.as_str()),
            Id::Tag(t) => i.image_tag() == Some(t.as_str()),
        }
    }
}

/// What ECR said about one id.
#[derive(Debug, Clone, PartialEq, Eq)]
enum IdOutcome {
    Deleted,
    NotFound,
    /// A `failures[]` entry: code and reason.
    Failed {
        code: String,
        reason: String,
        auth: bool,
    },
    /// The whole call failed.
    CallFailed(Error),
}

/// An image as `DescribeImages` lists it.
#[derive(Debug, Clone, Default)]
struct Image {
    digest: String,
    tags: Vec<String>,
    pushed: Option<SystemTime>,
    /// `lastRecordedPullTime`; absent when never pulled (refreshed about daily).
    pulled: Option<SystemTime>,
    media_type: Option<String>,
}

/// The ECR registry: the SDK client for the API, the OCI client for the data plane.
pub struct Ecr {
    caps: Capabilities,
    oci: Distribution,
    /// The registry host (`host[:port]`) the login is installed for.
    host: String,
    target: Target,
    client: Client,
    login: tokio::sync::Mutex<Option<Login>>,
    /// Repositories known to exist (publish asks once per repository).
    ensured: Mutex<HashSet<String>>,
    retry: RetryPolicy,
}

/// How API calls are retried: the transport's backoff (250 ms doubling, jittered), a little
/// more patient, since ECR throttles per account and per action.
fn api_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 8,
        max_delay: Duration::from_secs(20),
        max_total_wait: Duration::from_secs(120),
        ..RetryPolicy::default()
    }
}

/// Opens the ECR registry for `host`: the AWS configuration from the standard chain, the
/// credentials checked, and the registry login installed on the transport.
pub async fn open(caps: Capabilities, oci: Distribution, host: &str) -> Result<Box<dyn Registry>> {
    if crate::detect::host_name(host) == "public.ecr.aws" {
        // ECR Public is another API (ecr-public, us-east-1); until it has a module its registry
        // is driven the OCI way with the Docker config's credentials.
        crate::log::verbose("public.ecr.aws: ECR Public has no API support yet; using the OCI API");
        return Ok(Box::new(crate::registry::Generic::new(caps, oci)));
    }
    // The AWS variables (region, endpoint) come from the one environment snapshot module.
    let env = crate::env::Env::from_process();
    let target = Target::resolve(host, &|k| env.get(k).map(str::to_owned));
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &target.region {
        loader = loader.region(aws_sdk_ecr::config::Region::new(region.clone()));
    }
    if target.fips {
        loader = loader.use_fips(true);
    }
    if target.dual_stack {
        loader = loader.use_dual_stack(true);
    }
    let sdk = loader.load().await;
    let Some(region) = sdk.region() else {
        return Err(Error::input(format!(
            "no AWS region for the ECR API of {host}: the host does not name one"
        ))
        .with_hint("set AWS_REGION (or AWS_DEFAULT_REGION, or region in the AWS profile)"));
    };
    let target = Target {
        region: Some(region.to_string()),
        ..target
    };
    check_credentials(&sdk).await?;
    let config = aws_sdk_ecr::config::Builder::from(&sdk).build();
    let ecr = Ecr::new(caps, oci, host, target, config);
    ecr.login().await?;
    Ok(Box::new(ecr))
}

/// Resolves the credentials once, so that missing or broken ones fail before anything is sent,
/// with the chain's own explanation.
async fn check_credentials(sdk: &aws_config::SdkConfig) -> Result<()> {
    use aws_credential_types::provider::error::CredentialsError;
    use aws_sdk_ecr::config::ProvideCredentials;
    let Some(provider) = sdk.credentials_provider() else {
        return Err(no_credentials(
            "the AWS configuration has no credentials provider",
        ));
    };
    match provider.provide_credentials().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let detail = aws_sdk_ecr::error::DisplayErrorContext(&e).to_string();
            Err(match e {
                CredentialsError::CredentialsNotLoaded(_) => no_credentials(&detail),
                CredentialsError::InvalidConfiguration(_) => {
                    Error::input(format!("the AWS configuration is invalid: {detail}"))
                }
                CredentialsError::ProviderTimedOut(_) => {
                    Error::operation(format!("AWS credentials timed out: {detail}"))
                }
                _ => Error::auth(format!("AWS credentials could not be obtained: {detail}"))
                    .with_hint("check the AWS profile, SSO session or web identity token"),
            })
        }
    }
}

fn no_credentials(detail: &str) -> Error {
    Error::input(format!("no AWS credentials for ECR: {detail}")).with_hint(
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a web identity \
         (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, as GitHub and GitLab OIDC provide)",
    )
}

impl Ecr {
    /// An ECR registry on an SDK configuration made by the caller (tests point it at a fake).
    /// The SDK's own retries are turned off: `call` retries, bounded and logged, and the two
    /// would multiply.
    pub fn new(
        caps: Capabilities,
        oci: Distribution,
        host: &str,
        target: Target,
        config: aws_sdk_ecr::Config,
    ) -> Ecr {
        Ecr {
            caps,
            oci,
            host: host.to_string(),
            target,
            client: Client::from_conf(
                config
                    .to_builder()
                    .retry_config(RetryConfig::disabled())
                    .build(),
            ),
            login: tokio::sync::Mutex::new(None),
            ensured: Mutex::new(HashSet::new()),
            retry: api_retry(),
        }
    }

    /// The registry id sent with each call (the account, when the host names it).
    pub fn registry_id(&self) -> Option<&str> {
        self.target.account.as_deref()
    }

    fn resource(&self, repo: Option<&str>) -> String {
        let region = self.target.region.as_deref().unwrap_or("*");
        let account = self.target.account.as_deref().unwrap_or("*");
        let partition = if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        };
        match repo {
            Some(r) => format!("arn:{partition}:ecr:{region}:{account}:repository/{r}"),
            // GetAuthorizationToken takes no resource in IAM.
            None => "*".to_string(),
        }
    }

    /// Runs one API call, retrying throttling and transient failures with backoff.
    async fn call<T, E, F, Fut>(&self, action: &str, f: F) -> std::result::Result<T, ApiError>
    where
        F: Fn() -> Fut,
        Fut: Future<
            Output = std::result::Result<T, SdkError<E, aws_sdk_ecr::config::http::HttpResponse>>,
        >,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let mut attempt = 1;
        let mut waited = Duration::ZERO;
        loop {
            let e = match f().await {
                Ok(v) => return Ok(v),
                Err(e) => ApiError::from_sdk(e),
            };
            if e.transient
                && let Some(delay) = self.retry.next_delay(attempt, None, waited)
            {
                crate::log::verbose(&format!(
                    "ECR {action}: {} ({}); trying again in {delay:?}",
                    e.code.as_deref().unwrap_or("transient error"),
                    e.message
                ));
                tokio::time::sleep(delay).await;
                attempt += 1;
                waited += delay;
                continue;
            }
            return Err(e);
        }
    }

    /// Logs in to the registry (`GetAuthorizationToken`) if there is no login yet or it is due
    /// for renewal, and installs `AWS:<password>` for the registry host.
    pub async fn login(&self) -> Result<()> {
        let mut login = self.login.lock().await;
        if login.is_some_and(|l| SystemTime::now() < l.renew_at) {
            return Ok(());
        }
        let out = self
            .call("GetAuthorizationToken", || {
                self.client.get_authorization_token().send()
            })
            .await
            .map_err(|e| api_error("GetAuthorizationToken", &self.resource(None), e))?;
        let data = out
            .authorization_data()
            .first()
            .ok_or_else(|| Error::operation("ECR GetAuthorizationToken returned no token"))?;
        let token = Secret::new(data.authorization_token().unwrap_or_default());
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token.expose().trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                Error::operation("ECR GetAuthorizationToken returned a token that is not base64")
            })?;
        let (user, password) = decoded.split_once(':').ok_or_else(|| {
            Error::operation("ECR GetAuthorizationToken returned a token without user:password")
        })?;
        let password = Secret::new(password);
        let received = SystemTime::now();
        let expires = data
            .expires_at()
            .and_then(|t| SystemTime::try_from(*t).ok());
        let renew = renew_at(received, expires);
        self.oci.transport().set_credential(
            &self.host,
            Credential::basic(user, password.expose().to_string()),
        );
        crate::log::verbose(&format!(
            "ECR: logged in to {} as {user} (renewed after {})",
            self.host,
            humantime::format_rfc3339_seconds(renew)
        ));
        *login = Some(Login { renew_at: renew });
        Ok(())
    }

    /// Every image of a repository (all `DescribeImages` pages); `None` when it does not exist.
    async fn images(&self, repo: &Repo) -> Result<Option<Vec<Image>>> {
        let mut images = Vec::new();
        let mut next: Option<String> = None;
        let mut pages = Pages::new(format!("ECR's DescribeImages of {}", repo.name));
        loop {
            pages.visit(&format!(
                "the page of nextToken {}",
                next.as_deref().unwrap_or("(start)")
            ))?;
            let page = self
                .call("DescribeImages", || {
                    self.client
                        .describe_images()
                        .set_registry_id(self.target.account.clone())
                        .repository_name(&repo.name)
                        .filter(
                            aws_sdk_ecr::types::DescribeImagesFilter::builder()
                                .tag_status(TagStatus::Any)
                                .build(),
                        )
                        .max_results(PAGE)
                        .set_next_token(next.clone())
                        .send()
                })
                .await;
            let page = match page {
                Ok(p) => p,
                Err(e) if e.is("RepositoryNotFoundException") => return Ok(None),
                Err(e) => {
                    return Err(api_error(
                        "DescribeImages",
                        &self.resource(Some(&repo.name)),
                        e,
                    ));
                }
            };
            for d in page.image_details() {
                let Some(digest) = d.image_digest() else {
                    continue;
                };
                images.push(Image {
                    digest: digest.to_string(),
                    tags: d.image_tags().to_vec(),
                    pushed: d
                        .image_pushed_at()
                        .and_then(|t| SystemTime::try_from(*t).ok()),
                    pulled: d
                        .last_recorded_pull_time()
                        .and_then(|t| SystemTime::try_from(*t).ok()),
                    media_type: d.image_manifest_media_type().map(str::to_string),
                });
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_string()),
                _ => return Ok(Some(images)),
            }
        }
    }

    /// `BatchDeleteImage` for `ids`, ≤ 100 per call, calls run `concurrency` at a time; the
    /// outcome of each id, in order. Ids that fail with a transient code are sent again.
    async fn batch_delete(&self, repo: &Repo, ids: &[Id], concurrency: usize) -> Vec<IdOutcome> {
        let chunks: Vec<Vec<Id>> = ids.chunks(MAX_IDS).map(<[Id]>::to_vec).collect();
        let results: Vec<Vec<IdOutcome>> = futures_util::stream::iter(chunks)
            .map(|chunk| async move { self.delete_chunk(repo, &chunk).await })
            .buffered(concurrency.max(1))
            .collect()
            .await;
        results.into_iter().flatten().collect()
    }

    async fn delete_chunk(&self, repo: &Repo, ids: &[Id]) -> Vec<IdOutcome> {
        let mut outcomes: HashMap<Id, IdOutcome> = HashMap::new();
        let mut pending: Vec<Id> = ids.to_vec();
        let mut attempt = 1;
        let mut waited = Duration::ZERO;
        while !pending.is_empty() {
            let identifiers: Vec<ImageIdentifier> = pending.iter().map(Id::identifier).collect();
            let answer = self
                .call("BatchDeleteImage", || {
                    self.client
                        .batch_delete_image()
                        .set_registry_id(self.target.account.clone())
                        .repository_name(&repo.name)
                        .set_image_ids(Some(identifiers.clone()))
                        .send()
                })
                .await;
            let out = match answer {
                Ok(out) => out,
                // The repository is gone, and every image with it.
                Err(e) if e.is("RepositoryNotFoundException") => {
                    for id in pending.drain(..) {
                        outcomes.insert(id, IdOutcome::NotFound);
                    }
                    break;
                }
                Err(e) => {
                    let err = api_error("BatchDeleteImage", &self.resource(Some(&repo.name)), e);
                    for id in pending.drain(..) {
                        outcomes.insert(id, IdOutcome::CallFailed(err.clone()));
                    }
                    break;
                }
            };
            let mut again = Vec::new();
            for id in pending.drain(..) {
                let failure = out
                    .failures()
                    .iter()
                    .find(|f| f.image_id().is_some_and(|i| id.matches(i)));
                let outcome = match failure {
                    Some(f) => {
                        let code = f
                            .failure_code()
                            .map(|c| c.as_str().to_string())
                            .unwrap_or_default();
                        let reason = f.failure_reason().unwrap_or_default().to_string();
                        if code == "ImageNotFound" {
                            IdOutcome::NotFound
                        } else if transient_failure(&code) {
                            again.push(id.clone());
                            IdOutcome::Failed {
                                code,
                                reason,
                                auth: false,
                            }
                        } else {
                            IdOutcome::Failed {
                                auth: code == "UpstreamAccessDenied",
                                code,
                                reason,
                            }
                        }
                    }
                    // Not failed is deleted: `imageIds` need not echo an untagged image's id
                    // (moto returns it empty then; ECR reports every per-id problem in `failures`,
                    // docs/registries.md#aws-ecr).
                    None => IdOutcome::Deleted,
                };
                outcomes.insert(id, outcome);
            }
            if again.is_empty() {
                break;
            }
            match self.retry.next_delay(attempt, None, waited) {
                Some(delay) => {
                    crate::log::verbose(&format!(
                        "ECR BatchDeleteImage: {} id(s) throttled; trying again in {delay:?}",
                        again.len()
                    ));
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                    waited += delay;
                    pending = again;
                }
                None => break,
            }
        }
        ids.iter()
            .map(|id| {
                outcomes
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| IdOutcome::CallFailed(Error::operation("not attempted")))
            })
            .collect()
    }

    /// The error for one id that ECR reported in `failures[]`.
    fn failure(&self, repo: &Repo, what: &str, code: &str, reason: &str, auth: bool) -> Error {
        let text = format!("ECR did not delete {repo}{what}: {code}: {reason}");
        if auth {
            Error::auth(text).with_hint(format!(
                "the AWS identity needs ecr:BatchDeleteImage on {}",
                self.resource(Some(&repo.name))
            ))
        } else {
            Error::operation(text)
        }
    }
}

impl Registry for Ecr {
    crate::registry::registry_accessors!();

    crate::registry::registry_call!(listing, self, |repo, _timed| async move {
        self.login().await?;
        let mut listing = Listing::default();
        for image in self.images(repo).await?.unwrap_or_default() {
            for t in &image.tags {
                listing.tags.insert(t.clone(), image.digest.clone());
            }
            listing.manifests.insert(
                image.digest.clone(),
                Listed {
                    media_type: image.media_type,
                    pushed: image.pushed,
                    pulled: image.pulled.map_or(Pulled::Never, Pulled::At),
                },
            );
        }
        Ok(Some(listing))
    });

    // DescribeRepositories, every page (docs.aws.amazon.com/AmazonECR/latest/APIReference/
    // API_DescribeRepositories.html: maxResults ≤ 1000, nextToken), filtered to `under`.
    crate::registry::registry_call!(repositories, self, |_host, under| async move {
        self.login().await?;
        let mut names = Vec::new();
        let mut next: Option<String> = None;
        let mut pages = Pages::new("ECR's DescribeRepositories");
        loop {
            pages.visit(&format!(
                "the page of nextToken {}",
                next.as_deref().unwrap_or("(start)")
            ))?;
            let page = self
                .call("DescribeRepositories", || {
                    self.client
                        .describe_repositories()
                        .set_registry_id(self.target.account.clone())
                        .max_results(PAGE)
                        .set_next_token(next.clone())
                        .send()
                })
                .await
                .map_err(|e| api_error("DescribeRepositories", &self.resource(None), e))?;
            names.extend(
                page.repositories()
                    .iter()
                    .filter_map(|r| r.repository_name().map(str::to_string)),
            );
            match page.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_string()),
                _ => return Ok(crate::registry::repositories_under(names, under)),
            }
        }
    });

    crate::registry::registry_call!(ensure_repository, self, |repo| async move {
        if self
            .ensured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&repo.name)
        {
            return Ok(());
        }
        self.login().await?;
        let resource = self.resource(Some(&repo.name));
        // DescribeRepositories first: push-only roles (AmazonEC2ContainerRegistryPowerUser)
        // may describe but not create, and must still publish to existing repositories.
        let described = self
            .call("DescribeRepositories", || {
                self.client
                    .describe_repositories()
                    .set_registry_id(self.target.account.clone())
                    .repository_names(&repo.name)
                    .send()
            })
            .await;
        let create = match described {
            Ok(_) => false,
            Err(e) if e.is("RepositoryNotFoundException") => true,
            // Not allowed to look: creating (and tolerating "already exists") still tells.
            Err(e) if e.is_auth() => true,
            Err(e) => return Err(api_error("DescribeRepositories", &resource, e)),
        };
        if create {
            let created = self
                .call("CreateRepository", || {
                    self.client
                        .create_repository()
                        .set_registry_id(self.target.account.clone())
                        .repository_name(&repo.name)
                        .send()
                })
                .await;
            match created {
                Ok(_) => crate::log::info(&format!("ECR: created repository {}", repo.name)),
                // Another job created it meanwhile.
                Err(e) if e.is("RepositoryAlreadyExistsException") => {}
                Err(e) => return Err(api_error("CreateRepository", &resource, e)),
            }
        }
        self.ensured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(repo.name.clone());
        Ok(())
    });

    crate::registry::registry_call!(
        created,
        self,
        |repo, digest, _media_type, _children| async move {
            self.login().await?;
            let id = Id::Digest(digest.to_string()).identifier();
            let out = self
                .call("DescribeImages", || {
                    self.client
                        .describe_images()
                        .set_registry_id(self.target.account.clone())
                        .repository_name(&repo.name)
                        .image_ids(id.clone())
                        .send()
                })
                .await;
            match out {
                Ok(out) => Ok(out
                    .image_details()
                    .first()
                    .and_then(|d| d.image_pushed_at())
                    .and_then(|t| SystemTime::try_from(*t).ok())),
                Err(e) if e.is("ImageNotFoundException") || e.is("RepositoryNotFoundException") => {
                    Ok(None)
                }
                Err(e) => Err(api_error(
                    "DescribeImages",
                    &self.resource(Some(&repo.name)),
                    e,
                )),
            }
        }
    );

    crate::registry::registry_call!(delete_digest, self, |repo, digest| async move {
        let digests = [digest.to_string()];
        self.delete_digests(repo, &digests, 1)
            .await
            .pop()
            .unwrap_or_else(|| Err(Error::operation("no outcome")))
    });

    crate::registry::registry_call!(untag, self, |repo, tag, _tag_delete_works| async move {
        let tags = [tag.to_string()];
        let r = self
            .untag_tags(repo, &tags, 1)
            .await
            .pop()
            .unwrap_or_else(|| Err(Error::operation("no outcome")));
        r.map(|u| (u, true))
    });

    crate::registry::registry_call!(
        delete_digests,
        self,
        |repo, digests, concurrency| async move {
            if let Err(e) = self.login().await {
                return digests.iter().map(|_| Err(e.clone())).collect();
            }
            let ids: Vec<Id> = digests.iter().cloned().map(Id::Digest).collect();
            let outcomes = self.batch_delete(repo, &ids, concurrency).await;
            digests
                .iter()
                .zip(outcomes)
                .map(|(digest, o)| match o {
                    IdOutcome::Deleted => Ok(Deleted::Done),
                    IdOutcome::NotFound => Ok(Deleted::NotFound),
                    IdOutcome::Failed { code, reason, auth } => {
                        Err(self.failure(repo, &format!("@{digest}"), &code, &reason, auth))
                    }
                    IdOutcome::CallFailed(e) => Err(e),
                })
                .collect()
        }
    );

    crate::registry::registry_call!(untag_tags, self, |repo, tags, concurrency| async move {
        if let Err(e) = self.login().await {
            return tags.iter().map(|_| Err(e.clone())).collect();
        }
        // On ECR removing an image's last tag deletes the image
        // (https://docs.aws.amazon.com/cli/latest/reference/ecr/batch-delete-image.html). The
        // planner untags only where another tag stays; check that against ECR's view now,
        // so a tag that became the last one meanwhile is left alone and said so.
        let images = match self.images(repo).await {
            Ok(images) => images.unwrap_or_default(),
            Err(e) => return tags.iter().map(|_| Err(e.clone())).collect(),
        };
        let mut tags_of: BTreeMap<&str, &Image> = BTreeMap::new();
        for image in &images {
            for t in &image.tags {
                tags_of.insert(t.as_str(), image);
            }
        }
        let mut out: Vec<Option<Result<Untagged>>> = vec![None; tags.len()];
        let mut send: Vec<(usize, Id)> = Vec::new();
        for (i, tag) in tags.iter().enumerate() {
            match tags_of.get(tag.as_str()) {
                None => out[i] = Some(Ok(Untagged::Absent)),
                Some(image) if image.tags.len() == 1 => {
                    out[i] = Some(Ok(Untagged::Kept(format!(
                        "{tag} is the last tag of {} on ECR, where removing it would delete \
                             the image; a later run deletes the image if no tag is added",
                        image.digest
                    ))))
                }
                Some(_) => send.push((i, Id::Tag(tag.clone()))),
            }
        }
        let ids: Vec<Id> = send.iter().map(|(_, id)| id.clone()).collect();
        let outcomes = self.batch_delete(repo, &ids, concurrency).await;
        for ((i, _), o) in send.into_iter().zip(outcomes) {
            let tag = &tags[i];
            out[i] = Some(match o {
                IdOutcome::Deleted => Ok(Untagged::Native),
                IdOutcome::NotFound => Ok(Untagged::Absent),
                IdOutcome::Failed { code, reason, auth } => {
                    Err(self.failure(repo, &format!(":{tag}"), &code, &reason, auth))
                }
                IdOutcome::CallFailed(e) => Err(e),
            });
        }
        out.into_iter()
            .map(|o| o.unwrap_or_else(|| Err(Error::operation("no outcome"))))
            .collect()
    });
}

impl Implementation {
    #[allow(non_upper_case_globals)]
    pub const Ecr: Implementation = Implementation::of(&SPEC);
}

static SPEC: Spec = Spec {
    id: "ecr",
    title: "AWS ECR",
    help: "AWS Elastic Container Registry",
    aliases: &["aws", "aws-ecr"],
    capabilities: |host, common| {
        if host == "public.ecr.aws" {
            Capabilities {
                depth: Depth { min: 2, max: None },
                creates_repositories_on_push: false,
                batch_delete: Some(100),
                cross_repo_mount: false,
                ..common
            }
        } else {
            Capabilities {
                creates_repositories_on_push: false,
                batch_delete: Some(100),
                // Mounting needs BLOB_MOUNTING on the account; the fallback upload covers it.
                cross_repo_mount: true,
                // DescribeImages lists untagged images and their `lastRecordedPullTime`.
                lists_untagged: true,
                pull_records: PullRecords::Daily,
                repository_listing: RepositoryListing::VendorApi,
                ..common
            }
        }
    },
    hosts: &[
        // Private ECR, FIPS and China partitions; the dual-stack endpoints live under on.aws.
        HostPattern {
            regex: r"^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$",
            what: "an AWS ECR registry",
            example: "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        },
        HostPattern {
            regex: r"^\d{12}\.dkr-ecr(-fips)?\.[a-z0-9-]+\.on\.aws$",
            what: "an AWS ECR dual-stack registry",
            example: "123456789012.dkr-ecr.us-west-2.on.aws",
        },
        HostPattern {
            regex: r"^public\.ecr\.aws$",
            what: "AWS ECR Public",
            example: "public.ecr.aws",
        },
    ],
    unprobed_prefix: None,
    probe: Probe::NONE,
};

pub static REGISTRATION: Registration = Registration {
    implementation: Implementation::Ecr,
    open: |caps, oci, host, _| Box::pin(open(caps, oci, host)),
};

#[cfg(test)]
mod tests {
    use super::*;

    fn t(account: &str, region: &str, fips: bool, dual_stack: bool) -> Option<Target> {
        Some(Target {
            account: Some(account.into()),
            region: Some(region.into()),
            fips,
            dual_stack,
        })
    }

    #[test]
    fn account_and_region_come_from_the_host() {
        assert_eq!(
            Target::from_host("123456789012.dkr.ecr.eu-central-1.amazonaws.com"),
            t("123456789012", "eu-central-1", false, false)
        );
        assert_eq!(
            Target::from_host("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com"),
            t("123456789012", "us-gov-west-1", true, false)
        );
        assert_eq!(
            Target::from_host("210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn"),
            t("210987654321", "cn-north-1", false, false)
        );
        assert_eq!(
            Target::from_host("123456789012.dkr-ecr.us-west-2.on.aws"),
            t("123456789012", "us-west-2", false, true)
        );
        assert_eq!(
            Target::from_host("123456789012.DKR.ECR.us-east-1.amazonaws.com:443"),
            t("123456789012", "us-east-1", false, false)
        );
        for not_ecr in [
            "12345.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com.example.com",
            "public.ecr.aws",
            "127.0.0.1:5000",
            "123456789012.dkr.ecr.us_east.amazonaws.com",
        ] {
            assert_eq!(Target::from_host(not_ecr), None, "{not_ecr}");
        }
    }

    #[test]
    fn other_hosts_take_the_region_from_the_environment() {
        let env = |k: &str| match k {
            "AWS_REGION" => Some("eu-west-1".to_string()),
            "AWS_DEFAULT_REGION" => Some("us-east-2".to_string()),
            _ => None,
        };
        assert_eq!(
            Target::resolve("127.0.0.1:5000", &env),
            Target {
                region: Some("eu-west-1".into()),
                ..Target::default()
            }
        );
        let default_only = |k: &str| (k == "AWS_DEFAULT_REGION").then(|| "us-east-2".to_string());
        assert_eq!(
            Target::resolve("127.0.0.1:5000", &default_only).region,
            Some("us-east-2".into())
        );
        assert_eq!(Target::resolve("127.0.0.1:5000", &|_| None).region, None);
        // An ECR host wins over the environment.
        assert_eq!(
            Target::resolve("123456789012.dkr.ecr.ap-south-1.amazonaws.com", &env).region,
            Some("ap-south-1".into())
        );
    }

    #[test]
    fn endpoints_follow_the_partition_and_fips() {
        let e = |host: &str| api_endpoint(&Target::from_host(host).unwrap()).unwrap();
        assert_eq!(
            e("123456789012.dkr.ecr.us-east-1.amazonaws.com"),
            "https://api.ecr.us-east-1.amazonaws.com"
        );
        assert_eq!(
            e("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"),
            "https://api.ecr.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            e("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com"),
            "https://api.ecr-fips.us-gov-west-1.amazonaws.com"
        );
        assert_eq!(
            e("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com"),
            "https://api.ecr-fips.us-east-1.amazonaws.com"
        );
        assert_eq!(
            e("123456789012.dkr-ecr.us-west-2.on.aws"),
            "https://ecr.us-west-2.api.aws"
        );
    }

    #[test]
    fn logins_are_renewed_before_they_expire() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        // 12 h: renewed 5 min before.
        assert_eq!(
            renew_at(now, Some(now + Duration::from_secs(12 * 3600))),
            now + Duration::from_secs(12 * 3600 - 300)
        );
        // A short lifetime: at half of it.
        assert_eq!(
            renew_at(now, Some(now + Duration::from_secs(60))),
            now + Duration::from_secs(30)
        );
        // Already past (moto sends 2015): the documented 12 h.
        let past = SystemTime::UNIX_EPOCH + Duration::from_secs(1_420_070_400);
        assert_eq!(
            renew_at(now, Some(past)),
            now + Duration::from_secs(12 * 3600 - 300)
        );
        assert_eq!(renew_at(now, None), renew_at(now, Some(past)));
    }

    #[test]
    fn auth_errors_name_the_iam_action() {
        let e = api_error(
            "BatchDeleteImage",
            "arn:aws:ecr:eu-west-1:123456789012:repository/app",
            ApiError {
                code: Some("AccessDeniedException".into()),
                message: "User: arn:aws:iam::123456789012:user/ci is not authorized".into(),
                status: Some(400),
                transient: false,
            },
        );
        assert_eq!(e.kind, crate::error::Kind::Auth);
        assert!(e.hint.as_deref().unwrap().contains("ecr:BatchDeleteImage"));
        let e = api_error(
            "DescribeImages",
            "r",
            ApiError {
                code: Some("ExpiredTokenException".into()),
                message: "The security token included in the request is expired".into(),
                status: Some(400),
                transient: false,
            },
        );
        assert_eq!(e.kind, crate::error::Kind::Auth);
        assert!(e.hint.unwrap().contains("expired"));
        let e = api_error(
            "DescribeImages",
            "r",
            ApiError {
                code: Some("InvalidParameterException".into()),
                message: "bad".into(),
                status: Some(400),
                transient: false,
            },
        );
        assert_eq!(e.kind, crate::error::Kind::Operation);
    }
}
