# The Ringmaster image: `ringmaster operator` for the Helm chart (charts/ringmaster), and every other command of
# bin/ (ringmaster serve, ringctl, ringmaster-agent, agent-sim).
#
# NOT BUILT HERE: the development and CI machines of this project have no Docker engine, so this file has never been
# built by its tests. What the tests do check is the chart that runs the image (test/integration/helm-chart.test.ts):
# user 10001, a read-only root filesystem, /tmp as an emptyDir, port 8080, `node bin/ringmaster.js operator ...`.
#
#   docker build -t ghcr.io/ringmaster-dev/ringmaster:0.1.0 .
#
# Stages: build (dev dependencies, TypeScript -> dist/), deps (`npm ci --omit=dev`, better-sqlite3 compiled for
# this Node), runtime (slim, non-root, only dist/, bin/, node_modules, package.json, policies/).

ARG NODE_VERSION=20

# ---------------------------------------------------------------------------------------------------------- build
FROM node:${NODE_VERSION}-bookworm AS build
# better-sqlite3 builds from source with node-gyp when no prebuilt binary matches.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` compiles the sources, which are not copied yet (this layer caches the dependencies).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY controller ./controller
COPY agent ./agent
COPY agent-sim ./agent-sim
COPY bench ./bench
# bench/ imports test helpers; neither is part of the runtime image.
COPY test ./test
RUN npm run build

# ----------------------------------------------------------------------------------------------------------- deps
FROM node:${NODE_VERSION}-bookworm AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only. `prepare` (tsc, a dev dependency) is skipped; the one native module is then built.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3 \
 && node -e "new (require('better-sqlite3'))(':memory:').close()" \
 && npm cache clean --force

# -------------------------------------------------------------------------------------------------------- runtime
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and read-only for the process: the chart also mounts the root filesystem read-only.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY policies ./policies
# The chart's pod securityContext uses the same ids (runAsUser/runAsGroup/fsGroup 10001).
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["node", "bin/ringmaster.js"]
CMD ["--help"]
