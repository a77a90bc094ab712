// ESM-only dependencies (Octokit, @kubernetes/client-node 1.x, p-retry...): jest resolves them with the
// `import` condition and swc transforms them to CommonJS.
module.exports = [
  '@octokit', 'universal-user-agent', 'before-after-hook', 'fast-content-type-parse', 'json-with-bigint',
  '@kubernetes', 'openid-client', 'oauth4webapi', 'jose', 'p-retry', 'is-network-error', 'hpagent', 'jsonpath-plus',
  'node-fetch', 'data-uri-to-buffer', 'fetch-blob', 'formdata-polyfill', 'isomorphic-ws', 'stream-buffers', 'rfc4648',
];
