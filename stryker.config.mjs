// Mutation testing of lambdas/ (the core, its adapters and the λ apps): `npm run mutate` (see
// docs/testing.md). Stryker puts small bugs into the product code one at a time and runs the unit
// tests that cover each; a mutant no test notices "survives". Not part of `npm test`: too slow for
// every run. `npm run mutate -- --incremental` reuses the results of unchanged code and tests.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: "npm",
  mutate: ["lambdas/**/*.ts"],
  testRunner: "jest",
  jest: {
    projectType: "custom",
    // The unit project only (the integration, infra and e2e projects are not run by Stryker).
    configFile: "jest.stryker.config.js",
    // Each mutant's run loads only the test files that import its file (directly or not): 3× faster
    // than loading all of them to run the few the test name filter keeps.
    enableFindRelatedTests: true,
  },
  // The project is ESM: jest runs in its native ESM mode, as `npm test` does.
  testRunnerNodeArgs: ["--experimental-vm-modules", "--no-warnings=ExperimentalWarning"],
  coverageAnalysis: "perTest",
  // Mutants in module-level code (the constants of settings.ts, the catalogue, regexes) are
  // "static": every test would run for each, ~95 % of the run time. Left out (reported as ignored);
  // the tests that read those settings are the unit tests of each setting (docs/testing.md).
  ignoreStatic: true,
  checkers: ["typescript"],
  tsconfigFile: "tsconfig.stryker.json",
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  reporters: ["html", "json", "clear-text", "progress"],
  htmlReporter: { fileName: "reports/mutation/mutation.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  incrementalFile: "reports/stryker-incremental.json",
  // The machine is shared (2 cores): one test runner unless told otherwise (`-- --concurrency 2`).
  concurrency: 1,
  // Added to 1.5 × the covering tests' own time: a mutant that loops forever costs this much and a restart.
  timeoutMS: 5_000,
  // Stryker's thresholds apply to all mutated files together; the break threshold of lambdas/core
  // (85 %) is enforced per folder by scripts/mutate.mjs, which runs Stryker and reads its JSON report.
  thresholds: { high: 90, low: 85, break: null },
  tempDirName: ".stryker-tmp",
  cleanTempDir: true,
};
