import { defineConfig } from 'vitest/config';

// .ci/run asks for a JSON report too, to print one plain closing line.
const jsonReport = process.env.VITEST_JSON_REPORT;

export default defineConfig({
  test: {
    // Two test files at a time on this 2-core machine (vitest's default is one fewer than the cores,
    // so one): most files spend their time waiting on servers, containers and child processes they
    // start, not computing. e2e files still run one at a time among themselves (below).
    maxWorkers: 2,
    reporters: jsonReport ? ['default', 'json'] : ['default'],
    ...(jsonReport ? { outputFile: { json: jsonReport } } : {}),
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            '{tools,contract,sqs,sql,control,console,github-app,runner,sdk,cli,examples,action,infra}/**/*.test.ts',
          ],
          // Safety nets for a hung test, not speed limits: on a machine whose cores are busy with
          // other work, spawning a runner or opening an embedded database takes many times longer.
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          // Each e2e file starts real servers and child processes; one at a time keeps the 2-core box honest.
          fileParallelism: false,
        },
      },
    ],
  },
});
