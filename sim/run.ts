/**
 * `npm run simulate [-- --quick] [-- --only a,e]`: runs the scenarios of docs/scale.md on the
 * in-memory AWS-faithful ports with the real core services, prints the figures, writes them to
 * docs/scale.md (full runs only) and exits 1 when a scenario lost an accepted delivery or broke an
 * AWS rule.
 */
import { join } from "node:path";
import { passed, text, updateScaleDoc } from "./report.ts";
import { runScenario, type ScenarioResult } from "./scenario.ts";
import { scenarios } from "./scenarios.ts";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const onlyArg = args.find((a) => a.startsWith("--only"));
const only = onlyArg ? (onlyArg.includes("=") ? onlyArg.split("=")[1] : args[args.indexOf(onlyArg) + 1]).split(",") : undefined;

const results: ScenarioResult[] = [];
for (const spec of scenarios(quick)) {
  if (only && !only.includes(spec.key)) continue;
  process.stdout.write(`running (${spec.key}) ${spec.title}…`);
  const r = await runScenario(spec);
  results.push(r);
  console.log(
    text(
      [r],
      results.find((x) => x.key === "a"),
    ),
  );
}
if (!quick && !only) updateScaleDoc(join(import.meta.dirname, "..", "docs", "scale.md"), results, "npm run simulate");
const failed = results.filter((r) => !passed(r));
console.log(failed.length === 0 ? "\nevery scenario: nothing accepted lost, no AWS rule broken" : `\nFAILED: ${failed.map((r) => `(${r.key})`).join(" ")}`);
process.exit(failed.length === 0 ? 0 : 1);
