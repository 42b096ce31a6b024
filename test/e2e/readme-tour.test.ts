import { execFileSync } from "node:child_process";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ENV } from "#core/settings.ts";
import { childEnv, freePort, Proc, processTree, ROOT, shell } from "../support/npm-start.ts";

/**
 * README.md's 5-minute tour, run as a person runs it (issue 15, "Done when"): every ```sh block of
 * the tour in order, terminal 1's (`npm start`) in the background, terminal 2's in one bash with job
 * control, as an interactive terminal has (so `&` and `kill %1` mean what they mean there), and the
 * tour's `<!-- tour: … -->` comments for what the person waits for or does between blocks:
 *   terminal-1              the next block runs in terminal 1 (a new `npm start`)
 *   wait terminal-N "text"  terminal N prints text (or matches /regex/) after the last block started
 *   paste "prefix"          terminal 2 runs the line terminal 1 printed that starts with prefix
 *   ctrl-c terminal-1       Ctrl-C in terminal 1
 * The placeholders the test substitutes: ports 3000 (the API) and 4000 (the inspector) with free
 * ones; both terminals get WEBHOOKS_STATE_DIR, a fresh directory, in place of `.local`.
 * A block must end with status 0 and no command in it may fail (an ERR trap reports any).
 */

type Step =
  | { kind: "block"; terminal: 1 | 2; code: string; line: number }
  | { kind: "wait"; terminal: 1 | 2; pattern: string | RegExp; line: number }
  | { kind: "paste"; prefix: string; line: number }
  | { kind: "ctrl-c"; line: number };

const README = readFileSync(join(ROOT, "README.md"), "utf8");

/** The tour's section: from its heading to the next `## `. */
function tourSection(): { text: string; firstLine: number } {
  const start = README.indexOf("\n## A 5-minute tour\n");
  if (start < 0) throw new Error("README.md has no '## A 5-minute tour' section");
  const end = README.indexOf("\n## ", start + 1);
  return { text: README.slice(start, end < 0 ? undefined : end), firstLine: README.slice(0, start).split("\n").length + 1 };
}

function parsePattern(spec: string): string | RegExp {
  const quoted = /^"(.*)"$/.exec(spec);
  if (quoted) return quoted[1];
  const regex = /^\/(.*)\/$/.exec(spec);
  if (regex) return new RegExp(regex[1]);
  throw new Error(`a tour pattern is "text" or /regex/, got ${spec}`);
}

function tourSteps(): Step[] {
  const { text, firstLine } = tourSection();
  const steps: Step[] = [];
  let nextOnTerminal1 = false;
  const token = /<!-- tour: (.+?) -->|```(\w*)\n([\s\S]*?)```/g;
  for (const m of text.matchAll(token)) {
    const line = firstLine + text.slice(0, m.index).split("\n").length - 1;
    if (m[1] !== undefined) {
      const d = m[1].trim();
      let x: RegExpExecArray | null;
      if (d === "terminal-1") nextOnTerminal1 = true;
      else if (d === "ctrl-c terminal-1") steps.push({ kind: "ctrl-c", line });
      else if ((x = /^wait terminal-([12]) (.+)$/.exec(d))) steps.push({ kind: "wait", terminal: Number(x[1]) as 1 | 2, pattern: parsePattern(x[2]), line });
      else if ((x = /^paste "(.+)"$/.exec(d))) steps.push({ kind: "paste", prefix: x[1], line });
      else throw new Error(`README.md:${line}: unknown tour directive "${d}"`);
    } else {
      if (m[2] !== "sh") throw new Error(`README.md:${line}: the tour's code blocks are \`\`\`sh blocks, got \`\`\`${m[2]}`);
      steps.push({ kind: "block", terminal: nextOnTerminal1 ? 1 : 2, code: m[3], line });
      nextOnTerminal1 = false;
    }
  }
  return steps;
}

