import { defineConfig } from 'vitest/config';

// Four projects, all run by `npm test`: unit (pure, fast), integration (real nats-server and
// VictoriaLogs started by test/env), the JetStream integration suites once more against the newest
// nats-server release (integration-nats-newest), and e2e (real kube-apiserver + etcd + kwok, plus
// VictoriaLogs and NATS).
export default defineConfig({
  test: {
    // The JSON report lets .ci/run print the plain "N passed, N failed" line CI reads.
    reporters: ['default', ['json', { outputFile: '.test-report.json' }]],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          // manifests/nats deploys NATS_VERSION (2.12), which `integration` runs against; these run the
          // JetStream suites on the newest release too (test/env/versions.env NATS_NEWEST_VERSION).
          name: 'integration-nats-newest',
          include: ['test/integration/jetstream-*.test.ts', 'test/integration/run-lifecycle.test.ts'],
          env: { RSD_NATS_VERSION: '2.15' },
          testTimeout: 120_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 1_800_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
