import { describe, expect, it } from 'vitest';
import { ControllerMetrics } from '../../src/controller/metrics.js';

describe('controller metrics', () => {
  it('reconcile totals, errors, durations, queue depth, migrations by phase, rows copied', async () => {
    const m = new ControllerMetrics({
      queueDepth: () => 3,
      isLeader: () => true,
      migrations: () => [
        { namespace: 'a', name: 'one', phase: 'Running', copied: 120, total: 300 },
        { namespace: 'a', name: 'two', phase: 'Succeeded', copied: 50, total: 50 },
        { namespace: 'b', name: 'new', copied: 0, total: 0 },
      ],
    });
    await m.observe(async () => 1);
    await expect(
      m.observe(async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const text = await m.registry.metrics();
    expect(text).toContain('milvus_migrate_reconcile_total{result="success"} 1');
    expect(text).toContain('milvus_migrate_reconcile_total{result="error"} 1');
    expect(text).toContain('milvus_migrate_reconcile_errors_total 1');
    expect(text).toContain('milvus_migrate_reconcile_duration_seconds_count 2');
    expect(text).toContain('milvus_migrate_workqueue_depth 3');
    expect(text).toContain('milvus_migrate_leader 1');
    expect(text).toContain('milvus_migrate_migrations{phase="Running"} 1');
    expect(text).toContain('milvus_migrate_migrations{phase="Failed"} 0');
    expect(text).toContain('milvus_migrate_migrations{phase="None"} 1');
    expect(text).toContain('milvus_migrate_rows_copied{namespace="a",name="one"} 120');
    expect(text).toContain('milvus_migrate_rows_source{namespace="a",name="one"} 300');
    expect(text).toContain('milvus_migrate_process_cpu_seconds_total');
  });

  it('serves /metrics over HTTP in the Prometheus text format', async () => {
    const m = new ControllerMetrics({ queueDepth: () => 0, isLeader: () => false, migrations: () => [] });
    m.listen(0);
    // listen(0) picks a free port: read it back from the server.
    const server = (m as unknown as { server: import('node:http').Server }).server;
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as import('node:net').AddressInfo).port;
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await res.text()).toContain('milvus_migrate_leader 0');
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    await m.close();
  });
});
