import { classifyHelmFailure } from '../../../lib/helm/failure-classifier';

// stderr as helm 4 prints it (from helm's source and real runs); case varies on purpose
const table: Array<[string, 'transient' | 'permanent' | 'stuck', string]> = [
  [
    'Error: UPGRADE FAILED: failed to create resource: etcdserver: leader changed',
    'transient',
    'etcd leader changed',
  ],
  ['Error: UPGRADE FAILED: etcdserver: request timed out', 'transient', 'etcd request timed out'],
  [
    'Error: INSTALLATION FAILED: the server is currently unable to handle the request (get configmaps hub)',
    'transient',
    'API server unable to handle the request',
  ],
  // found by the fault bench against the stand-in: a 429 without Retry-After, a 504, a dropped connection
  [
    'Error: UPGRADE FAILED: Too many requests, please try again later.',
    'transient',
    'API server rate limited (429)',
  ],
  [
    'Error: UPGRADE FAILED: the server was unable to return a response in the time allotted, but may still be processing the request (patch configmaps web-config)',
    'transient',
    'API server timeout (504)',
  ],
  [
    'Error: UPGRADE FAILED: Patch "http://127.0.0.1:40123/api/v1/namespaces/web/configmaps/web-config?fieldManager=helm": EOF',
    'transient',
    'connection closed (EOF)',
  ],
  [
    'Error: UPGRADE FAILED: Patch "https://10.0.0.1:6443/api/v1/namespaces/jh/configmaps/hub": read tcp 10.0.0.2:51234->10.0.0.1:6443: read: connection reset by peer',
    'transient',
    'connection reset',
  ],
  [
    'Error: Kubernetes cluster unreachable: Get "https://10.0.0.1:6443/version": dial tcp 10.0.0.1:6443: connect: connection refused',
    'transient',
    'connection refused',
  ],
  [
    'Error: UPGRADE FAILED: Get "https://k8s.example.org/api/v1/namespaces/jh/secrets": net/http: TLS handshake timeout',
    'transient',
    'TLS handshake timeout',
  ],
  [
    'Error: UPGRADE FAILED: Get "https://k8s.example.org/version": dial tcp 10.0.0.1:443: i/o timeout',
    'transient',
    'i/o timeout',
  ],
  [
    'Error: UPGRADE FAILED: Put "https://k8s.example.org/api/v1/namespaces/jh/secrets/sh.helm.release.v1.hub.v3": unexpected EOF',
    'transient',
    'unexpected EOF',
  ],
  [
    'Error: KUBERNETES CLUSTER UNREACHABLE: Get "https://k8s.example.org/version": EOF',
    'transient',
    'Kubernetes cluster unreachable',
  ],
  [
    'Error: UPGRADE FAILED: cannot patch "hub" with kind ConfigMap: Operation cannot be fulfilled on configmaps "hub": the object has been modified; please apply your changes to the latest version and try again',
    'transient',
    'the object has been modified (conflict)',
  ],
  [
    'Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress',
    'stuck',
    'another operation is in progress',
  ],
  [
    'Error: INSTALLATION FAILED: template: hello/templates/configmap.yaml:6:20: executing "hello/templates/configmap.yaml" at <.Values.missing.key>: nil pointer evaluating interface {}.key',
    'permanent',
    'chart template error',
  ],
  [
    'Error: INSTALLATION FAILED: hello/templates/configmap.yaml:2:40\n  executing "hello/templates/configmap.yaml" at <.Values.auth.token>:\n    nil pointer evaluating interface {}.token\n\nUse --debug flag to render out invalid YAML',
    'permanent',
    'chart template error',
  ],
  [
    'Error: parse error at (c/templates/a.yaml:3): unclosed action started at c/templates/a.yaml:2',
    'permanent',
    'chart template parse error',
  ],
  [
    'Error: UPGRADE FAILED: execution error at (jupyterhub/templates/proxy/secret.yaml:1:4): Proxy token must be a 32 byte random string generated with `openssl rand -hex 32`!',
    'permanent',
    'chart template failed (required value or fail)',
  ],
  [
    'Error: INSTALLATION FAILED: execution error at (hello/templates/cm.yaml:5:12): greeting is required',
    'permanent',
    'chart template failed (required value or fail)',
  ],
  [
    "Error: values don't meet the specifications of the schema(s) in the following chart(s):\njupyterhub:\n- at '/hub/config': additional properties 'foo' not allowed",
    'permanent',
    'values do not match the chart schema',
  ],
  [
    'Error: INSTALLATION FAILED: parse error at (broken/templates/cm.yaml:4): unexpected EOF',
    'permanent',
    'chart template parse error',
  ],
  [
    'Error: INSTALLATION FAILED: YAML parse error on hello/templates/cm.yaml: error converting YAML to JSON: yaml: line 4: did not find expected key',
    'permanent',
    'YAML parse error',
  ],
  [
    'Error: INSTALLATION FAILED: unable to build kubernetes objects from release manifest: error validating "": error validating data: ValidationError(Deployment.spec): missing required field "selector"',
    'permanent',
    'manifest validation error',
  ],
  [
    'Error: UPGRADE FAILED: cannot patch "hub" with kind Deployment: Deployment.apps "hub" is invalid: spec.selector: Invalid value: {"matchLabels":{}}: field is immutable',
    'permanent',
    'immutable field changed',
  ],
  [
    'Error: UPGRADE FAILED: failed to create resource: configmaps is forbidden: User "system:serviceaccount:ci:helmgate" cannot create resource "configmaps" in API group "" in the namespace "jh"',
    'permanent',
    'forbidden',
  ],
  [
    'Error: Kubernetes cluster unreachable: Get "https://k8s.example.org/version": x509: certificate signed by unknown authority',
    'permanent',
    'TLS certificate error',
  ],
  [
    'Error: Kubernetes cluster unreachable: the server has asked for the client to provide credentials',
    'permanent',
    'unauthorized',
  ],
  [
    'Error: chart "jupyterhub" version "9.9.9" not found in https://hub.jupyter.org/helm-chart/ repository',
    'permanent',
    'chart not found',
  ],
  ['Error: failed to download "grafana" at version "99.0.0"', 'permanent', 'chart not found'],
  ['Error: UPGRADE FAILED: context deadline exceeded', 'permanent', 'helm timed out'],
  ['Error: UPGRADE FAILED: "hub" has no deployed releases', 'permanent', 'release has no deployed revision'],
  ['Error: something nobody has seen before', 'permanent', 'helm failed'],
];

describe('classifyHelmFailure', () => {
  it.each(table)('classifies %j', (stderr, kind, reason) => {
    expect(classifyHelmFailure(stderr)).toEqual({ kind, reason });
  });

  it('ignores case', () => {
    expect(classifyHelmFailure('ETCDSERVER: LEADER CHANGED').kind).toBe('transient');
    expect(classifyHelmFailure('Another Operation (Install/Upgrade/Rollback) Is In Progress').kind).toBe(
      'stuck',
    );
  });
});
