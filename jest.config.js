/**
 * One jest project per test level, each runnable alone: `npm run test:unit` (or `npx jest
 * --selectProjects infra`). The project is ESM ("type": "module": middy and fauxqs are ESM-only), so
 * jest runs in its native ESM mode (`--experimental-vm-modules`, set by `npm test`) and swc only
 * strips the types.
 */
const swc = {
  jsc: {
    parser: { syntax: "typescript", importAttributes: true },
    target: "es2023",
    experimental: { keepImportAttributes: true },
  },
  module: { type: "es6" },
};

const project = (level, extra = {}) => ({
  displayName: level,
  testMatch: [`<rootDir>/test/${level}/**/*.test.ts`],
  testEnvironment: "node",
  extensionsToTreatAsEsm: [".ts"],
  transform: { "^.+\\.ts$": ["@swc/jest", swc] },
  // Stryker's sandboxes (npm run mutate) are copies of the project: not part of it.
  modulePathIgnorePatterns: ["<rootDir>/.stryker-tmp/"],
  ...extra,
});

export default {
  projects: [
    project("unit"),
    project("integration"),
    project("infra"),
    project("e2e"),
  ],
  // Integration and e2e tests wait for real deliveries with retries of a second or two.
  testTimeout: 60_000,
  // Both cores: jest's default (cores − 1) runs the files one at a time on a 2-core machine, and most
  // of the suite's time is spent waiting (deliveries, backoffs, a browser), not computing.
  maxWorkers: 2,
  // A test that fails half-way can leave what it started (a worker child, a listener) behind; the
  // run must still end, so that CI reports the failure instead of hanging until its time limit.
  forceExit: true,
};
