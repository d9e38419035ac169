# syntax=docker/dockerfile:1
# cnote-server: the notebook server, its web app and cnote's kernelspec (kernel.json pointing at
# /opt/cnote/bin/cnote-kernel, which is where the cnote-kernel image has it). On Kubernetes the
# server starts kernels as pods (--k8s-config); it runs no kernel itself.
#
# Build from the repository root (the context must be the repo root):
#   docker build -f k8s/images/cnote-server.Dockerfile -t REGISTRY/cnote-server:TAG .
# cnote-server.Dockerfile.dockerignore (next to this file, BuildKit) keeps .venv, build/ and
# node_modules out of the context.
#
# Base images pinned by digest (multi-arch OCI image index). Source: docker-library/repo-info,
# repos/debian/remote/bookworm-20260918{,-slim}.md and repos/node/remote/22-bookworm-slim.md:
# the Debian 12 images of the 2026-09-18 snapshot (pushed 2026-09-19) and node 22.23.2 built on
# that same snapshot (2026-09-19). To move on:
#   docker buildx imagetools inspect debian:bookworm-slim     (first "Digest:" line)
# then run tests/k8s/test_images.sh.
# Keep each stage's packages in ONE `apt-get install -y --no-install-recommends \` block with one
# package per line: tests/k8s/test_images.sh parses these blocks.

# ---- build: compile the server (and the kernel, only to write the kernelspec) ---------------------
FROM debian:bookworm@sha256:f37a335e82bca302e955fa39f9dfe28f1be618f016f8a2b56318e5a5111afc26 AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential \
        pkg-config \
        libzmq3-dev \
        libjansson-dev \
        libssl-dev \
        libwebsockets-dev \
        libuv1-dev \
        libsqlite3-dev \
        libcurl4-openssl-dev \
        libyaml-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY proto/ proto/
COPY kernel/ kernel/
COPY server/ server/
RUN make -j"$(nproc)" build/bin/cnote-server build/bin/cnote-kernel build/bin/cnote-exec \
        build/share/cnote/include/cnote.h build/share/cnote/kernelspec/logo-32x32.png \
        build/share/cnote/kernelspec/logo-64x64.png build/share/cnote/kernelspec/logo-svg.svg \
    && install -d /opt/cnote/bin /opt/cnote/share /tmp/k/bin /tmp/k/share \
    && install -m 0755 build/bin/cnote-server /opt/cnote/bin/ \
    && install -m 0755 build/bin/cnote-kernel build/bin/cnote-exec /tmp/k/bin/ \
    && cp -r build/share/cnote /tmp/k/share/ \
    && /tmp/k/bin/cnote-kernel install --prefix /opt/cnote \
    && sed -i 's|/tmp/k/bin/cnote-kernel|/opt/cnote/bin/cnote-kernel|' \
        /opt/cnote/share/jupyter/kernels/cnote/kernel.json \
    && grep -q '"/opt/cnote/bin/cnote-kernel"' /opt/cnote/share/jupyter/kernels/cnote/kernel.json

# ---- web: bundle the web app (esbuild; web/package.json wants node >= 20, Debian 12 has 18) -------
FROM node:22-bookworm-slim@sha256:48e4b67d85f87bd551df43704e24d252f56cc5f8e9718841aace50f19948f0f9 AS web
WORKDIR /src
COPY web/package.json web/package-lock.json web/
RUN cd web && npm ci --no-audit --no-fund --loglevel=error
COPY web/build.mjs web/
COPY web/src/ web/src/
COPY web/public/ web/public/
RUN node web/build.mjs /out/web && test -f /out/web/index.html

# ---- runtime -------------------------------------------------------------------------------------
FROM debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251
# what cnote-server links (readelf NEEDED; tests/k8s/test_images.sh checks it): libjansson4
# libssl3 (libcrypto) libwebsockets17 libuv1 libsqlite3-0 libcurl4 libyaml-0-2 libsodium23 (it
# speaks ZeroMQ's wire protocol itself, so no libzmq5); ca-certificates for TLS to the API server outside the cluster
# (in the cluster the service-account CA file is used); tini: PID 1 that reaps and forwards signals.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libjansson4 \
        libssl3 \
        libwebsockets17 \
        libuv1 \
        libsqlite3-0 \
        libcurl4 \
        libyaml-0-2 \
        libsodium23 \
        ca-certificates \
        tini \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/cnote /opt/cnote
COPY --from=web /out/web /opt/cnote/web
# uid 1000, gid 100 (users), like the kernel image: files on the shared notebook volume written by
# the server and by kernels belong to the same user. No setuid/setgid binaries.
RUN useradd --uid 1000 --gid 100 --no-user-group --create-home --home-dir /home/cnote \
        --shell /usr/sbin/nologin cnote \
    && install -d -o 1000 -g 100 /srv/notebooks /var/lib/cnote \
    && find / -xdev -type f -perm /6000 -exec chmod a-s {} + \
    && ln -s /opt/cnote/bin/cnote-server /usr/local/bin/cnote-server
# The server finds its web app at <bin>/../web and cnote's kernelspec at <bin>/../share/jupyter.
ENV HOME=/home/cnote \
    LANG=C.UTF-8 \
    CNOTE_DATA_DIR=/var/lib/cnote
USER 1000:100
WORKDIR /srv/notebooks
EXPOSE 8888
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/cnote/bin/cnote-server"]
CMD ["--ip", "0.0.0.0", "--port", "8888", "--root", "/srv/notebooks", "--allow-remote-access"]
