# dockhand's runtime image: the static dockhand binary, a static busybox for the shell that
# GitLab, Jenkins and CircleCI jobs need, and the CA certificates. No USER and no WORKDIR: GitHub
# runs Docker actions as root in /github/workspace, and dockhand writes the step's files there.
#
# The root filesystem is assembled outside the build, so this file builds without pulling any
# base image (and with any builder: docker, buildah, kaniko):
#
#   scripts/build-image            # cargo build (static), busybox, certificates → dist/rootfs
#   buildah build -t dockhand .    # or: docker build -t dockhand .
FROM scratch
COPY dist/rootfs/ /
ENV PATH=/usr/local/bin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
LABEL org.opencontainers.image.title="dockhand" \
      org.opencontainers.image.description="Publish built images to any container registry and clean up old tags" \
      org.opencontainers.image.source="https://github.com/dockhand/dockhand" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
ENTRYPOINT ["/usr/local/bin/dockhand"]
