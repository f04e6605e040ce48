import { defineConfig } from 'vitest/config';

// Integration tests talk to real Milvus servers and a real Kubernetes cluster, so timeouts are long
// and files run in separate processes (forks) that each start the servers they need.
//
// The e2e files share one cluster and install the same cluster-wide objects (the CRD, the
// controller's namespace and RBAC): they run after everything else, one file at a time.
const shared = {
  pool: 'forks' as const,
  testTimeout: 120_000,
  hookTimeout: 180_000,
};

export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      {
        test: {
          ...shared,
          name: 'local',
          include: ['test/**/*.test.ts'],
          exclude: ['test/e2e/**'],
          // Two files at a time even on 2 cores (vitest's default there is one): most of a file's
          // time is spent waiting on its servers (copies paced, faults held, passes apart), and
          // one at a time the local files took 19 of CI's 35 minutes.
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
