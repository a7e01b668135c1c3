#!/usr/bin/env bash
# Stand-ins for the compose file's three base images, built from Debian's packages and this machine's
# Node.js, for a machine that reaches Debian's and npm's registries but not Docker Hub (an air-gapped
# build host, a CI runner behind a proxy). Then:
#   eval "$(bash deploy/offline-images.sh)" && docker-compose up     # or `docker compose up`
# It prints the three variables docker-compose.yml reads (NODE_IMAGE, REDIS_IMAGE, HAPROXY_IMAGE).
# Needs root, docker, debootstrap (apt-get install debootstrap) and Node.js 20 on the host.
# Versions are Debian 12's: Redis 7.0, HAProxy 2.6 (the official images are Redis 7.2, HAProxy 2.9).
set -euo pipefail

tag=${OFFLINE_TAG:-klines-offline}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say() { echo "offline-images: $*" >&2; }

node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" = 20 ] || { say "the host's Node.js is $node_major, the engine runs on 20"; exit 1; }
command -v debootstrap >/dev/null || { say "debootstrap is missing: apt-get install -y debootstrap"; exit 1; }

if ! docker image inspect "$tag/debian:bookworm" >/dev/null 2>&1; then
  say "debootstrap bookworm from $mirror (about a minute)"
  debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  tar -C "$work/rootfs" -c . | docker import - "$tag/debian:bookworm" >/dev/null
fi

# One build per image, its Dockerfile on stdin and $work/ctx as its context.
build() {
  local name=$1
  docker build -q -t "$tag/$name" -f - "$work/ctx" >/dev/null 2>"$work/build.log" || { cat "$work/build.log" >&2; say "building $tag/$name failed"; exit 1; }
  say "built $tag/$name"
}
mkdir -p "$work/ctx"
# The host's trust store: a host behind a TLS-inspecting proxy trusts its CA, and npm ci in the
# engine's image goes through that proxy.
cp /etc/ssl/certs/ca-certificates.crt "$work/ctx/ca-certificates.crt"
node_root=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
mkdir -p "$work/ctx/node/bin" "$work/ctx/node/lib/node_modules"
cp "$(readlink -f "$(command -v node)")" "$work/ctx/node/bin/node"
cp -r "$node_root/lib/node_modules/npm" "$work/ctx/node/lib/node_modules/npm"

# Like the official image: no protected mode (other containers reach it; Debian's build refuses
# them without a password), data in /data.
build redis <<EOF
FROM $tag/debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends redis-server redis-tools && rm -rf /var/lib/apt/lists/*
WORKDIR /data
ENTRYPOINT ["sh", "-c", "if [ \"\$1\" = redis-server ]; then exec \"\$@\" --protected-mode no; fi; exec \"\$@\"", "redis"]
CMD ["redis-server"]
EOF

# The official image's config path, in the foreground in master-worker mode (reloaded by SIGHUP).
# maxconn takes about two descriptors per connection: where the container gets fewer (a Docker
# daemon started with a low limit) HAProxy refuses to start, so this lowers it, and says so.
cat >"$work/ctx/haproxy-start.sh" <<'SH'
#!/bin/sh
cfg=/usr/local/etc/haproxy/haproxy.cfg
fit=$(( $(ulimit -n) / 2 - 100 ))
want=$(awk '$1 == "maxconn" { print $2; exit }' "$cfg")
if [ -n "$want" ] && [ "$want" -gt "$fit" ]; then
  echo "lb: descriptor limit $(ulimit -n): maxconn $fit instead of $want" >&2
  exec haproxy -W -db -f "$cfg" -n "$fit"
fi
exec haproxy -W -db -f "$cfg"
SH
build haproxy <<EOF
FROM $tag/debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends haproxy && rm -rf /var/lib/apt/lists/*
COPY haproxy-start.sh /usr/local/bin/haproxy-start
CMD ["sh", "/usr/local/bin/haproxy-start"]
EOF

build node <<EOF
FROM $tag/debian:bookworm
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY node/ /usr/local/
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt npm_config_cafile=/etc/ssl/certs/ca-certificates.crt
EOF

echo "export NODE_IMAGE=$tag/node REDIS_IMAGE=$tag/redis HAPROXY_IMAGE=$tag/haproxy"
