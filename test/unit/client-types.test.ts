import { join } from "node:path";
import ts from "typescript";

/**
 * Runs the TypeScript compiler on client-types.check.ts, as `npx tsc --noEmit` does for the whole
 * project: the event data that fits the catalogue compiles, and every `@ts-expect-error` line of
 * data that does not fit meets its error (an unused one is itself an error).
 */
test("the client's event data is typed from the catalogue, webhooks' health from the API's answers: right use compiles, wrong use does not", () => {
  const root = join(import.meta.dirname, "..", "..");
  const config = ts.readConfigFile(join(root, "tsconfig.json"), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
  const file = join(import.meta.dirname, "client-types.check.ts");
  const program = ts.createProgram([file], { ...options, types: ["node"] });
  const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
  expect(diagnostics).toEqual([]);
  // The file does hold the expectations this test relies on.
  expect(ts.sys.readFile(file)!.match(/^\s*\/\/ @ts-expect-error/gm)).toHaveLength(11);
});
