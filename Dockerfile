# syntax=docker/dockerfile:1
# InfraNotes IAM image. Node 24 runs the TypeScript sources directly (native type stripping,
# ADR-0007), so there is no build stage: one stage installs production dependencies, the final
# stage copies them next to the sources and runs as an unprivileged user.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="infranotes-iam" \
      org.opencontainers.image.description="InfraNotes IAM: OpenID Connect provider and access management service"
ENV NODE_ENV=production \
    NODE_OPTIONS="--disable-warning=ExperimentalWarning" \
    IAM_SERVER_HOST=0.0.0.0 \
    IAM_SERVER_HTTP_PORT=8080 \
    IAM_DATA_DIR=/var/lib/iam
RUN groupadd --system --gid 10001 iam \
 && useradd --system --uid 10001 --gid iam --home-dir /var/lib/iam --shell /usr/sbin/nologin iam \
 && mkdir -p /var/lib/iam && chown iam:iam /var/lib/iam && chmod 0700 /var/lib/iam
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json knexfile.ts tsconfig.json ./
COPY src ./src
COPY adapters ./adapters
COPY interactions ./interactions
COPY migrations ./migrations
COPY views ./views
COPY contracts ./contracts
COPY configs ./configs
COPY scripts ./scripts
COPY bin ./bin
# `iam` on PATH for `kubectl exec … iam keys list` and the migration Job.
RUN ln -s /app/bin/iam.js /usr/local/bin/iam && chmod 0755 /app/bin/iam.js

USER 10001:10001
EXPOSE 8080
# Liveness only (the orchestrator's readiness probe uses /ready).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.IAM_SERVER_HTTP_PORT||8080)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node receives SIGTERM directly (exec form, PID 1) and drains within server.shutdown_timeout_ms.
CMD ["node", "src/main.ts"]