/** Terminal 2: bash with job control, reading what is typed from a FIFO (its stdin is /dev/null, as no job may take it). */
class Terminal2 {
  private constructor(
    readonly proc: Proc,
    private readonly input: FileHandle,
  ) {}

  static async open(dir: string, env: Record<string, string>): Promise<Terminal2> {
    const fifo = join(dir, "terminal-2");
    execFileSync("mkfifo", [fifo]);
    const proc = new Proc(spawn("bash", ["--noprofile", "--norc", fifo], { cwd: ROOT, env: childEnv(env), stdio: ["ignore", "pipe", "pipe"], detached: true }));
    const input = await open(fifo, "w");
    const t = new Terminal2(proc, input);
    await t.input.write("set -m\ntrap 'echo \"__TOUR_FAILED__ $BASH_COMMAND\"' ERR\n");
    return t;
  }

  /** Types the block and waits for its prompt to come back; returns its status. */
  async run(code: string, n: number): Promise<number> {
    const done = `__TOUR_BLOCK_${n}_STATUS__`;
    const from = this.proc.out.length;
    await this.input.write(`${code}\necho "${done} $?"\n`);
    const out = await this.proc.waitFor(new RegExp(`${done} \\d+`), { from, what: "terminal 2", timeoutMs: 60_000 });
    return Number(new RegExp(`${done} (\\d+)`).exec(out.slice(from))![1]);
  }

  /** The tour's "To finish": stop every job (each in its own process group, as with job control), exit. */
  async close(): Promise<void> {
    const tree = processTree(this.proc.pid);
    await this.input.write("for job in $(jobs -p); do kill -- -$job; done; exit 0\n").catch(() => {});
    await this.input.close().catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.proc.exited, new Promise((resolve) => (timer = setTimeout(resolve, 10_000)))]);
    clearTimeout(timer);
    for (const pid of tree) {
      try {
        process.kill(pid, "SIGKILL"); // whatever did not stop (cleanup only: the test has its verdict)
      } catch {
        // gone
      }
    }
  }
}

