// `ternion serve` started as a user starts it (dist/cli.js under Node, or Deno), on a free port: the address it
// prints, its request log, and how it ended.
import { spawn } from "node:child_process";
import { cliPath, repoRoot } from "./cli.ts";

export interface ServeProcess {
  /** The OpenAI base URL it printed (http://127.0.0.1:<port>/v1). */
  baseUrl: string;
  /** The server's root (http://127.0.0.1:<port>). */
  root: string;
  /** Its stderr so far (one line per request). */
  log(): string;
  /** Waits until its log has a line matching `pattern`. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  signal(name: NodeJS.Signals): void;
  /** Resolves with its exit code (or signal) once it ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, and its exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `ternion serve --port 0 <args>`; `deno` runs it under Deno with those permissions. */
export async function startServe(args: string[], options: { deno?: string[] } = {}): Promise<ServeProcess> {
  const [command, prefix] = options.deno
    ? [`${repoRoot}node_modules/.bin/deno`, ["run", "--quiet", "--no-prompt", ...options.deno]]
    : [process.execPath, []];
  const child = spawn(command, [...prefix, cliPath, "serve", "--port", "0", ...args], {
    cwd: repoRoot,
    env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const listeners = new Set<() => void>();
  child.stdout.setEncoding("utf8").on("data", (t: string) => {
    stdout += t;
    for (const l of listeners) l();
  });
  child.stderr.setEncoding("utf8").on("data", (t: string) => {
    stderr += t;
    for (const l of listeners) l();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal })),
  );
  const until = (test: () => string | undefined, timeoutMs: number, what: string) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const found = test();
        if (found === undefined) return;
        listeners.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`serve: no ${what} after ${timeoutMs} ms; stdout: ${stdout}\nstderr: ${stderr}`));
      }, timeoutMs);
      listeners.add(check);
      void exited.then(() => {
        if (listeners.has(check)) check();
        if (listeners.delete(check)) {
          clearTimeout(timer);
          reject(new Error(`serve ended before ${what}; stdout: ${stdout}\nstderr: ${stderr}`));
        }
      });
      check();
    });
  const baseUrl = await until(() => /(http:\/\/\S+\/v1)\b/.exec(stdout)?.[1], 60_000, "address on stdout");
  return {
    baseUrl,
    root: baseUrl.slice(0, -"/v1".length),
    log: () => stderr,
    waitForLog: (pattern, timeoutMs = 20_000) => until(() => stderr.split("\n").find((l) => pattern.test(l)), timeoutMs, `log line ${pattern}`),
    signal: (name) => child.kill(name),
    exited,
    stop: () => {
      child.kill("SIGTERM");
      return exited;
    },
  };
}
