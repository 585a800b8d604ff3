/**
 * CommonJS jest with ts-jest. @kubernetes/client-node 1.x and its ESM-only dependencies are
 * transformed by ts-jest (allowJs) so that the operator tests can load the real client.
 * Type checking is done by `tsc --noEmit` (make lint), so ts-jest only transpiles (fast on 2 cores).
 */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test', '<rootDir>/controller', '<rootDir>/agent', '<rootDir>/agent-sim'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.[tj]sx?$': ['ts-jest', { tsconfig: { isolatedModules: true, allowJs: true, module: 'commonjs', target: 'ES2022', esModuleInterop: true, sourceMap: true } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(@kubernetes/client-node|openid-client|oauth4webapi|jose)/)'],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  testTimeout: 30000,
};
