import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';
import { eksTokenProblem, type TestCredentials } from './aws-sigv4';
import {
  canEncodeProtobuf,
  decodeProtobufObject,
  encodeProtobufObject,
  isProtobufBody,
  PROTOBUF_CONTENT_TYPE,
} from './kube-protobuf';

type Json = Record<string, any>;

/** One API resource the stand-in serves. */
interface ResourceType {
  group: string; // '' for core
  version: string;
  resource: string; // plural
  kind: string;
  singular: string;
  namespaced: boolean;
  subresources: string[];
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** group ('' for core), version, plural, kind, namespaced, subresources */
const r = (
  group: string,
  version: string,
  resource: string,
  kind: string,
  namespaced: boolean,
  subresources: string[] = [],
): ResourceType => ({
  group,
  version,
  resource,
  kind,
  singular: kind.toLowerCase(),
  namespaced,
  subresources,
});

const RESOURCES: ResourceType[] = [
  r('', 'v1', 'namespaces', 'Namespace', false, ['status']),
  r('', 'v1', 'secrets', 'Secret', true),
  r('', 'v1', 'configmaps', 'ConfigMap', true),
  r('', 'v1', 'services', 'Service', true, ['status']),
  r('', 'v1', 'serviceaccounts', 'ServiceAccount', true),
  r('', 'v1', 'persistentvolumeclaims', 'PersistentVolumeClaim', true, ['status']),
  r('', 'v1', 'pods', 'Pod', true, ['status', 'log']),
  r('', 'v1', 'events', 'Event', true),
  r('apps', 'v1', 'deployments', 'Deployment', true, ['status', 'scale']),
  r('apps', 'v1', 'statefulsets', 'StatefulSet', true, ['status', 'scale']),
  r('apps', 'v1', 'daemonsets', 'DaemonSet', true, ['status']),
  r('apps', 'v1', 'replicasets', 'ReplicaSet', true, ['status', 'scale']),
  r('networking.k8s.io', 'v1', 'ingresses', 'Ingress', true, ['status']),
  r('networking.k8s.io', 'v1', 'networkpolicies', 'NetworkPolicy', true),
  r('batch', 'v1', 'jobs', 'Job', true, ['status']),
  r('batch', 'v1', 'cronjobs', 'CronJob', true, ['status']),
  r('policy', 'v1', 'poddisruptionbudgets', 'PodDisruptionBudget', true, ['status']),
  r('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition', false, ['status']),
  r('rbac.authorization.k8s.io', 'v1', 'roles', 'Role', true),
  r('rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding', true),
  r('rbac.authorization.k8s.io', 'v1', 'clusterroles', 'ClusterRole', false),
  r('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings', 'ClusterRoleBinding', false),
];

const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

/** One request as the stand-in saw it. */
export interface KubeRequest {
  method: string;
  /** pathname without the query */
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  accept: string | undefined;
  authorization: string | undefined;
  body: Buffer;
  /**
   * The body as text to scan for canaries: protobuf bodies are decoded to JSON with Secret data decoded
   * from base64; JSON bodies have Secret data decoded too; anything else is the raw UTF-8.
   */
  text: string;
  /** performance.now() when it arrived (to order it against other effects) */
  at: number;
}

/** A fault answered instead of the real response, for the next `times` matching requests. */
export interface KubeFault {
  method?: string;
  pathPattern: RegExp;
  /** HTTP status, or 'reset' to destroy the connection without a response */
  status: number | 'reset';
  /** a message for a Kubernetes Status body, or a whole JSON body */
  body?: string | Json;
  headers?: Record<string, string>;
  times?: number;
}

export interface KubeApiOptions {
  /** Deployments/StatefulSets/DaemonSets report ready unless told otherwise. Default true. */
  workloadsReady?: boolean;
  /** Reject namespaced writes to a namespace that does not exist, as the real API does. Default true. */
  requireNamespaces?: boolean;
  /**
   * A bearer token requests must carry; undefined accepts any (or none). client-node sends it over http;
   * helm (client-go) does not: it only attaches credentials over TLS (kubernetes/kubectl#744), so helm
   * tests leave this unset.
   */
  token?: string;
  /**
   * EKS through IAM (issue 15): requests must carry an EKS token (`k8s-aws-v1.…`) presigned for this
   * cluster with these credentials, checked as EKS checks it (test/stand-ins/aws-sigv4.ts).
   */
  eks?: { cluster: string; region: string; credentials: TestCredentials; now?: () => Date };
}

interface Watcher {
  type: ResourceType;
  namespace: string | undefined;
  selector: (labels: Record<string, string>) => boolean;
  name: string | undefined;
  res: ServerResponse;
}

class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Json,
  ) {
    super(message);
  }
}

/**
 * A loopback Kubernetes API server for tests, good enough for the real helm 4 binary
 * (`--kube-apiserver http://127.0.0.1:PORT`) and for @kubernetes/client-node: version and legacy
 * discovery, CRUD, list by label selector, JSON/merge/strategic/JSON-patch and server-side apply, Secrets in
 * protobuf (helm's release storage speaks nothing else), and watches. Objects live in memory in their
 * JSON form; workloads get a status the server owns (ready by default, see `setDeploymentAvailable`).
 */
