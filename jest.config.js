// ESM-only dependencies (Octokit, @kubernetes/client-node 1.x, p-retry...) are transformed to CJS by swc.
const esmPackages = [
  '@octokit', 'universal-user-agent', 'before-after-hook', 'fast-content-type-parse', 'json-with-bigint',
  '@kubernetes', 'openid-client', 'oauth4webapi', 'jose', 'p-retry', 'is-network-error', 'hpagent', 'jsonpath-plus',
  'node-fetch', 'data-uri-to-buffer', 'fetch-blob', 'formdata-polyfill', 'isomorphic-ws', 'stream-buffers', 'rfc4648',
];
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  cacheDirectory: '<rootDir>/.jest-cache',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.(t|j|mj|cj)s$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }] },
  transformIgnorePatterns: [`/node_modules/(?!(${esmPackages.join('|')})/)`],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
  globalSetup: '<rootDir>/test/helpers/global-setup.ts',
  testTimeout: 60000,
};
