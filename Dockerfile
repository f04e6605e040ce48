# Container image of milvus-migrate (operator, copy worker and CLI in one).
#
# BASE_IMAGE is any image with Node 20 + npm. The default is the official one;
# the test set-up (test/setup/image/build.sh) passes a base it makes locally
# (no registry reachable there): --build-arg BASE_IMAGE=milvus-migrate-base:local.
# Builds with BuildKit and with the legacy builder (DOCKER_BUILDKIT=0).
ARG BASE_IMAGE=node:20-bookworm-slim

# ---- build: compile TypeScript to dist/ -------------------------------------
FROM ${BASE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# npm 11 runs no dependency install scripts unless approved; none are needed.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies + compiled JS only ---------------------
FROM ${BASE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# Drop npm's cache and logs in the same layer (with node: the base may have no rm), and what
# Node never loads at run time: type declarations, source maps and Markdown (about 70 of 119 MB).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && node -e "const fs = require('fs'); for (const d of ['/root/.npm', '/tmp/node-compile-cache']) fs.rmSync(d, {recursive: true, force: true}); for (const f of fs.readdirSync('node_modules', {recursive: true})) if (/\.(d\.[cm]?ts|map|md)$/.test(f)) fs.rmSync('node_modules/' + f, {force: true})"
COPY --from=build /app/dist ./dist
# Non-root; works with readOnlyRootFilesystem (nothing is written at run time).
USER 10001
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
