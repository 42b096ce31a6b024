/**
 * The jest configuration Stryker runs (stryker.config.mjs): the unit project of jest.config.js
 * alone, as a single project (Stryker's jest runner needs one). Unit tests that only check types or
 * the README (they run no code under lambdas/) are left out to keep each mutant's run short.
 */
import base from "./jest.config.js";

const unit = base.projects.find((p) => p.displayName === "unit");

export default {
  ...unit,
  testTimeout: base.testTimeout,
  testPathIgnorePatterns: ["/node_modules/", "/test/unit/client-types\\.test\\.ts$", "/test/unit/readme-deploy\\.test\\.ts$"],
};
