import {
  anonymousReadResponse,
  type ReadAccess,
  ReadAccess as ReadAccessClass,
} from '../lib/auth/read-access';
import { composeAws } from '../lib/compose/aws';
import { lazyHandler } from '../lib/compose/lazy';
import { HelmgateError } from '../lib/errors';
import { errorResponse, type HttpEvent, type HttpHandler, json } from '../lib/http/lambda-http';
import { withLambdaContext } from '../lib/log/lambda-logger';
import type { Logger } from '../lib/log/logger';
import type { DeploymentStore } from '../lib/store/deployment-store';

export interface DeploymentsDeps {
  store: DeploymentStore;
  logger: Logger;
  /** who may read: an API token, or a GitHub session of an approver or a reader of the repository */
  readAccess: Pick<ReadAccess, 'authenticate' | 'mayRead'>;
}

/**
 * GET /deployments and GET /deployments/{id}: what ran, what waits, and every decision taken. Only for
 * readers (401 anonymous, 403 for a deployment of a repository the reader may not see); the list
 * holds only the repositories the reader may see.
 */
export function makeDeploymentsHandler(deps: DeploymentsDeps): HttpHandler {
  return async (event: HttpEvent) => {
    try {
      const reader = await deps.readAccess.authenticate(event);
      if (!reader) return anonymousReadResponse(event, ReadAccessClass.ANONYMOUS);
      const id = event.pathParameters?.id;
      if (id) {
        const d = await deps.store.getDeployment(id);
        if (!d) throw new HelmgateError('not_found', `no deployment ${id}`);
        if (!(await deps.readAccess.mayRead(reader, d.repository)))
          throw new HelmgateError('forbidden', `you may not read deployments of ${d.repository}`);
        return json(200, { ...d, audit: await deps.store.listAudit(id) });
      }
      const limitParam = Number(event.queryStringParameters?.limit ?? 50);
      const limit = Number.isInteger(limitParam) && limitParam > 0 ? Math.min(limitParam, 200) : 50;
      const env = event.queryStringParameters?.environment;
      const all = await deps.store.listDeployments({ limit });
      const readable = new Map<string, boolean>();
      for (const r of new Set(all.map((d) => d.repository)))
        readable.set(r, await deps.readAccess.mayRead(reader, r));
      const visible = all.filter((d) => readable.get(d.repository) && (!env || d.environment === env));
      return json(200, { deployments: visible });
    } catch (e) {
      return errorResponse(e, deps.logger);
    }
  };
}

export const handler = withLambdaContext(
  lazyHandler(async () => makeDeploymentsHandler(await composeAws().deployments())),
);
