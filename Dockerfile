# One image for the whole engine: the API (gunicorn), the judging worker and every toolchain
# of languages.yml (docs/deployment.md).
#
#   docker build -t judge .                          every language (a few GB, slow)
#   docker build -t judge --build-arg LANGUAGES=core .   deps/debian-core.txt only: C/C++,
#                                                        Java, Node.js, Python, Bash
#   podman build --build-arg BASE=localhost/judge-base:bookworm ...   a local base image
#                                                        (scripts/compose-test.sh builds one)
#
# The Debian packages come from the same lists `make up` and `make languages` use, through the
# same installer: deps/debian-core.txt, plus `judge languages packages` (the packages every
# language of languages.yml names) computed by the builder stage from the project itself.
#
# Behind a TLS-intercepting proxy, hand pip its CA bundle as a build secret:
#   docker build --secret id=ca-certificates,src=/etc/ssl/certs/ca-certificates.crt ...
#
# Builds with BuildKit (Docker's default builder; Debian's docker.io needs the docker-buildx
# package) or Podman. No `# syntax=` line: BuildKit's built-in frontend has every feature used
# here, and a syntax line would make each build pull a frontend image from Docker Hub.
# BASE=debian:trixie-slim builds on Debian 13 (GCC 14, Python 3.13, OpenJDK 21): the core
# languages pass their self-tests there (docs/deployment.md).
ARG BASE=debian:bookworm-slim

# -- builder: the virtualenv with the project and its Python dependencies ------------------
FROM ${BASE} AS builder
ENV DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update -q \
    && apt-get install -y -q --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY . /opt/judge
# Editable install: the code finds languages.yml, the migrations and the zygote's C source
# next to itself in /opt/judge, exactly as in a checkout.
RUN --mount=type=secret,id=ca-certificates \
    if [ -s /run/secrets/ca-certificates ]; then export PIP_CERT=/run/secrets/ca-certificates; fi \
    && python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install -q -e /opt/judge \
    && /opt/venv/bin/judge languages packages > /opt/language-packages.txt \
    && rm -rf /opt/judge/build

# -- the engine ------------------------------------------------------------------------------
FROM ${BASE}
# core: deps/debian-core.txt only; all: plus every language's packages
ARG LANGUAGES=all
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 PATH=/opt/venv/bin:$PATH \
    SANDBOX_BOXES_DIR=/var/lib/judge/boxes

# The toolchains first (the slow layer): it changes only when a package list does.
COPY deps/debian-core.txt /opt/judge/deps/debian-core.txt
COPY scripts/install-deps.sh /opt/judge/scripts/install-deps.sh
COPY --from=builder /opt/language-packages.txt /opt/judge/deps/language-packages.txt
RUN set -eu; \
    case "$LANGUAGES" in \
        core) lists=/opt/judge/deps/debian-core.txt ;; \
        all) lists="/opt/judge/deps/debian-core.txt /opt/judge/deps/language-packages.txt" ;; \
        *) echo "LANGUAGES must be core or all, not '$LANGUAGES'" >&2; exit 1 ;; \
    esac; \
    # the postgresql package would bake an empty cluster into the image; a database belongs
    # in a volume (deploy/container/postgres.sh creates one there when the image runs it)
    mkdir -p /etc/postgresql-common/createcluster.d; \
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/judge.conf; \
    /opt/judge/scripts/install-deps.sh $lists; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb

# The API's unprivileged user (box uids, SANDBOX_FIRST_UID = 60000+, stay free) and the
# worker's directories: boxes, box uid locks, the proc instance bubblewrap needs (entrypoint.sh).
RUN groupadd --gid 2358 judge \
    && useradd --uid 2358 --gid 2358 --create-home --home-dir /home/judge \
        --shell /usr/sbin/nologin judge \
    && mkdir -p /var/lib/judge/boxes /run/judge/uids /run/judge/proc

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/judge /opt/judge
# Byte-compile as root now: the API's user cannot write next to the (root-owned) sources.
RUN python3 -m compileall -q /opt/judge/judge /opt/judge/api /opt/judge/workers >/dev/null

WORKDIR /opt/judge
EXPOSE 2358
# The API needs no privilege: it runs as `judge`. The worker is started as root (compose.yaml,
# deploy/kubernetes/worker.yaml) because the sandbox switches to per-box uids, mounts box
# tmpfs and manages cgroups; see docs/deployment.md for the capabilities it gets.
USER judge
ENTRYPOINT ["/opt/judge/deploy/container/entrypoint.sh"]
CMD ["api"]
