# syntax=docker/dockerfile:1
# cnote-kernel: the C kernel (cnote-kernel + cnote-exec) with what a cell needs at run time: gcc/g++
# and the C library headers (every cell is compiled), OpenBLAS/LAPACKE headers and libraries,
# and NVIDIA's CUDA 13 compiler, runtime and cuBLAS (the PyPI wheels of scripts/requirements-cuda.txt,
# the same pins the tests use) for %%cuda cells. The GPU driver (libcuda.so.1) is NOT in the image:
# the NVIDIA container toolkit mounts it when the pod gets a GPU from the device plugin.
#
# Build from the repository root (the context must be the repo root):
#   docker build -f k8s/images/cnote-kernel.Dockerfile -t REGISTRY/cnote-kernel:TAG .
# cnote-kernel.Dockerfile.dockerignore (next to this file, BuildKit) keeps .venv, build/ and
# node_modules out of the context.
#
# Base images pinned by digest (multi-arch OCI image index). Source: docker-library/repo-info,
# repos/debian/remote/bookworm-20260918.md and bookworm-20260918-slim.md: the Debian 12 images of
# the 2026-09-18 snapshot (pushed 2026-09-19), which were debian:bookworm / debian:bookworm-slim
# then. To move to a newer snapshot:
#   docker buildx imagetools inspect debian:bookworm-slim   (first "Digest:" line)
# and run tests/k8s/test_images.sh (checks the pins and that every package below resolves).
# Keep each stage's packages in ONE `apt-get install -y --no-install-recommends \` block with one
# package per line: tests/k8s/test_images.sh parses these blocks.

# ---- build: compile the kernel and the executor ---------------------------------------------------
FROM debian:bookworm@sha256:f37a335e82bca302e955fa39f9dfe28f1be618f016f8a2b56318e5a5111afc26 AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential \
        pkg-config \
        libzmq3-dev \
        libjansson-dev \
        libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY proto/ proto/
COPY kernel/ kernel/
RUN make -j"$(nproc)" build/bin/cnote-kernel build/bin/cnote-exec \
        build/share/cnote/include/cnote.h build/share/cnote/kernelspec/logo-32x32.png \
        build/share/cnote/kernelspec/logo-64x64.png build/share/cnote/kernelspec/logo-svg.svg \
    && install -d /opt/cnote/bin /opt/cnote/share \
    && install -m 0755 build/bin/cnote-kernel build/bin/cnote-exec /opt/cnote/bin/ \
    && cp -r build/share/cnote /opt/cnote/share/ \
    && /opt/cnote/bin/cnote-kernel install --prefix /opt/cnote

# ---- cuda: the pinned CUDA wheels, unpacked into one toolkit tree (bin/nvcc, include, lib, nvvm) ----
FROM debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251 AS cuda
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        python3-venv \
    && rm -rf /var/lib/apt/lists/*
COPY scripts/requirements-cuda.txt /tmp/requirements-cuda.txt
# --no-deps as in scripts/setup.sh: cuBLAS declares NVRTC, which only its JIT paths load
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps \
        -r /tmp/requirements-cuda.txt \
    && cp -a /opt/venv/lib/python3.11/site-packages/nvidia/cu13 /opt/cuda \
    && test -x /opt/cuda/bin/nvcc

# ---- runtime -------------------------------------------------------------------------------------
FROM debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251
# gcc/g++/libc6-dev: cells are compiled (nvcc uses g++ as its host compiler); the -dev packages of
# OpenBLAS and LAPACKE bring the headers (cblas.h, lapacke.h) and the libraries cells link;
# libzmq5, libjansson4, libssl3: what cnote-kernel links; tini: PID 1 that reaps and forwards signals.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        gcc \
        g++ \
        libc6-dev \
        libopenblas-dev \
        liblapacke-dev \
        libzmq5 \
        libjansson4 \
        libssl3 \
        tini \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/cnote /opt/cnote
COPY --from=cuda /opt/cuda /opt/cuda
# uid 1000, gid 100 (users): the same ids as the pod's securityContext and the server image, so
# notebooks written by either on the shared volume belong to one user. No setuid/setgid binaries.
RUN useradd --uid 1000 --gid 100 --no-user-group --create-home --home-dir /home/cnote \
        --shell /bin/bash cnote \
    && install -d -o 1000 -g 100 /home/cnote/work \
    && find / -xdev -type f -perm /6000 -exec chmod a-s {} + \
    && ln -s /opt/cnote/bin/cnote-kernel /opt/cnote/bin/cnote-exec /usr/local/bin/
ENV PATH=/opt/cnote/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    CNOTE_CUDA_HOME=/opt/cuda \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    HOME=/home/cnote \
    LANG=C.UTF-8
USER 1000:100
WORKDIR /home/cnote/work
# The provisioner sets the container's command to the same line as CMD (its own command replaces
# ENTRYPOINT too); the connection file comes from the env var CNOTE_CONNECTION (a Secret) and the
# address to bind from CNOTE_POD_IP (the downward API).
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["cnote-kernel", "--connection-env", "CNOTE_CONNECTION", "--ip-env", "CNOTE_POD_IP"]