export class KubeApiStandIn {
  readonly requests: KubeRequest[] = [];
  private readonly store = new Map<string, Json>();
  /** last applied configuration per object key and field manager, to drop fields a manager stopped applying */
  private readonly applied = new Map<string, Map<string, Json>>();
  private readonly faults: Array<KubeFault & { remaining: number }> = [];
  private readonly readiness = new Map<string, boolean>();
  private readinessRule: ((workload: Json) => boolean) | undefined;
  private readonly watchers = new Set<Watcher>();
  private readonly sockets = new Set<Socket>();
  /** `namespace/pod/container` -> the log text `pods/{name}/log` answers (see setPodLog) */
  private readonly podLogs = new Map<string, string>();
  private server: Server | undefined;
  private rv = 100;
  private readonly options: Required<Omit<KubeApiOptions, 'token' | 'eks'>> & {
    token: string | undefined;
    eks: KubeApiOptions['eks'] | undefined;
  };
  /** why each refused EKS token was refused, in order */
  readonly eksRefusals: string[] = [];
  port = 0;

  constructor(options: KubeApiOptions = {}) {
    this.options = {
      workloadsReady: options.workloadsReady ?? true,
      requireNamespaces: options.requireNamespaces ?? true,
      token: options.token,
      eks: options.eks,
    };
    for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease'])
      this.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  }

