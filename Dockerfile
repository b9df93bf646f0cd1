# syntax=docker/dockerfile:1
#
# robot-sre-detector runs from its TypeScript source: Node 24 strips the types at load, so there is
# no build step, only the production dependencies. Two stages:
#   deps     node:24 (Debian, has npm) installs node_modules from the lockfile, without dev dependencies
#            and without install scripts (every dependency is plain JS);
#   runtime  distroless Node 24: no shell, no package manager, runs as the numeric non-root user 65532.
#
#   docker build -t robot-sre-detector:0.1.0 .
#   docker run --rm robot-sre-detector:0.1.0 --help
#
# Estimated size (docs/operations.md, "Image"): ~115 MiB of node_modules + ~1 MiB of source on the
# distroless base.

FROM node:24-bookworm-slim AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf /root/.npm

FROM gcr.io/distroless/nodejs24-debian13:nonroot AS runtime
LABEL org.opencontainers.image.title="robot-sre-detector" \
      org.opencontainers.image.description="Edge log collector and incident detector for small Kubernetes clusters" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
ENV NODE_ENV=production
# Files stay owned by root and read-only for the process: the code cannot be changed at run time.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY bin ./bin
COPY src ./src
COPY pipelines ./pipelines
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/nodejs/bin/node", "/app/src/cli.ts"]
CMD ["run", "-c", "/etc/robot-sre-detector/config/config.yaml"]
