# syntax=docker/dockerfile:1
# The OneWindow image: every process (api, worker, witness, dev, ledger, keys) is
# `node bin/onewindow.mjs <command>`. The sources are TypeScript run through tsx (a runtime
# dependency), so there is no build step: the image is the production dependencies plus the
# sources, owned by root and run as the unprivileged `node` user (uid 1000).
# Debian (glibc) rather than Alpine: the Temporal worker's native core ships for glibc.
ARG NODE_IMAGE=node:20.19-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Exactly the locked production dependencies; the cache stays out of the layer.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
# .dockerignore keeps tests, benchmarks, local state and secrets out.
COPY . .
# Read-only to the process: it may not change its own code. tsx caches in /tmp.
USER node
# 3000 the API, 8080 a witness, 9464 a worker's /healthz and /metrics (docker-compose.yml).
EXPOSE 3000 8080 9464
ENTRYPOINT ["node", "bin/onewindow.mjs"]
CMD ["--help"]
