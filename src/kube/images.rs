//! The images that workloads reference, from the JSON lists the API server returns. Pure.
//!
//! Where the images are, per the API reference
//! (https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/):
//! a Pod's `spec` holds `containers`, `initContainers` and `ephemeralContainers`; Deployments,
//! StatefulSets, DaemonSets, ReplicaSets and Jobs hold a pod template at `spec.template.spec`;
//! CronJobs at `spec.jobTemplate.spec.template.spec`. A Pod's `status.containerStatuses[].imageID`
//! (and the init and ephemeral ones) pins the digest that actually runs.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::naming::reference::Reference;

/// The workload kinds read, with the API path that lists each across all namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Workload {
    Pod,
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    Job,
    CronJob,
}

impl Workload {
    pub const ALL: [Workload; 7] = [
        Workload::Pod,
        Workload::Deployment,
        Workload::StatefulSet,
        Workload::DaemonSet,
        Workload::ReplicaSet,
        Workload::Job,
        Workload::CronJob,
    ];

    /// The list path (all namespaces), e.g. `/apis/apps/v1/deployments`.
    pub fn path(self) -> &'static str {
        match self {
            Workload::Pod => "/api/v1/pods",
            Workload::Deployment => "/apis/apps/v1/deployments",
            Workload::StatefulSet => "/apis/apps/v1/statefulsets",
            Workload::DaemonSet => "/apis/apps/v1/daemonsets",
            Workload::ReplicaSet => "/apis/apps/v1/replicasets",
            Workload::Job => "/apis/batch/v1/jobs",
            Workload::CronJob => "/apis/batch/v1/cronjobs",
        }
    }

    /// The plural resource name, for reports.
    pub fn plural(self) -> &'static str {
        self.path().rsplit('/').next().unwrap_or_default()
    }

    /// JSON pointer to the pod spec in one item.
    fn pod_spec(self) -> &'static str {
        match self {
            Workload::Pod => "/spec",
            Workload::CronJob => "/spec/jobTemplate/spec/template/spec",
            _ => "/spec/template/spec",
        }
    }
}

/// Images found: what the planner keeps, and what could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Images {
    /// `registry/repository:tag`, Docker-normalised (`nginx` → `docker.io/library/nginx:latest`).
    pub references: BTreeSet<String>,
    /// `sha256:…`, from `image` fields with a digest and from running containers' `imageID`.
    pub digests: BTreeSet<String>,
    /// Image strings that are not valid references (reported; they cannot name a registry tag).
    pub unparsed: BTreeSet<String>,
    /// Items read per kind.
    pub workloads: BTreeMap<Workload, usize>,
}

impl Images {
    /// Adds one image string as a container spec writes it.
    pub fn add_image(&mut self, image: &str) {
        let image = image.trim();
        if image.is_empty() {
            return;
        }
        match Reference::parse(image) {
            Ok(r) => {
                if let Some(d) = &r.digest {
                    self.digests.insert(d.to_string());
                }
                // With a digest the runtime ignores the tag; keeping the tag too costs nothing
                // and is the safe side.
                if r.tag.is_some() || r.digest.is_none() {
                    let tag = r.tag.as_deref().unwrap_or("latest");
                    self.references
                        .insert(format!("{}/{}:{tag}", r.registry, r.repository));
                }
            }
            Err(_) => {
                self.unparsed.insert(image.to_string());
            }
        }
    }

    /// Adds a container status's `imageID`: `docker-pullable://repo@sha256:…`,
    /// `repo@sha256:…` or a bare image id. Only a repository digest (after `@`) names a
    /// manifest; a bare `sha256:…` (`docker://sha256:…`) is the local image id (the config
    /// digest) and is not a registry manifest, so it adds nothing.
    pub fn add_image_id(&mut self, image_id: &str) {
        let id = image_id.trim();
        let id = id.split_once("://").map_or(id, |(_, rest)| rest);
        let Some((_, digest)) = id.rsplit_once('@') else {
            return;
        };
        match crate::naming::reference::Digest::parse(digest) {
            Ok(d) => {
                self.digests.insert(d.to_string());
            }
            Err(_) => {
                self.unparsed.insert(image_id.to_string());
            }
        }
    }

    /// Adds every image of one list's items.
    pub fn add_items(&mut self, kind: Workload, items: &[Value]) {
        *self.workloads.entry(kind).or_default() += items.len();
        for item in items {
            if let Some(spec) = item.pointer(kind.pod_spec()) {
                for list in ["containers", "initContainers", "ephemeralContainers"] {
                    for c in array(spec, list) {
                        if let Some(image) = c.get("image").and_then(Value::as_str) {
                            self.add_image(image);
                        }
                    }
                }
            }
            if kind == Workload::Pod
                && let Some(status) = item.get("status")
            {
                for list in [
                    "containerStatuses",
                    "initContainerStatuses",
                    "ephemeralContainerStatuses",
                ] {
                    for c in array(status, list) {
                        if let Some(id) = c.get("imageID").and_then(Value::as_str) {
                            self.add_image_id(id);
                        }
                    }
                }
            }
        }
    }

