# syntax=docker/dockerfile:1
#
# inventory-prober container image.
#
#   docker build -t inventory-prober .
#   docker run -d --name inventory-prober \
#     --sysctl net.ipv4.ping_group_range="0 2147483647" \
#     --read-only --cap-drop ALL --security-opt no-new-privileges --stop-timeout 30 \
#     -p 9464:9464 \
#     -v "$PWD/config.yaml:/etc/inventory-prober/config.yaml:ro" \
#     -v "$PWD/secrets:/run/secrets/inventory-prober:ro" \
#     -e INVENTORY_TOKEN_FILE=/run/secrets/inventory-prober/inventory-token \
#     -e SNMP_COMMUNITY_FILE=/run/secrets/inventory-prober/snmp-community \
#     -e REDIS_URL=redis://redis:6379/0 \
#     inventory-prober
#
# Volumes (all read-only; the image itself holds no configuration and no secret):
#   /etc/inventory-prober/config.yaml   the config file (see config/example.yaml); CMD points here
#   /run/secrets/inventory-prober/      secret files, one value per file, referenced through
#                                       INVENTORY_TOKEN_FILE, SNMP_COMMUNITY_FILE,
#                                       SNMP_V3_AUTH_KEY_FILE, SNMP_V3_PRIV_KEY_FILE
# The process writes nothing to disk (logs are JSON on stdout), so `--read-only` works.
#
# ICMP without root: the native ICMP engine (the default) opens ICMP datagram sockets inside the
# daemon, which the kernel allows only when the process's gid (10001 here) is inside
# net.ipv4.ping_group_range. That sysctl is per network namespace, so set it per container:
# `--sysctl net.ipv4.ping_group_range="0 2147483647"`. (Docker Engine 20.10+ already defaults
# to that range, except with --network host or userns remapping; Kubernetes does not: see
# deploy/kubernetes.) No capability is needed, hence `--cap-drop ALL`. Without the sysctl the
# engine would need NET_RAW as an effective capability (a raw socket), which a non-root user
# does not get. The worker logs "ICMP engine ready" with the socket kind and why at start-up,
# or "ICMP is not permitted" with the reason.

# ---- build: compile TypeScript and the native ICMP engine with the dev dependencies ------------
FROM node:24-bookworm-slim AS build
# A C compiler for native/icmp_echo.c; Node's headers come with the image (/usr/local/include/node).
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Manifests first: the dependency layer is reused until package*.json change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build-native.mjs ./scripts/
COPY native ./native
COPY src ./src
# The same command as everywhere: compiles the addon into dist/native/, then the TypeScript.
RUN npm run build

# ---- runtime: production dependencies, compiled JavaScript and the ICMP addon -----------------
# Pin this by digest (node:24-bookworm-slim@sha256:…) in a release pipeline for reproducible images.
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production

# No ping or fping: the default native ICMP engine is dist/native/icmp_echo.node. The fping and
# ping engines (probes.icmp.engine, and the worker's fallbacks when the addon cannot open a
# socket) need an image that adds them (`apt-get install fping iputils-ping`); docs/deployment.md.

WORKDIR /opt/inventory-prober
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
# Every setting with its default, for `docker run … cat config/default.yaml` when writing a config.
COPY config/default.yaml config/example.yaml ./config/
# The alert rules' runbook_url opens these, served by the daemon at /runbooks.
COPY docs/runbooks.md ./docs/

# Numeric ids, so Kubernetes' runAsNonRoot can verify them without reading /etc/passwd; no
# matching passwd entry is needed by Node.
USER 10001:10001

# /metrics, /healthz and /readyz (metrics.port).
EXPOSE 9464

# Liveness only (is the event loop answering?): readiness needs Redis and is for orchestrators.
# Slim images have no curl; Node's fetch does the job. Assumes the default metrics.port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# Exec form: node is PID 1 and receives SIGTERM itself, which starts the ordered shutdown
# (shutdown.grace_seconds, default 20 s; Docker's default 10 s stop timeout is too short, hence
# --stop-timeout 30 above).
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["run", "--config", "/etc/inventory-prober/config.yaml"]
