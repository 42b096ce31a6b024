/**
 * The jest configuration Stryker runs (stryker.config.mjs): the unit project of jest.config.js
 * alone, as a single project (Stryker's jest runner needs one), without:
 * - the unit tests that only check types or the README (they run no code under lambdas/);
 * - simulate.test.ts: its scenarios run in a beforeAll, which per-test coverage credits to no test, so
 *   they kill no mutant, yet they make every mutant they reach "static" as well (reloaded for each run);
 * - endpoint-health-scale.test.ts: 100,000 releases, ~14 s spent again on every mutant it reaches
 *   (jest's bail cannot be set programmatically, so each mutant runs all the tests that cover it).
 * A test left out can only kill fewer mutants: the score is a lower bound (docs/testing.md).
 */
import base from "./jest.config.js";

const unit = base.projects.find((p) => p.displayName === "unit");

export default {
  ...unit,
  testTimeout: base.testTimeout,
  testPathIgnorePatterns: [
    "/node_modules/",
    "/test/unit/client-types\\.test\\.ts$",
    "/test/unit/readme-deploy\\.test\\.ts$",
    "/test/unit/simulate\\.test\\.ts$",
    "/test/unit/endpoint-health-scale\\.test\\.ts$",
  ],
};
