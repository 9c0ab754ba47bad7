#!/bin/sh
# Any CI (CircleCI, Bitbucket, Azure Pipelines, Buildkite, a local shell): run dockhand's image
# with the CI's variables passed through. dockhand reads the branch, tag, commit and pull request
# from them and tags accordingly; secrets stay in the environment, never on the command line.
set -eu
: "${REGISTRY_PASSWORD:?set REGISTRY_PASSWORD (a secret of your CI)}"
# Passed by name below, so the value never shows in a process list.
export DOCKHAND_REGISTRY_PASSWORD="$REGISTRY_PASSWORD"
docker run --rm \
  -v "$PWD:/work" -w /work \
  -e CI -e CIRCLECI -e CIRCLE_BRANCH -e CIRCLE_TAG -e CIRCLE_SHA1 -e CIRCLE_PR_NUMBER \
  -e BITBUCKET_BUILD_NUMBER -e BITBUCKET_BRANCH -e BITBUCKET_TAG -e BITBUCKET_COMMIT -e BITBUCKET_PR_ID \
  -e TF_BUILD -e BUILD_SOURCEBRANCH -e BUILD_SOURCEVERSION -e SYSTEM_PULLREQUEST_PULLREQUESTNUMBER \
  -e BUILDKITE -e BUILDKITE_BRANCH -e BUILDKITE_TAG -e BUILDKITE_COMMIT -e BUILDKITE_PULL_REQUEST \
  -e DOCKHAND_IMAGES_REPO="${DOCKHAND_IMAGES_REPO:-registry.example.com/acme}" \
  -e DOCKHAND_IMAGE="hello-web=oci-archive:build/hello-web.tar,hello-worker=oci-archive:build/hello-worker.tar" \
  -e DOCKHAND_REGISTRY_USERNAME="${REGISTRY_USERNAME:-ci}" \
  -e DOCKHAND_REGISTRY_PASSWORD \
  -e DOCKHAND_KEEP_LAST=10 \
  ghcr.io/dockhand/dockhand:0.1.0 run

# Without Docker, the same with the binary:
#   dockhand ci-env            # what dockhand derives from this CI, and from which variable
#   dockhand run --image backend=oci-archive:build/backend.tar --keep-last 10
