# Portcullis in containers: `docker-compose up` (see docker-compose.yml) runs PostgreSQL, the
# bastion and a demo OpenSSH target. Stages: build (compiler and -dev packages), portcullis
# (the programs and their runtime libraries only), demo-target (a plain sshd).

FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/bootstrap scripts/bootstrap
RUN scripts/bootstrap
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build --target portcullis portcullisd

FROM debian:bookworm-slim AS portcullis
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libssh-4 libpqxx-6.4 libpq5 libsodium23 libssl3 libspdlog1.10 libfmt9 libtomlplusplus3 \
      libzstd1 libvterm0 libcctz2 libre2-9 libcurl4 openssh-client tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/portcullis --shell /usr/sbin/nologin portcullis \
 && install -d -o portcullis -g portcullis -m 0700 /var/lib/portcullis
COPY --from=build /src/build/bin/portcullis /src/build/bin/portcullisd /usr/local/bin/
COPY scripts/docker/portcullis.toml /etc/portcullis/portcullis.toml
COPY scripts/docker/portcullis-entrypoint /usr/local/bin/
EXPOSE 2222
VOLUME /var/lib/portcullis
ENTRYPOINT ["portcullis-entrypoint"]

FROM debian:bookworm-slim AS demo-target
# The package generates host keys at install time; each container makes its own instead.
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-server openssh-sftp-server \
 && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_*
COPY scripts/docker/target-entrypoint /usr/local/bin/
EXPOSE 22
ENTRYPOINT ["target-entrypoint"]
