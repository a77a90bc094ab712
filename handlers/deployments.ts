import { HelmgateError } from '../lib/errors';
import { errorResponse, guardHttp, type HttpEvent, type HttpHandler, json } from '../lib/http/lambda-http';
import type { Logger } from '../lib/log/logger';
import type { DeploymentStore } from '../lib/store/deployment-store';
import { awsBase } from '../lib/wiring/aws';
import { lazyHandler } from '../lib/wiring/lazy';

export interface DeploymentsDeps {
  store: DeploymentStore;
  logger: Logger;
}

/** GET /deployments and GET /deployments/{id}: what ran, what waits, and every decision taken. */
export function makeDeploymentsHandler(deps: DeploymentsDeps): HttpHandler {
  return async (event: HttpEvent) => {
    try {
      const id = event.pathParameters?.id;
      if (id) {
        const d = await deps.store.getDeployment(id);
        if (!d) throw new HelmgateError('not_found', `no deployment ${id}`);
        return json(200, { ...d, audit: await deps.store.listAudit(id) });
      }
      const limitParam = Number(event.queryStringParameters?.limit ?? 50);
      const limit = Number.isInteger(limitParam) && limitParam > 0 ? Math.min(limitParam, 200) : 50;
      const env = event.queryStringParameters?.environment;
      const all = await deps.store.listDeployments({ limit });
      return json(200, { deployments: env ? all.filter((d) => d.environment === env) : all });
    } catch (e) {
      return errorResponse(e, deps.logger);
    }
  };
}

export const handler = guardHttp(
  lazyHandler(async () => {
    const base = awsBase();
    return makeDeploymentsHandler({ store: base.store, logger: base.logger });
  }),
  { hsts: true },
);