    /// Everything of `other` added to this set.
    pub fn extend(&mut self, other: &Images) {
        self.references.extend(other.references.iter().cloned());
        self.digests.extend(other.digests.iter().cloned());
        self.unparsed.extend(other.unparsed.iter().cloned());
        for (k, n) in &other.workloads {
            *self.workloads.entry(*k).or_default() += n;
        }
    }
}

fn array<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn template(image: &str) -> Value {
        json!({"spec": {"containers": [{"name": "c", "image": image}]}})
    }

    #[test]
    fn every_kind_has_its_pod_spec() {
        let cases = [
            (
                Workload::Deployment,
                json!({"spec": {"template": template("ghcr.io/o/deploy:v1")}}),
            ),
            (
                Workload::StatefulSet,
                json!({"spec": {"template": template("ghcr.io/o/sts:v1")}}),
            ),
            (
                Workload::DaemonSet,
                json!({"spec": {"template": template("ghcr.io/o/ds:v1")}}),
            ),
            (
                Workload::ReplicaSet,
                json!({"spec": {"template": template("ghcr.io/o/rs:v1")}}),
            ),
            (
                Workload::Job,
                json!({"spec": {"template": template("ghcr.io/o/job:v1")}}),
            ),
            (
                Workload::CronJob,
                json!({"spec": {"jobTemplate": {"spec": {"template": template("ghcr.io/o/cron:v1")}}}}),
            ),
        ];
        for (kind, item) in cases {
            let mut i = Images::default();
            i.add_items(kind, &[item]);
            let name = kind.plural().trim_end_matches('s');
            let want = match kind {
                Workload::Deployment => "deploy",
                Workload::StatefulSet => "sts",
                Workload::DaemonSet => "ds",
                Workload::ReplicaSet => "rs",
                Workload::CronJob => "cron",
                _ => name,
            };
            assert_eq!(
                i.references.iter().collect::<Vec<_>>(),
                vec![&format!("ghcr.io/o/{want}:v1")],
                "{kind:?}"
            );
            assert_eq!(i.workloads[&kind], 1);
        }
    }

    #[test]
    fn pods_give_init_ephemeral_and_running_digests() {
        let pod = json!({
            "spec": {
                "initContainers": [{"name": "i", "image": "busybox"}],
                "containers": [{"name": "c", "image": format!("registry.example:5000/team/app@{D1}")}],
                "ephemeralContainers": [{"name": "d", "image": "quay.io/o/debug:1.2"}]
            },
            "status": {
                "containerStatuses": [{"imageID": format!("docker-pullable://registry.example:5000/team/app@{D1}")}],
                "initContainerStatuses": [{"imageID": format!("docker.io/library/busybox@{D2}")}],
                "ephemeralContainerStatuses": [{"imageID": "docker://sha256:3333333333333333333333333333333333333333333333333333333333333333"}]
            }
        });
        let mut i = Images::default();
        i.add_items(Workload::Pod, &[pod]);
        assert_eq!(
            i.references,
            BTreeSet::from([
                "docker.io/library/busybox:latest".to_string(),
                "quay.io/o/debug:1.2".to_string(),
            ])
        );
        assert_eq!(i.digests, BTreeSet::from([D1.to_string(), D2.to_string()]));
        assert!(i.unparsed.is_empty());
    }

    #[test]
    fn image_id_forms() {
        let mut i = Images::default();
        i.add_image_id(&format!("docker-pullable://nginx@{D1}"));
        i.add_image_id(&format!("ghcr.io/o/a@{D2}"));
        i.add_image_id("sha256:4444444444444444444444444444444444444444444444444444444444444444");
        i.add_image_id("");
        assert_eq!(i.digests, BTreeSet::from([D1.to_string(), D2.to_string()]));
        i.add_image_id("repo@sha256:short");
        assert_eq!(i.unparsed.len(), 1);
    }

    #[test]
    fn references_are_docker_normalised() {
        let mut i = Images::default();
        for s in [
            "nginx",
            "nginx:1.27",
            "index.docker.io/acme/api:v2",
            &format!("ghcr.io/o/a:v1@{D1}"),
            "Bad Image",
        ] {
            i.add_image(s);
        }
        assert_eq!(
            i.references,
            BTreeSet::from([
                "docker.io/library/nginx:latest".to_string(),
                "docker.io/library/nginx:1.27".to_string(),
                "docker.io/acme/api:v2".to_string(),
                "ghcr.io/o/a:v1".to_string(),
            ])
        );
        assert_eq!(i.digests, BTreeSet::from([D1.to_string()]));
        assert_eq!(i.unparsed, BTreeSet::from(["Bad Image".to_string()]));
    }

    #[test]
    fn items_without_specs_are_counted_not_fatal() {
        let mut i = Images::default();
        i.add_items(Workload::Deployment, &[json!({"metadata": {"name": "x"}})]);
        assert_eq!(i.workloads[&Workload::Deployment], 1);
        assert!(i.references.is_empty());
    }
}