describe("README.md's 5-minute tour", () => {
  let dir: string;
  let terminal1: Proc | undefined;
  let terminal2: Terminal2 | undefined;
  const stacks: Proc[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "rk-tour-"));
  });
  afterAll(async () => {
    await terminal2?.close();
    for (const p of stacks) await p.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  test("has its blocks, its waits, and a restart of the stack", () => {
    const steps = tourSteps();
    const blocks = steps.filter((s) => s.kind === "block");
    expect(blocks.filter((b) => b.terminal === 1).map((b) => b.code.trim())).toEqual([
      "WEBHOOKS_RETRY_SCHEDULE=2s,5s npm start",
      "WEBHOOKS_RETRY_SCHEDULE=2s,5s npm start",
    ]);
    expect(blocks.length).toBeGreaterThanOrEqual(10);
    expect(steps.filter((s) => s.kind === "ctrl-c")).toHaveLength(1);
    expect(steps.filter((s) => s.kind === "paste")).toHaveLength(1);
  });

  test("runs as written against npm start, a restart included: the exported token stays valid", async () => {
    const [apiPort, inspectorPort] = [await freePort(), await freePort()];
    const stateDir = join(dir, "state");
    const place = (text: string) => text.replace(/\b3000\b/g, String(apiPort)).replace(/\b4000\b/g, String(inspectorPort));
    const placePattern = (p: string | RegExp) => (typeof p === "string" ? place(p) : new RegExp(place(p.source)));
    terminal2 = await Terminal2.open(dir, { WEBHOOKS_STATE_DIR: stateDir });
    // Where "since the last block" begins, in each terminal's output.
    let mark = { t1: 0, t2: 0 };
    let n = 0;
    const where = (line: number) => `README.md:${line}`;

    for (const step of tourSteps()) {
      if (step.kind === "block" && step.terminal === 1) {
        terminal1 = shell(place(step.code), { PORT: String(apiPort), WEBHOOKS_STATE_DIR: stateDir });
        stacks.push(terminal1);
        mark = { t1: 0, t2: terminal2.proc.out.length };
      } else if (step.kind === "block") {
        mark = { t1: terminal1?.out.length ?? 0, t2: terminal2.proc.out.length };
        const status = await terminal2.run(place(step.code), ++n);
        const output = terminal2.proc.out.slice(mark.t2);
        expect([where(step.line), status, output.match(/__TOUR_FAILED__.*/g)]).toEqual([where(step.line), 0, null]);
      } else if (step.kind === "wait") {
        const term = step.terminal === 1 ? terminal1! : terminal2.proc;
        await term.waitFor(placePattern(step.pattern), {
          from: step.terminal === 1 ? mark.t1 : mark.t2,
          timeoutMs: 30_000,
          what: `${where(step.line)}: terminal ${step.terminal}`,
        });
      } else if (step.kind === "paste") {
        const line = terminal1!.out
          .split("\n")
          .map((l) => l.trim())
          .find((l) => l.startsWith(step.prefix));
        if (!line) throw new Error(`${where(step.line)}: terminal 1 printed no line starting with ${step.prefix}`);
        mark = { t1: terminal1!.out.length, t2: terminal2.proc.out.length };
        expect([where(step.line), await terminal2.run(line, ++n)]).toEqual([where(step.line), 0]);
      } else {
        mark = { t1: terminal1!.out.length, t2: terminal2.proc.out.length };
        await terminal1!.interrupt();
      }
    }

    // What the tour claims, checked once more at the end: the token terminal 2 exported in the
    // first run is the one the restarted stack printed, and the API took it.
    const tokens = stacks.map((s) => /export TOKEN=(\S+)/.exec(s.out)?.[1]);
    expect(tokens).toHaveLength(2);
    expect(tokens[1]).toBe(tokens[0]);
    expect(readFileSync(join(stateDir, "api-token"), "utf8").trim()).toBe(tokens[0]);
    expect(terminal2.proc.out).not.toContain('"code":"unauthorized"');
    // The inspector saw record.created once and record.updated twice, every signature verified.
    expect(terminal2.proc.out.match(/✔ signature verified/g)).toHaveLength(3);
    expect(terminal2.proc.out).not.toContain("✖ signature invalid");
  }, 180_000);
});

test("README's table of what npm start reads names every variable the local stack reads", () => {
  // Every process.env / env read in local/ except the separate worker process (worker-main.ts,
  // documented in its header) and the preflight (reads no variable).
  const names = new Set<string>();
  for (const file of readdirSync(join(ROOT, "local")).filter((f) => f.endsWith(".ts") && f !== "worker-main.ts")) {
    const src = readFileSync(join(ROOT, "local", file), "utf8");
    for (const m of src.matchAll(/\b(?:process\.env|env)\.([A-Z][A-Z0-9_]*)/g)) names.add(m[1]);
    for (const m of src.matchAll(/\benv\[ENV\.(\w+)\]/g)) names.add(ENV[m[1] as keyof typeof ENV]);
    // The endpoint-health settings are read by the λs' `healthFromEnv`, which the local stack calls.
    if (src.includes("healthFromEnv(")) {
      const config = readFileSync(join(ROOT, "lambdas", "shared", "config.ts"), "utf8");
      const body = config.slice(config.indexOf("export function healthFromEnv("), config.indexOf("export function configFromEnv("));
      for (const m of body.matchAll(/\bENV\.(\w+)/g)) names.add(ENV[m[1] as keyof typeof ENV]);
    }
  }
  const run = README.slice(README.indexOf("## Run it"), README.indexOf("## A 5-minute tour"));
  const table = [...run.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((m) => m[1]);
  expect(table.sort()).toEqual([...names].sort());
  expect(table).toEqual(expect.arrayContaining(["PORT", "WEBHOOKS_API_TOKEN", "WEBHOOKS_STATE_DIR", "WEBHOOKS_LOG_LEVEL"]));
});