  static async start(options: KubeApiOptions = {}): Promise<KubeApiStandIn> {
    return new KubeApiStandIn(options).start();
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e) => {
        if (!res.headersSent) this.sendStatus(res, false, new ApiError(500, 'InternalError', String(e)));
        else res.end();
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** A kubeconfig (YAML) for this server; client-node and helm both accept it. */
  kubeconfig(opts: { token?: string; namespace?: string } = {}): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: standin',
      '  cluster:',
      `    server: ${this.url}`,
      // client-node 1.x refuses plain http unless this is set (there is no TLS to skip)
      '    insecure-skip-tls-verify: true',
      'users:',
      '- name: standin',
      '  user:',
      `    token: ${JSON.stringify(opts.token ?? this.options.token ?? 'standin-token')}`,
      'contexts:',
      '- name: standin',
      '  context:',
      '    cluster: standin',
      '    user: standin',
      `    namespace: ${opts.namespace ?? 'default'}`,
      'current-context: standin',
      '',
    ].join('\n');
  }

  // ---- test hooks ----------------------------------------------------------------------------

  /** Stored objects, optionally of one kind (e.g. 'Secret', 'Deployment'). */
  objects(kind?: string): Json[] {
    const all = [...this.store.values()];
    return structuredClone(kind ? all.filter((o) => o.kind === kind) : all);
  }

  /** One stored object by kind, namespace ('' for cluster-scoped) and name. */
  get(kind: string, namespace: string, name: string): Json | undefined {
    const t = RESOURCES.find((r) => r.kind === kind);
    if (!t) throw new Error(`unknown kind ${kind}`);
    const o = this.store.get(this.key(t, t.namespaced ? namespace : '', name));
    return o ? structuredClone(o) : undefined;
  }

  /** Seeds (or replaces) an object as if it had been created through the API. */
  put(obj: Json): Json {
    const t = this.typeOfObject(obj);
    const ns = t.namespaced ? (obj.metadata?.namespace ?? 'default') : '';
    const key = this.key(t, ns, obj.metadata?.name);
    const prev = this.store.get(key);
    const next = structuredClone(obj);
    next.metadata = { ...next.metadata, ...(t.namespaced ? { namespace: ns } : {}) };
    return this.save(t, key, next, prev);
  }

  /** Deletes an object as if through the API (watchers see DELETED); false when there was none. */
  delete(kind: string, namespace: string, name: string): boolean {
    const t = RESOURCES.find((r) => r.kind === kind);
    if (!t) throw new Error(`unknown kind ${kind}`);
    if (!this.store.has(this.key(t, t.namespaced ? namespace : '', name))) return false;
    this.remove(t, t.namespaced ? namespace : undefined, name, false);
    return true;
  }

  /** The next `times` (default 1) requests matching answer with the fault instead. */
  inject(fault: KubeFault): void {
    this.faults.push({ ...fault, remaining: fault.times ?? 1 });
  }

  /**
   * Decides readiness from the workload itself (e.g. its image tag), for tests where a new revision is bad
   * and the one rolled back to is good; per-name overrides still win. `undefined` removes the rule.
   */
  setWorkloadReadiness(rule: ((workload: Json) => boolean) | undefined): void {
    this.readinessRule = rule;
    for (const [key, o] of this.store)
      if (WORKLOADS.has(o.kind)) this.save(this.typeOfObject(o), key, structuredClone(o), o);
  }

  /** Makes a Deployment/StatefulSet/DaemonSet (existing or future) report available or not. */
  setDeploymentAvailable(namespace: string, name: string, available: boolean): void {
    this.readiness.set(`${namespace}/${name}`, available);
    for (const [key, o] of this.store) {
      if (WORKLOADS.has(o.kind) && o.metadata?.namespace === namespace && o.metadata?.name === name) {
        const t = this.typeOfObject(o);
        this.save(t, key, structuredClone(o), o);
      }
    }
  }

  /** The text `GET .../pods/{name}/log?container=` answers (client-node's readNamespacedPodLog). */
  setPodLog(namespace: string, pod: string, container: string, text: string): void {
    this.podLogs.set(`${namespace}/${pod}/${container}`, text);
  }

  /** Helm's release records (decoded from its storage Secrets) for a release, oldest revision first. */
  helmReleases(namespace: string, release: string): Json[] {
    return this.helmSecrets(namespace, release).map((s) => decodeHelmRelease(s.data.release));
  }

  /**
   * Leaves the latest revision of a helm release in a `pending-*` state, as a run killed mid-upgrade would:
   * rewrites `info.status` inside helm's storage Secret and its `status` label.
   */
  markHelmReleasePending(
    namespace: string,
    release: string,
    status: 'pending-install' | 'pending-upgrade' | 'pending-rollback' = 'pending-upgrade',
  ): void {
    const latest = this.helmSecrets(namespace, release).at(-1);
    if (!latest) throw new Error(`no helm release ${namespace}/${release}`);
    const rel = decodeHelmRelease(latest.data.release);
    rel.info = { ...rel.info, status };
    latest.data.release = encodeHelmRelease(rel);
    latest.metadata.labels = { ...latest.metadata.labels, status };
    this.put(latest);
  }

  // ---- request handling ----------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://local');
    const method = (req.method ?? 'GET').toUpperCase();
    const contentType = req.headers['content-type'];
    const accept = req.headers.accept;
    const query = Object.fromEntries(url.searchParams);
    const wantsProtobuf = (accept ?? '').trim().startsWith(PROTOBUF_CONTENT_TYPE);
    this.requests.push({
      method,
      path: url.pathname,
      query,
      contentType,
      accept,
      authorization: req.headers.authorization,
      body,
      text: requestText(body, contentType),
      at: performance.now(),
    });

    const fault = this.faults.find(
      (f) =>
        f.remaining > 0 &&
        (!f.method || f.method.toUpperCase() === method) &&
        f.pathPattern.test(url.pathname),
    );
    if (fault) {
      fault.remaining--;
      if (fault.status === 'reset') {
        req.socket.destroy();
        return;
      }
      if (fault.body !== undefined && typeof fault.body !== 'string') {
        res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
        res.end(JSON.stringify(fault.body));
        return;
      }
      const err = new ApiError(
        fault.status,
        reasonFor(fault.status),
        fault.body ?? defaultMessage(fault.status),
      );
      return this.sendStatus(res, wantsProtobuf, err, fault.headers);
    }

    if (this.options.token !== undefined && req.headers.authorization !== `Bearer ${this.options.token}`)
      return this.sendStatus(res, wantsProtobuf, new ApiError(401, 'Unauthorized', 'Unauthorized'), {
        'www-authenticate': 'Bearer realm="kubernetes"',
      });

    const eks = this.options.eks;
    if (eks) {
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const problem = bearer
        ? eksTokenProblem(bearer, { ...eks, now: eks.now?.() ?? new Date() })
        : 'no bearer token';
      if (problem) {
        this.eksRefusals.push(problem);
        return this.sendStatus(res, wantsProtobuf, new ApiError(401, 'Unauthorized', 'Unauthorized'), {
          'www-authenticate': 'Bearer realm="kubernetes"',
        });
      }
    }

    try {
      const discovery = this.discovery(url.pathname);
      if (discovery !== undefined) {
        if (method !== 'GET')
          throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method');
        return this.send(res, false, 200, discovery);
      }
      const route = this.route(url.pathname);
      if (!route) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      const { type, namespace, name, subresource } = route;
      const dryRun = query.dryRun === 'All';

      if (method === 'GET' && !name) {
        if (query.watch === 'true' || query.watch === '1')
          // watch events are JSON even for protobuf clients: client-go accepts either
          return this.watch(res, type, namespace, query);
        const list = this.list(type, namespace, query);
        // `as=PartialObjectMetadataList` (what metadata-only clients ask for): labels without payloads
        if (/^application\/json;as=PartialObjectMetadataList;/.test((accept ?? '').trim()))
          return this.send(res, false, 200, {
            apiVersion: 'meta.k8s.io/v1',
            kind: 'PartialObjectMetadataList',
            metadata: list.metadata,
            items: (list.items as Json[]).map((o) => ({
              apiVersion: 'meta.k8s.io/v1',
              kind: 'PartialObjectMetadata',
              metadata: o.metadata,
            })),
          });
        return this.send(res, wantsProtobuf, 200, list);
      }
      if (!name && method !== 'POST')
        throw new ApiError(405, 'MethodNotAllowed', 'collection operations are not supported');
      if (subresource === 'log' && type.kind === 'Pod' && method === 'GET') {
        this.mustGet(type, namespace, name as string);
        const text = this.podLogs.get(`${namespace}/${name}/${query.container ?? ''}`);
        if (text === undefined)
          throw new ApiError(400, 'BadRequest', `container ${query.container} has no log`);
        const lines = text.split('\n');
        const tail = query.tailLines ? lines.slice(-Number(query.tailLines)) : lines;
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(tail.join('\n'));
        return;
      }
      if (subresource && subresource !== 'status' && subresource !== 'scale')
        throw new ApiError(404, 'NotFound', `subresource ${subresource} is not served`);

      switch (method) {
        case 'GET':
          return this.send(res, wantsProtobuf, 200, this.mustGet(type, namespace, name as string));
        case 'POST': {
          if (name) throw new ApiError(405, 'MethodNotAllowed', 'POST to a named resource');
          const obj = this.parseBody(body, contentType);
          return this.send(res, wantsProtobuf, 201, this.create(type, namespace, obj, dryRun));
        }
        case 'PUT': {
          const obj = this.parseBody(body, contentType);
          return this.send(
            res,
            wantsProtobuf,
            200,
            this.update(type, namespace, name as string, obj, dryRun),
          );
        }
        case 'PATCH': {
          const r = this.patch(type, namespace, name as string, body, contentType, query, dryRun);
          return this.send(res, wantsProtobuf, r.created ? 201 : 200, r.obj);
        }
        case 'DELETE':
          return this.send(res, wantsProtobuf, 200, this.remove(type, namespace, name as string, dryRun));
        default:
          throw new ApiError(405, 'MethodNotAllowed', `method ${method} is not allowed`);
      }
    } catch (e) {
      if (e instanceof ApiError) return this.sendStatus(res, wantsProtobuf, e);
      throw e;
    }
  }

  private discovery(pathname: string): Json | undefined {
    const p = pathname.replace(/\/+$/, '') || '/';
    if (p === '/version')
      return {
        major: '1',
        minor: '35',
        gitVersion: 'v1.35.0',
        gitCommit: 'standin',
        gitTreeState: 'clean',
        buildDate: '2026-01-01T00:00:00Z',
        goVersion: 'go1.25.0',
        compiler: 'gc',
        platform: 'linux/amd64',
      };
    if (p === '/openapi/v3' || p.startsWith('/openapi/v3/')) return this.openapiV3(p);
    if (p === '/api')
      return {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${this.port}` }],
      };
    if (p === '/apis') {
      const groups = [...new Set(RESOURCES.filter((r) => r.group).map((r) => `${r.group}/${r.version}`))];
      return {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: groups.map((gv) => {
          const [name, version] = gv.split('/') as [string, string];
          return {
            name,
            versions: [{ groupVersion: gv, version }],
            preferredVersion: { groupVersion: gv, version },
          };
        }),
      };
    }
    const core = p === '/api/v1';
    const m = /^\/apis\/([^/]+)\/([^/]+)$/.exec(p);
    const g = /^\/apis\/([^/]+)$/.exec(p);
    if (g) {
      const versions = RESOURCES.filter((r) => r.group === g[1]).map((r) => r.version);
      if (versions.length === 0) return undefined;
      const v = versions[0] as string;
      return {
        kind: 'APIGroup',
        apiVersion: 'v1',
        name: g[1],
        versions: [{ groupVersion: `${g[1]}/${v}`, version: v }],
        preferredVersion: { groupVersion: `${g[1]}/${v}`, version: v },
      };
    }
    if (!core && !m) return undefined;
    const group = core ? '' : (m?.[1] as string);
    const version = core ? 'v1' : (m?.[2] as string);
    const types = RESOURCES.filter((r) => r.group === group && r.version === version);
    if (types.length === 0) return undefined;
    const resources: Json[] = [];
    for (const t of types) {
      resources.push({
        name: t.resource,
        singularName: t.singular,
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: VERBS,
      });
      for (const sub of t.subresources)
        resources.push({
          name: `${t.resource}/${sub}`,
          singularName: '',
          namespaced: t.namespaced,
          kind: sub === 'scale' ? 'Scale' : t.kind,
          ...(sub === 'scale' ? { group: 'autoscaling', version: 'v1' } : {}),
          verbs: ['get', 'patch', 'update'],
        });
    }
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: core ? 'v1' : `${group}/${version}`,
      resources,
    };
  }

  /**
   * OpenAPI v3, just enough for helm's client-side validation (it validates the Namespace it creates with
   * `--create-namespace` even under `--disable-openapi-validation`): one document per group/version with a
   * permissive schema per kind that carries its `x-kubernetes-group-version-kind`.
   */
  private openapiV3(p: string): Json | undefined {
    const gvs = [...new Set(RESOURCES.map((r) => this.apiVersionOf(r)))];
    const docPath = (gv: string) => (gv.includes('/') ? `apis/${gv}` : `api/${gv}`);
    if (p === '/openapi/v3')
      return {
        paths: Object.fromEntries(
          gvs.map((gv) => [docPath(gv), { serverRelativeURL: `/openapi/v3/${docPath(gv)}?hash=STANDIN` }]),
        ),
      };
    const gv = gvs.find((v) => p === `/openapi/v3/${docPath(v)}`);
    if (!gv) return undefined;
    const schemas: Json = {};
    const paths: Json = {};
    for (const t of RESOURCES.filter((r) => this.apiVersionOf(r) === gv)) {
      const base = t.group ? `/apis/${gv}` : `/api/${gv}`;
      const gvk = { group: t.group, version: t.version, kind: t.kind };
      // a PATCH that declares `fieldValidation` makes helm leave validation to the server (kubectl's
      // QueryParamVerifierV3) instead of downloading the whole OpenAPI v2 schema
      paths[`${base}${t.namespaced ? '/namespaces/{namespace}' : ''}/${t.resource}/{name}`] = {
        patch: {
          parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string' } }],
          'x-kubernetes-action': 'patch',
          'x-kubernetes-group-version-kind': gvk,
        },
      };
      schemas[`io.k8s.standin.${t.group || 'core'}.${t.version}.${t.kind}`] = {
        type: 'object',
        'x-kubernetes-preserve-unknown-fields': true,
        'x-kubernetes-group-version-kind': [gvk],
      };
    }
    return {
      openapi: '3.0.0',
      info: { title: 'Kubernetes', version: 'v1.35.0' },
      paths,
      components: { schemas },
    };
  }

  private route(
    pathname: string,
  ):
    | { type: ResourceType; namespace: string | undefined; name: string | undefined; subresource?: string }
    | undefined {
    const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
    let group: string;
    let version: string;
    let rest: string[];
    if (parts[0] === 'api' && parts[1]) {
      group = '';
      version = parts[1];
      rest = parts.slice(2);
    } else if (parts[0] === 'apis' && parts[1] && parts[2]) {
      group = parts[1];
      version = parts[2];
      rest = parts.slice(3);
    } else return undefined;
    let namespace: string | undefined;
    // `namespaces/<ns>/<resource>...` addresses a namespaced resource; `namespaces[/<name>]` the Namespace itself
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const type = RESOURCES.find((r) => r.group === group && r.version === version && r.resource === rest[0]);
    if (!type) return undefined;
    if (type.namespaced === false && namespace !== undefined) return undefined;
    const name = rest[1];
    const subresource = rest[2];
    return { type, namespace, name, ...(subresource ? { subresource } : {}) };
  }

  private key(t: ResourceType, namespace: string, name: string): string {
    return `${t.group}/${t.version}/${t.kind}/${namespace}/${name}`;
  }

  private typeOfObject(obj: Json): ResourceType {
    const apiVersion = String(obj.apiVersion ?? '');
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
    const t = RESOURCES.find((r) => r.group === group && r.version === version && r.kind === obj.kind);
    if (!t) throw new Error(`the stand-in does not serve ${apiVersion} ${obj.kind}`);
    return t;
  }

  private apiVersionOf(t: ResourceType): string {
    return t.group ? `${t.group}/${t.version}` : t.version;
  }

  private mustGet(t: ResourceType, namespace: string | undefined, name: string): Json {
    const o = this.store.get(this.key(t, namespace ?? '', name));
    if (!o) throw notFound(t, name);
    return o;
  }

  private list(t: ResourceType, namespace: string | undefined, query: Record<string, string>): Json {
    const selector = parseSelector(query.labelSelector ?? '');
    const fieldName = /^metadata\.name=(.+)$/.exec(query.fieldSelector ?? '')?.[1];
    const items = [...this.store.values()].filter(
      (o) =>
        o.kind === t.kind &&
        o.apiVersion === this.apiVersionOf(t) &&
        (namespace === undefined || o.metadata?.namespace === namespace) &&
        (fieldName === undefined || o.metadata?.name === fieldName) &&
        selector(o.metadata?.labels ?? {}),
    );
    items.sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
    return {
      apiVersion: this.apiVersionOf(t),
      kind: `${t.kind}List`,
      metadata: { resourceVersion: String(this.rv) },
      items,
    };
  }

  private requireNamespace(t: ResourceType, namespace: string | undefined): void {
    if (!t.namespaced || !this.options.requireNamespaces) return;
    const ns = this.store.get(this.key(RESOURCES[0] as ResourceType, '', namespace ?? ''));
    if (!ns)
      throw new ApiError(404, 'NotFound', `namespaces "${namespace}" not found`, {
        name: namespace,
        kind: 'namespaces',
      });
    if (ns.status?.phase === 'Terminating')
      throw new ApiError(
        403,
        'Forbidden',
        `unable to create new content in namespace ${namespace} because it is being terminated`,
      );
  }

  private normalise(t: ResourceType, namespace: string | undefined, obj: Json, name?: string): Json {
    if (!obj || typeof obj !== 'object' || Array.isArray(obj))
      throw new ApiError(400, 'BadRequest', 'the request body is not an object');
    const o = structuredClone(obj);
    o.apiVersion = this.apiVersionOf(t);
    o.kind = t.kind;
    o.metadata = { ...(o.metadata ?? {}) };
    if (name !== undefined && o.metadata.name !== undefined && o.metadata.name !== name)
      throw new ApiError(400, 'BadRequest', 'the name of the object does not match the name on the URL');
    if (name !== undefined) o.metadata.name = name;
    if (!o.metadata.name && o.metadata.generateName)
      o.metadata.name = `${o.metadata.generateName}${randomUUID().slice(0, 5)}`;
    if (!o.metadata.name)
      throw new ApiError(422, 'Invalid', `${t.kind} "" is invalid: metadata.name: Required value`);
    if (t.namespaced) {
      if (o.metadata.namespace && namespace && o.metadata.namespace !== namespace)
        throw new ApiError(
          400,
          'BadRequest',
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      o.metadata.namespace = namespace ?? o.metadata.namespace ?? 'default';
    } else delete o.metadata.namespace;
    return o;
  }

  private create(t: ResourceType, namespace: string | undefined, obj: Json, dryRun: boolean): Json {
    const o = this.normalise(t, namespace, obj);
    this.requireNamespace(t, o.metadata.namespace);
    const key = this.key(t, o.metadata.namespace ?? '', o.metadata.name);
    if (this.store.has(key))
      throw new ApiError(409, 'AlreadyExists', `${t.resource} "${o.metadata.name}" already exists`, {
        name: o.metadata.name,
        kind: t.resource,
      });
    delete o.metadata.resourceVersion;
    return dryRun ? o : this.save(t, key, o, undefined);
  }

  private update(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    obj: Json,
    dryRun: boolean,
  ): Json {
    const o = this.normalise(t, namespace, obj, name);
    const key = this.key(t, o.metadata.namespace ?? '', name);
    const prev = this.store.get(key);
    if (!prev) throw notFound(t, name);
    const rv = o.metadata.resourceVersion;
    if (rv && rv !== prev.metadata.resourceVersion) throw conflict(t, name);
    return dryRun ? o : this.save(t, key, o, prev);
  }

  private patch(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    body: Buffer,
    contentType: string | undefined,
    query: Record<string, string>,
    dryRun: boolean,
  ): { obj: Json; created: boolean } {
    const ct = (contentType ?? '').split(';')[0]?.trim();
    const key = this.key(t, namespace ?? '', name);
    const prev = this.store.get(key);
    if (ct === 'application/apply-patch+yaml') {
      const applied = this.normalise(t, namespace, parseObject(body), name);
      const manager = query.fieldManager ?? '';
      if (!prev) {
        this.requireNamespace(t, applied.metadata.namespace);
        delete applied.metadata.resourceVersion;
        if (dryRun) return { obj: applied, created: true };
        this.rememberApplied(key, manager, applied);
        return { obj: this.save(t, key, structuredClone(applied), undefined), created: true };
      }
      const rv = applied.metadata.resourceVersion;
      if (rv && rv !== prev.metadata.resourceVersion) throw conflict(t, name);
      const before = this.applied.get(key)?.get(manager);
      const base = before ? dropRemoved(structuredClone(prev), before, applied) : structuredClone(prev);
      const merged = deepMerge(base, applied);
      if (dryRun) return { obj: merged, created: false };
      this.rememberApplied(key, manager, applied);
      return { obj: this.save(t, key, merged, prev), created: false };
    }
    if (!prev) throw notFound(t, name);
    let next: Json;
    if (ct === 'application/merge-patch+json' || ct === 'application/strategic-merge-patch+json')
      next = mergePatch(structuredClone(prev), parseObject(body)) as Json;
    else if (ct === 'application/json-patch+json') next = jsonPatch(structuredClone(prev), parseJson(body));
    else
      throw new ApiError(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format: ${ct}`,
      );
    const o = this.normalise(t, namespace, next, name);
    const rv = o.metadata.resourceVersion;
    if (rv && rv !== prev.metadata.resourceVersion) throw conflict(t, name);
    return { obj: dryRun ? o : this.save(t, key, o, prev), created: false };
  }

  private rememberApplied(key: string, manager: string, applied: Json): void {
    const m = this.applied.get(key) ?? new Map<string, Json>();
    m.set(manager, structuredClone(applied));
    this.applied.set(key, m);
  }

  private remove(t: ResourceType, namespace: string | undefined, name: string, dryRun: boolean): Json {
    const key = this.key(t, namespace ?? '', name);
    const prev = this.store.get(key);
    if (!prev) throw notFound(t, name);
    if (dryRun) return prev;
    this.store.delete(key);
    this.applied.delete(key);
    this.rv++;
    const gone = { ...prev, metadata: { ...prev.metadata, resourceVersion: String(this.rv) } };
    this.notify('DELETED', t, gone);
    if (t.kind === 'Namespace')
      for (const [k, o] of this.store)
        if (o.metadata?.namespace === name) {
          this.store.delete(k);
          this.applied.delete(k);
          this.notify('DELETED', this.typeOfObject(o), o);
        }
    return gone;
  }

  /** Stores with server-managed metadata and, for workloads, a server-owned status. */
  private save(t: ResourceType, key: string, next: Json, prev: Json | undefined): Json {
    this.rv++;
    const meta = next.metadata;
    meta.resourceVersion = String(this.rv);
    meta.uid = prev?.metadata?.uid ?? meta.uid ?? randomUUID();
    meta.creationTimestamp =
      prev?.metadata?.creationTimestamp ??
      meta.creationTimestamp ??
      new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const specChanged =
      !prev || JSON.stringify(withoutMetaStatus(prev)) !== JSON.stringify(withoutMetaStatus(next));
    meta.generation = prev ? Number(prev.metadata.generation ?? 1) + (specChanged ? 1 : 0) : 1;
    if (WORKLOADS.has(t.kind) || ['Job', 'PersistentVolumeClaim', 'Namespace'].includes(t.kind))
      next.status = this.statusFor(next);
    else if (prev && next.status === undefined && prev.status !== undefined) next.status = prev.status;
    this.store.set(key, next);
    this.notify(prev ? 'MODIFIED' : 'ADDED', t, next);
    return next;
  }

  private statusFor(o: Json): Json {
    const generation = o.metadata.generation;
    const replicas = o.spec?.replicas ?? 1;
    const ready =
      this.readiness.get(`${o.metadata.namespace}/${o.metadata.name}`) ??
      this.readinessRule?.(o) ??
      this.options.workloadsReady;
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    switch (o.kind) {
      case 'Namespace':
        return { phase: 'Active' };
      case 'PersistentVolumeClaim':
        return { phase: 'Bound' };
      case 'Job':
        return {
          succeeded: 1,
          conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: now }],
        };
      case 'DaemonSet': {
        const n = ready ? 1 : 0;
        return {
          observedGeneration: generation,
          desiredNumberScheduled: 1,
          currentNumberScheduled: 1,
          updatedNumberScheduled: 1,
          numberReady: n,
          numberAvailable: n,
          ...(ready ? {} : { numberUnavailable: 1 }),
        };
      }
      case 'StatefulSet': {
        const n = ready ? replicas : 0;
        return {
          observedGeneration: generation,
          replicas,
          readyReplicas: n,
          availableReplicas: n,
          currentReplicas: replicas,
          updatedReplicas: replicas,
          currentRevision: `${o.metadata.name}-${generation}`,
          updateRevision: `${o.metadata.name}-${generation}`,
        };
      }
      default: {
        const n = ready ? replicas : 0;
        return {
          observedGeneration: generation,
          replicas,
          updatedReplicas: replicas,
          readyReplicas: n,
          availableReplicas: n,
          ...(ready ? {} : { unavailableReplicas: replicas }),
          conditions: [
            {
              type: 'Available',
              status: ready ? 'True' : 'False',
              reason: ready ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
              message: ready
                ? 'Deployment has minimum availability.'
                : 'Deployment does not have minimum availability.',
              lastUpdateTime: now,
              lastTransitionTime: now,
            },
            {
              type: 'Progressing',
              status: 'True',
              reason: 'NewReplicaSetAvailable',
              message: `ReplicaSet "${o.metadata.name}" has successfully progressed.`,
              lastUpdateTime: now,
              lastTransitionTime: now,
            },
          ],
        };
      }
    }
  }

  private watch(
    res: ServerResponse,
    type: ResourceType,
    namespace: string | undefined,
    query: Record<string, string>,
  ): void {
    const fieldName = /^metadata\.name=(.+)$/.exec(query.fieldSelector ?? '')?.[1];
    const w: Watcher = {
      type,
      namespace,
      selector: parseSelector(query.labelSelector ?? ''),
      name: fieldName,
      res,
    };
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const since = Number(query.resourceVersion ?? '0');
    // a watch without a resourceVersion (or 0), or a watch-list, starts with the current state
    const initial = query.sendInitialEvents === 'true';
    for (const o of this.store.values())
      if (this.watchMatches(w, o) && (initial || since === 0 || Number(o.metadata.resourceVersion) > since))
        res.write(`${JSON.stringify({ type: 'ADDED', object: o })}\n`);
    // client-go 0.35 watch-lists (sendInitialEvents=true) wait for this bookmark before they call the
    // cache synced; without it helm's `--wait=watcher` stalls until its timeout
    if (initial)
      res.write(
        `${JSON.stringify({
          type: 'BOOKMARK',
          object: {
            apiVersion: this.apiVersionOf(type),
            kind: type.kind,
            metadata: {
              resourceVersion: String(this.rv),
              annotations: { 'k8s.io/initial-events-end': 'true' },
            },
          },
        })}\n`,
      );
    this.watchers.add(w);
    const timeout = Number(query.timeoutSeconds ?? '0');
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    res.on('close', () => {
      if (timer) clearTimeout(timer);
      this.watchers.delete(w);
    });
  }

  private watchMatches(w: Watcher, o: Json): boolean {
    return (
      o.kind === w.type.kind &&
      o.apiVersion === this.apiVersionOf(w.type) &&
      (w.namespace === undefined || o.metadata?.namespace === w.namespace) &&
      (w.name === undefined || o.metadata?.name === w.name) &&
      w.selector(o.metadata?.labels ?? {})
    );
  }

  private notify(type: 'ADDED' | 'MODIFIED' | 'DELETED', t: ResourceType, o: Json): void {
    for (const w of this.watchers)
      if (w.type === t && this.watchMatches(w, o)) w.res.write(`${JSON.stringify({ type, object: o })}\n`);
  }

  private parseBody(body: Buffer, contentType: string | undefined): Json {
    if (isProtobufBody(body) || contentType?.startsWith(PROTOBUF_CONTENT_TYPE)) {
      try {
        return decodeProtobufObject(body);
      } catch (e) {
        throw new ApiError(400, 'BadRequest', `protobuf body: ${String(e)}`);
      }
    }
    return parseObject(body);
  }

  private send(res: ServerResponse, protobuf: boolean, status: number, obj: Json): void {
    if (protobuf && canEncodeProtobuf(obj.kind)) {
      res.writeHead(status, { 'content-type': PROTOBUF_CONTENT_TYPE });
      res.end(encodeProtobufObject(obj));
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(obj));
  }

  private sendStatus(
    res: ServerResponse,
    protobuf: boolean,
    e: ApiError,
    headers: Record<string, string> = {},
  ): void {
    const status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: e.message,
      reason: e.reason,
      ...(e.details ? { details: e.details } : {}),
      code: e.code,
    };
    const body = protobuf ? encodeProtobufObject(status) : Buffer.from(JSON.stringify(status));
    res.writeHead(e.code, {
      'content-type': protobuf ? PROTOBUF_CONTENT_TYPE : 'application/json',
      ...headers,
    });
    res.end(body);
  }

  private helmSecrets(namespace: string, release: string): Json[] {
    return this.objects('Secret')
      .filter(
        (s) =>
          s.metadata.namespace === namespace &&
          s.metadata.labels?.owner === 'helm' &&
          s.metadata.labels?.name === release &&
          typeof s.data?.release === 'string',
      )
      .sort((a, b) => Number(a.metadata.labels.version) - Number(b.metadata.labels.version));
  }
}

