// Guards the jest set-up: @kubernetes/client-node 1.x is ESM-only and must load under ts-jest (CJS).
import * as k8s from '@kubernetes/client-node';

it('loads @kubernetes/client-node 1.x under jest', () => {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'http://127.0.0.1:1', skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  expect(kc.makeApiClient(k8s.CoordinationV1Api)).toBeDefined();
});
