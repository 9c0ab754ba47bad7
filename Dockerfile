# dockhand's runtime image: the static dockhand binary, a static busybox for the shell that
# GitLab, Jenkins and CircleCI jobs need, and the CA certificates. No USER and no WORKDIR: GitHub
# runs Docker actions as root in /github/workspace, and dockhand writes the step's files there.
#
# The root filesystems are assembled outside the build, one per architecture, so this file builds
# without pulling any base image and without emulation (and with any builder: docker, buildah,
# kaniko):
#
#   scripts/build-image     # both architectures: binaries, dist/rootfs/{amd64,arm64}, the image
#                           # index as an OCI layout (dist/oci), labels, SOURCE_DATE_EPOCH
#   docker buildx build --platform linux/amd64,linux/arm64 .   # after scripts/build-image
#
# scripts/build-image adds the org.opencontainers.image.{source,version,revision} labels from
# Cargo.toml and git.
FROM scratch
# Set by the builder from --platform (buildah, docker buildx).
ARG TARGETARCH
COPY dist/rootfs/${TARGETARCH}/ /
ENV PATH=/usr/local/bin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
LABEL org.opencontainers.image.title="dockhand" \
      org.opencontainers.image.description="Publish built images to any container registry and clean up old tags" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
ENTRYPOINT ["/usr/local/bin/dockhand"]