// ---- helpers -------------------------------------------------------------------------------------

/** Helm stores base64(gzip(JSON)) as the Secret's `release` value; in the JSON form that is base64 again. */
function decodeHelmRelease(dataValue: string): Json {
  const inner = Buffer.from(dataValue, 'base64').toString('utf8');
  return JSON.parse(gunzipSync(Buffer.from(inner, 'base64')).toString('utf8'));
}

function encodeHelmRelease(rel: Json): string {
  const inner = gzipSync(Buffer.from(JSON.stringify(rel))).toString('base64');
  return Buffer.from(inner, 'utf8').toString('base64');
}

function withoutMetaStatus(o: Json): Json {
  const { metadata: _m, status: _s, ...rest } = o;
  return rest;
}

function notFound(t: ResourceType, name: string): ApiError {
  const what = t.group ? `${t.resource}.${t.group}` : t.resource;
  return new ApiError(404, 'NotFound', `${what} "${name}" not found`, {
    name,
    group: t.group,
    kind: t.resource,
  });
}

function conflict(t: ResourceType, name: string): ApiError {
  const what = t.group ? `${t.resource}.${t.group}` : t.resource;
  return new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${what} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, group: t.group, kind: t.resource },
  );
}

function reasonFor(status: number): string {
  const reasons: Record<number, string> = {
    400: 'BadRequest',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'NotFound',
    409: 'Conflict',
    422: 'Invalid',
    429: 'TooManyRequests',
    500: 'InternalError',
    503: 'ServiceUnavailable',
    504: 'Timeout',
  };
  return reasons[status] ?? 'Unknown';
}

