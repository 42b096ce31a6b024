import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";

/**
 * `npm start` and shells as a person runs them: real child processes in their own process group
 * (so that a Ctrl-C, SIGINT to the group, reaches npm, tsx and the stack alike), with the Node that
 * runs the tests first on PATH (what `nvm use` gives a person), output captured as it comes.
 */
export const ROOT = join(import.meta.dirname, "..", "..");

/** PATH with this Node's directory first, so that `npm`, `npx` and `node` in scripts run on it. */
export function nodePath(env: NodeJS.ProcessEnv = process.env): string {
  return `${dirname(process.execPath)}:${env.PATH ?? ""}`;
}

/** A port the OS had free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The environment of a child: this one minus jest's NODE_OPTIONS and every WEBHOOKS_*, plus `env`. */
export function childEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WEBHOOKS_") && k !== "NODE_OPTIONS" && k !== "PORT"));
  const merged: Record<string, string | undefined> = { ...base, PATH: nodePath(), ...env };
  for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
  return merged;
}

export class Proc {
  out = "";
  exitCode: number | null | undefined = undefined;
  readonly exited: Promise<number | null>;
  private listeners: (() => void)[] = [];

  constructor(readonly child: ChildProcess) {
    const take = (d: Buffer) => {
      this.out += d.toString("utf8");
      for (const l of this.listeners) l();
    };
    child.stdout?.on("data", take);
    child.stderr?.on("data", take);
    this.exited = new Promise((resolve) =>
      child.once("close", (code) => {
        this.exitCode = code;
        for (const l of this.listeners) l();
        resolve(code);
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Waits until the output from `from` on contains `text` (or matches it); fails at the deadline or if the process ends first. */
  waitFor(text: string | RegExp, { from = 0, timeoutMs = 40_000, what = "output" } = {}): Promise<string> {
    const found = () => {
      const tail = this.out.slice(from);
      return typeof text === "string" ? tail.includes(text) : text.test(tail);
    };
    return new Promise((resolve, reject) => {
      const check = () => {
        if (found()) {
          done();
          resolve(this.out);
        } else if (this.exitCode !== undefined) {
          done();
          reject(new Error(`${what} ended (exit ${this.exitCode}) without printing ${text}:\n${this.out}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${what} did not print ${text} within ${timeoutMs} ms:\n${this.out}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== check);
      };
      this.listeners.push(check);
      check();
    });
  }

  /**
   * Ctrl-C: SIGINT to the whole process group; resolves once every process holding its output has
   * ended, with npm's exit code (null: npm re-raises the SIGINT, as in a terminal).
   */
  async interrupt(): Promise<number | null> {
    if (this.exitCode === undefined) {
      try {
        process.kill(-this.pid, "SIGINT");
      } catch {
        // already gone
      }
    }
    return this.exited;
  }

  /** Ends the group for good (test cleanup). */
  async kill(): Promise<void> {
    if (this.exitCode !== undefined) return;
    try {
      process.kill(-this.pid, "SIGKILL");
    } catch {
      // already gone
    }
    await this.exited;
  }
}

/** Runs a shell command line in the repository as its own process group. */
export function shell(command: string, env: Record<string, string | undefined> = {}): Proc {
  return new Proc(spawn("bash", ["-c", command], { cwd: ROOT, env: childEnv(env), stdio: ["ignore", "pipe", "pipe"], detached: true }));
}

/** `npm start` with this port and state dir; resolves once it says it is ready. */
export async function npmStart(o: { port: number; stateDir: string; env?: Record<string, string | undefined> }): Promise<Proc> {
  const proc = shell("npm start", { PORT: String(o.port), WEBHOOKS_STATE_DIR: o.stateDir, ...o.env });
  await proc.waitFor("Ctrl-C stops", { what: "npm start" });
  return proc;
}

/** This process and all its descendants, from /proc. */
export function processTree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parent.set(Number(name), ppid);
    } catch {
      // gone meanwhile
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of parent) if (ppid === tree[i]) tree.push(pid);
  return tree;
}

export interface Listener {
  pid: number;
  address: string;
  port: number;
}

/** `0100007F:0BB8` (or its 32-hex-digit IPv6 form) from /proc/net/tcp* → address and port. */
export function decodeProcAddress(hex: string): { address: string; port: number } {
  const [ip, port] = hex.split(":");
  const words = ip.match(/.{8}/g)!.map((w) => w.match(/../g)!.reverse().join(""));
  if (words.length === 1)
    return {
      address: words[0]
        .match(/../g)!
        .map((b) => parseInt(b, 16))
        .join("."),
      port: parseInt(port, 16),
    };
  const groups = words
    .join("")
    .match(/.{4}/g)!
    .map((g) => parseInt(g, 16).toString(16));
  const v4mapped = groups.slice(0, 5).every((g) => g === "0") && groups[5] === "ffff";
  if (v4mapped) {
    const b = words[3].match(/../g)!.map((x) => parseInt(x, 16));
    return { address: `::ffff:${b.join(".")}`, port: parseInt(port, 16) };
  }
  return { address: groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::"), port: parseInt(port, 16) };
}

/** Every listening TCP socket (IPv4 and IPv6) held by one of these processes. */
export function listeningSockets(pids: number[]): Listener[] {
  const owner = new Map<string, number>();
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) owner.set(m[1], pid);
      } catch {
        // closed meanwhile
      }
    }
  }
  const found: Listener[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== "0A") continue; // 0A: LISTEN
      const pid = owner.get(cols[9]);
      if (pid !== undefined) found.push({ pid, ...decodeProcAddress(cols[1]) });
    }
  }
  return found;
}
