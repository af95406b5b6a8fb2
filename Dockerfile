# Portcullis in containers: `docker-compose up` (see docker-compose.yml) runs PostgreSQL, the
# bastion and a demo OpenSSH target. Stages: build (compiler and -dev packages), portcullis
# (the programs and their runtime libraries only), demo-target (a plain sshd).

FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/bootstrap scripts/bootstrap
RUN scripts/bootstrap
COPY . .
# The build context leaves .git out, so --version says "unknown" unless told:
#   docker build --build-arg PORTCULLIS_GIT_DESCRIBE="$(git describe --always --dirty --tags)" .
ARG PORTCULLIS_GIT_DESCRIBE=""
# The web console's npm packages (pinned by web/ui/package-lock.json), embedded by the build.
RUN cd web/ui && npm ci --no-audit --no-fund --loglevel=error
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DPORTCULLIS_GIT_DESCRIBE="${PORTCULLIS_GIT_DESCRIBE}" \
 && cmake --build build --target portcullis portcullisd

FROM debian:bookworm-slim AS portcullis
# Every library the two programs link (tests/package/check_docker_libraries.py compares this list
# with ldd), ssh-keyscan for host key scans, and curl for the compose healthcheck.
# The uid and gid 990 are known to the demo target's entrypoint, which lets this user write the
# target's authorized_keys in the shared volume.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libstdc++6 libgcc-s1 libssh-4 libpqxx-6.4 libpq5 libsodium23 libssl3 libspdlog1.10 libfmt9 \
      libtomlplusplus3 libzstd1 libvterm0 libcctz2 libre2-9 libcurl4 libjwt0 libsystemd0 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 openssh-client curl tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 990 portcullis \
 && useradd --system --uid 990 --gid portcullis --home-dir /var/lib/portcullis \
      --shell /usr/sbin/nologin portcullis \
 && install -d -o portcullis -g portcullis -m 0700 /var/lib/portcullis
COPY --from=build /src/build/bin/portcullis /src/build/bin/portcullisd /usr/local/bin/
COPY scripts/docker/portcullis.toml /etc/portcullis/portcullis.toml
COPY scripts/docker/portcullis-entrypoint /usr/local/bin/
EXPOSE 2222
VOLUME /var/lib/portcullis
# Not root: the entrypoint's setup and the daemon need nothing but /var/lib/portcullis.
USER portcullis
ENTRYPOINT ["portcullis-entrypoint"]

FROM debian:bookworm-slim AS demo-target
# The package generates host keys at install time; each container makes its own instead.
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-server openssh-sftp-server \
 && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_*
COPY scripts/docker/target-entrypoint /usr/local/bin/
EXPOSE 22
ENTRYPOINT ["target-entrypoint"]
