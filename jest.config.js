const esmPackages = require('./test/helpers/esm-packages.js');

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  resolver: '<rootDir>/test/helpers/jest-resolver.js',
  cacheDirectory: '<rootDir>/.jest-cache',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(t|j|mj|cj)s$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmPackages.join('|')})/)`],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
  globalSetup: '<rootDir>/test/helpers/global-setup.ts',
  testTimeout: 60000,
  reporters: ['default', '<rootDir>/test/helpers/summary-reporter.js'],
};
