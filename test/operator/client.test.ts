import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { KubeClient } from '../../operator/client.ts';
import { KubeApiError, OperatorError, isRetriable } from '../../operator/errors.ts';
import { Watcher, type KubeObject } from '../../operator/watcher.ts';
import type { TestCluster } from '../cluster/cluster.ts';
import { freePort } from '../cluster/ports.ts';
import { useSharedCluster } from '../cluster/shared.ts';
import { waitFor } from '../cluster/wait.ts';
import { createNamespace } from './helpers.ts';

const cluster = useSharedCluster();
const NS = 'client-test';
const silent = pino({ level: 'silent' });

function clientFor(kubeconfig: string): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return new KubeClient(kc);
}

describe('the operator\'s API client and watcher on the real apiserver', function () {
  this.timeout(60_000);
  let c: TestCluster;
  let client: KubeClient;
  before(async function () {
    this.timeout(180_000);
    c = await cluster();
    await createNamespace(c, NS);
    client = clientFor(c.kubeconfig);
  });
  after(() => client?.close());

  it('turns a 404 into a KubeApiError with the status, reason and path', async () => {
    await assert.rejects(client.request('GET', `/api/v1/namespaces/${NS}/configmaps/none`), (err: unknown) => {
      assert.ok(err instanceof KubeApiError);
      assert.equal(err.code, 'PODPLUG_KUBE_API');
      assert.equal(err.status, 404);
      assert.equal(err.reason, 'NotFound');
      assert.match(err.message, /GET \/api\/v1\/namespaces\/client-test\/configmaps\/none: HTTP 404 NotFound/);
      assert.equal(isRetriable(err), false);
      return true;
    });
  });

  it('reports an apiserver that is not there as PODPLUG_KUBE_UNREACHABLE, which is retriable', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'x', server: `https://127.0.0.1:${await freePort()}`, skipTLSVerify: true }],
      users: [{ name: 'x' }], contexts: [{ name: 'x', cluster: 'x', user: 'x' }], currentContext: 'x',
    });
    const dead = new KubeClient(kc);
    await assert.rejects(dead.request('GET', '/readyz'), (err: unknown) => {
      assert.ok(err instanceof OperatorError);
      assert.equal(err.code, 'PODPLUG_KUBE_UNREACHABLE');
      assert.match(err.message, /is the apiserver at https:\/\/127\.0\.0\.1:\d+ up\?/);
      assert.ok(isRetriable(err));
      return true;
    });
    dead.close();
  });

  it('refuses a kubeconfig without a current cluster', () => {
    assert.throws(() => new KubeClient(new KubeConfig()), { code: 'PODPLUG_KUBE_UNREACHABLE' });
  });

  it('the watcher lists, then sees adds, updates and deletes, keeping copies in its store', async () => {
    await c.kubectlOk(['create', 'configmap', 'before', '-n', NS, '--from-literal=a=1']);
    const seen: string[] = [];
    const w = new Watcher<KubeObject & { data?: Record<string, string> }>(client, `/api/v1/namespaces/${NS}/configmaps`, silent, (key, next, prev) => {
      seen.push(`${next ? (prev ? 'update' : 'add') : 'delete'} ${key}`);
    });
    w.start();
    await w.synced;
    assert.ok(seen.includes(`add ${NS}/before`));
    await c.kubectlOk(['create', 'configmap', 'during', '-n', NS, '--from-literal=a=1']);
    await c.kubectlOk(['patch', 'configmap', 'during', '-n', NS, '-p', '{"data":{"a":"2"}}']);
    await c.kubectlOk(['delete', 'configmap', 'before', '-n', NS]);
    await waitFor('events', () => seen.includes(`delete ${NS}/before`) && seen.includes(`update ${NS}/during`));
    assert.equal(w.get(`${NS}/during`)?.data?.a, '2');
    const copy = w.get(`${NS}/during`)!;
    copy.data!.a = 'mutated';
    assert.equal(w.get(`${NS}/during`)?.data?.a, '2', 'the store handed out its own object');
    assert.equal(w.get(`${NS}/before`), undefined);
    w.stop();
  });

  it('a watch on a path that fails keeps retrying with backoff and never throws', async () => {
    const w = new Watcher<KubeObject>(client, '/apis/nope.example.com/v1/things', silent, () => undefined);
    w.start();
    await waitFor('two failed attempts', () => w.stats.drops >= 2, 20_000);
    w.stop();
  });
});
