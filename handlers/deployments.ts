import {
  anonymousReadResponse,
  type ReadAccess,
  ReadAccess as ReadAccessClass,
} from '../lib/auth/read-access';
import { composeAws } from '../lib/compose/aws';
import { lazyHandler } from '../lib/compose/lazy';
import type { DeploymentStatus } from '../lib/deploy/deployment';
import { HelmgateError } from '../lib/errors';
import { errorResponse, guardHttp, type HttpEvent, type HttpHandler, json } from '../lib/http/lambda-http';
import { withLambdaContext } from '../lib/log/lambda-logger';
import type { Logger } from '../lib/log/logger';
import { MAX_PAGE } from '../lib/store/deployment-query';
import type { DeploymentStore } from '../lib/store/deployment-store';

export interface DeploymentsDeps {
  store: DeploymentStore;
  logger: Logger;
  /** who may read: an API token, or a GitHub session of an approver or a reader of the repository */
  readAccess: Pick<ReadAccess, 'authenticate' | 'mayRead'>;
  /** the accepted repositories: with exactly one, `?environment=` needs no `?repository=` */
  repositories?: readonly string[];
}

function intParam(raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new HelmgateError('bad_request', 'limit must be a positive integer');
  return Math.min(n, MAX_PAGE);
}

/**
 * GET /deployments and GET /deployments/{id}: what ran, what waits, and every decision taken.
 * `?environment=&repository=&status=&limit=&cursor=`: a query on the table's indexes, newest first;
 * `next` in the answer is the cursor of the following page.
 */
export function makeDeploymentsHandler(deps: DeploymentsDeps): HttpHandler {
  return async (event: HttpEvent) => {
    try {
      // reads need credentials (issue 11): 401 anonymous (browsers: the GitHub login), 403 elsewhere
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
      const q = event.queryStringParameters ?? {};
      const only = deps.repositories?.length === 1 ? deps.repositories[0] : undefined;
      const repository = q.repository ?? (q.environment !== undefined ? only : undefined);
      if (q.environment !== undefined && repository === undefined)
        throw new HelmgateError(
          'bad_request',
          'several repositories are configured: name one with ?repository=owner/name',
        );
      const page = await deps.store.queryDeployments({
        limit: intParam(q.limit, 50),
        ...(repository !== undefined && q.environment !== undefined ? { repository } : {}),
        ...(q.environment !== undefined ? { environment: q.environment } : {}),
        ...(q.status !== undefined ? { status: q.status as DeploymentStatus } : {}),
        ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
      });
      // only the repositories this reader may see (asked once per repository on the page)
      const readable = new Map<string, boolean>();
      for (const r of new Set(page.deployments.map((d) => d.repository)))
        readable.set(r, await deps.readAccess.mayRead(reader, r));
      return json(200, { ...page, deployments: page.deployments.filter((d) => readable.get(d.repository)) });
    } catch (e) {
      return errorResponse(e, deps.logger);
    }
  };
}

export const handler = withLambdaContext(
  guardHttp(
    lazyHandler(async () => makeDeploymentsHandler(await composeAws().deployments())),
    { hsts: true },
  ),
);