function defaultMessage(status: number): string {
  switch (status) {
    case 409:
      return 'Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again';
    case 429:
      return 'Too many requests, please try again later.';
    case 500:
      return 'etcdserver: request timed out';
    case 503:
      return 'the server is currently unable to handle the request';
    case 504:
      return 'the server was unable to return a response in the time allotted';
    default:
      return `injected ${status}`;
  }
}

function parseJson(body: Buffer): any {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new ApiError(400, 'BadRequest', 'the request body is not valid JSON');
  }
}

/** JSON or YAML (server-side apply accepts both) to an object. */
function parseObject(body: Buffer): Json {
  let v: unknown;
  try {
    v = parseYaml(body.toString('utf8'));
  } catch {
    throw new ApiError(400, 'BadRequest', 'the request body is neither JSON nor YAML');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new ApiError(400, 'BadRequest', 'the request body is not an object');
  return v as Json;
}

function isPlainObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Server-side apply, approximated: maps merge recursively, lists and scalars from the applied config win. */
function deepMerge(base: Json, applied: Json): Json {
  for (const [k, v] of Object.entries(applied)) {
    if (isPlainObject(v) && isPlainObject(base[k])) base[k] = deepMerge(base[k], v);
    else base[k] = structuredClone(v);
  }
  return base;
}

/** Fields the same manager applied last time but no longer applies are removed, as SSA does. */
function dropRemoved(obj: Json, before: Json, now: Json): Json {
  for (const [k, v] of Object.entries(before)) {
    if (k === 'apiVersion' || k === 'kind') continue;
    if (!(k in now)) delete obj[k];
    else if (isPlainObject(v) && isPlainObject(now[k]) && isPlainObject(obj[k]))
      dropRemoved(obj[k], v, now[k]);
  }
  return obj;
}

/** RFC 7386 JSON merge patch (strategic merge patches are treated the same way). */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const out: Json = isPlainObject(target) ? target : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** RFC 6902 JSON patch: add, remove, replace, test. */
function jsonPatch(doc: Json, ops: unknown): Json {
  if (!Array.isArray(ops)) throw new ApiError(400, 'BadRequest', 'a JSON patch must be an array');
  for (const op of ops as Json[]) {
    const segs = String(op.path ?? '')
      .split('/')
      .slice(1)
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = segs.pop();
    if (last === undefined) throw new ApiError(422, 'Invalid', 'JSON patch path is empty');
    let parent: any = doc;
    for (const s of segs) {
      if (parent[s] === undefined) {
        if (op.op !== 'add') throw new ApiError(422, 'Invalid', `JSON patch path ${op.path} does not exist`);
        parent[s] = {};
      }
      parent = parent[s];
    }
    const isArr = Array.isArray(parent);
    switch (op.op) {
      case 'add':
        if (isArr) parent.splice(last === '-' ? parent.length : Number(last), 0, op.value);
        else parent[last] = op.value;
        break;
      case 'replace':
        if (!(last in parent))
          throw new ApiError(422, 'Invalid', `JSON patch path ${op.path} does not exist`);
        parent[last] = op.value;
        break;
      case 'remove':
        if (!(last in parent))
          throw new ApiError(422, 'Invalid', `JSON patch path ${op.path} does not exist`);
        if (isArr) parent.splice(Number(last), 1);
        else delete parent[last];
        break;
      case 'test':
        if (JSON.stringify(parent[last]) !== JSON.stringify(op.value))
          throw new ApiError(422, 'Invalid', `JSON patch test failed at ${op.path}`);
        break;
      default:
        throw new ApiError(422, 'Invalid', `JSON patch op ${op.op} is not supported`);
    }
  }
  return doc;
}

/**
 * Label selectors: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`, comma-separated.
 */
export function parseSelector(selector: string): (labels: Record<string, string>) => boolean {
  const terms: Array<(l: Record<string, string>) => boolean> = [];
  const parts = selector.match(/[^,(]+(\([^)]*\))?/g) ?? [];
  for (const raw of parts.map((p) => p.trim()).filter(Boolean)) {
    const set = /^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(raw);
    const ne = /^([^\s!=]+)\s*!=\s*(.*)$/.exec(raw);
    const eq = /^([^\s!=]+)\s*==?\s*(.*)$/.exec(raw);
    const absent = /^!\s*(\S+)$/.exec(raw);
    if (set) {
      const k = set[1] as string;
      const values = (set[3] as string).split(',').map((v) => v.trim());
      const wanted = set[2] === 'in';
      terms.push((l) => (k in l && values.includes(l[k] as string)) === wanted);
    } else if (ne) terms.push((l) => l[ne[1] as string] !== ne[2]);
    else if (eq) terms.push((l) => l[eq[1] as string] === eq[2]);
    else if (absent) terms.push((l) => !((absent[1] as string) in l));
    else terms.push((l) => raw in l);
  }
  return (labels) => terms.every((t) => t(labels));
}

function requestText(body: Buffer, contentType: string | undefined): string {
  if (body.length === 0) return '';
  try {
    if (isProtobufBody(body)) return JSON.stringify(decodeSecretData(decodeProtobufObject(body)));
    const text = body.toString('utf8');
    if (contentType?.includes('json') || contentType?.includes('yaml')) {
      const parsed = parseYaml(text);
      if (isPlainObject(parsed) && parsed.kind === 'Secret')
        return `${text}\n${JSON.stringify(decodeSecretData(parsed))}`;
    }
    return text;
  } catch {
    return body.toString('utf8');
  }
}

function decodeSecretData(o: Json): Json {
  if (!isPlainObject(o.data)) return o;
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.data)) data[k] = Buffer.from(String(v), 'base64').toString('utf8');
  return { ...o, data };
}
