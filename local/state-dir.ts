import { randomBytes } from "node:crypto";
import { chmodSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { STATE_FILE } from "./state-file.ts";

/**
 * The state dir of `npm start` (`.local/` by default): the emulators' data, the state file, the
 * API token, the lock. It holds every signing secret, so it is the user's alone: the directory and
 * every directory in it 0700, every file 0600 (npm start also runs with umask 077, so the files the
 * emulators create later are born that way).
 */

/** The generated API token, kept so that an exported `$TOKEN` survives a restart. */
export const TOKEN_FILE = "api-token";
/** The pid of the `npm start` that owns this state dir. */
export const LOCK_FILE = "npm-start.pid";

/** Creates the directory (0700) and narrows whatever an older version left readable in it. */
export function preparePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  makePrivate(dir);
}

/** chmod -R: directories 0700, files 0600 (symbolic links are left alone, not followed). */
export function makePrivate(path: string): void {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return;
  if (st.isDirectory()) {
    if ((st.mode & 0o777) !== 0o700) chmodSync(path, 0o700);
    for (const name of readdirSync(path)) makePrivate(join(path, name));
  } else if ((st.mode & 0o777) !== 0o600) {
    chmodSync(path, 0o600);
  }
}

/**
 * The API token: WEBHOOKS_API_TOKEN when set (it wins, and the kept one is left as it is), else the
 * one kept in the state dir, else a new one, kept there (0600) for the next start.
 */
export function apiToken(dir: string, fromEnv: string | undefined): { token: string; source: "env" | "kept" | "generated" } {
  if (fromEnv) return { token: fromEnv, source: "env" };
  const file = join(dir, TOKEN_FILE);
  try {
    const kept = readFileSync(file, "utf8").trim();
    if (/^[A-Za-z0-9_-]{16,}$/.test(kept)) return { token: kept, source: "kept" };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const token = randomBytes(24).toString("base64url");
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { token, source: "generated" };
}

export class AlreadyRunning extends Error {
  constructor(
    readonly pid: number,
    readonly apiUrl: string | undefined,
    readonly dir: string,
  ) {
    super(
      `already running, pid ${pid}, API ${apiUrl ?? "(starting)"}: another npm start uses ${dir}. ` +
        `Stop it (Ctrl-C in its terminal, or kill ${pid}), or give this one another WEBHOOKS_STATE_DIR.`,
    );
  }
}

/** Is pid a live `npm start` (local/start.ts)? Where /proc shows command lines, a reused pid is not. */
function runsStack(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false; // EPERM: exists, someone else's
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("local/start.ts");
  } catch {
    return true; // no /proc here: the pid is alive, take it at its word
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The running stack's API, from its state file, unless that file predates the lock (a previous run's). */
function apiUrlOf(dir: string): string | undefined {
  try {
    if (statSync(join(dir, STATE_FILE)).mtimeMs < statSync(join(dir, LOCK_FILE)).mtimeMs) return undefined;
    const url = JSON.parse(readFileSync(join(dir, STATE_FILE), "utf8")).apiUrl;
    return typeof url === "string" ? url : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the state dir for this process: the lock file appears atomically (a hard link to a file
 * already holding this pid, which fails if the lock exists), so a reader never sees it half
 * written. A lock whose pid no longer runs a stack (one that was killed) is taken over; a live one
 * is an AlreadyRunning naming its pid and API. Returns the release (removes the lock if still ours).
 */
export function lockStateDir(dir: string, pid = process.pid): () => void {
  const file = join(dir, LOCK_FILE);
  const mine = join(dir, `${LOCK_FILE}.${pid}`);
  writeFileSync(mine, `${pid}\n`, { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        linkSync(mine, file);
        return () => {
          if (readPid(file) === pid) unlinkSync(file);
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      const holder = readPid(file);
      if (holder !== undefined && holder !== pid && runsStack(holder)) throw new AlreadyRunning(holder, apiUrlOf(dir), dir);
      // Stale (its process is gone): remove it if it is still the one just read.
      if (readPid(file) === holder) rmSync(file, { force: true });
    }
    throw new Error(`cannot take the lock ${file}: it keeps changing`);
  } finally {
    rmSync(mine, { force: true });
  }
}
