// Runs one command in a child process under a time limit and a resident-memory cap, killing it (SIGKILL) at
// the first sample over either, and reports its peak resident memory. The cap is enforced by sampling
// /proc/<pid>/status (VmHWM, the kernel's own high-water mark), not by an address-space rlimit: V8 reserves
// gigabytes of address space for wasm memories that it never touches, so RLIMIT_AS would fail good runs.
// The exact peak of a process too short-lived to sample comes from GNU time (/usr/bin/time, Debian's `time`
// package; .ci/run installs it), which wraps the command.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface BoundedRunResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Peak resident set size seen (MiB). */
  peakRssMiB: number;
  wallMs: number;
  /** Set when this runner killed the child. */
  killedFor?: "time" | "memory";
}

export interface BoundedRunOptions {
  timeLimitMs: number;
  memoryCapMiB: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
}

const SAMPLE_MS = 20;

const GNU_TIME = "/usr/bin/time";

/** The pid of the command GNU time runs (its only child), once it has started. */
function wrappedPid(timePid: number): number | undefined {
  try {
    const first = readFileSync(`/proc/${timePid}/task/${timePid}/children`, "utf8").trim().split(" ")[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

function peakRssKiB(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const m = /^VmHWM:\s+(\d+) kB/m.exec(status);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined; // the process has exited between two samples
  }
}

export function boundedRun(command: string, args: string[], options: BoundedRunOptions): Promise<BoundedRunResult> {
  const started = performance.now();
  const timed = existsSync(GNU_TIME);
  const reportDir = timed ? mkdtempSync(join(tmpdir(), "ternion-bounded-")) : undefined;
  const report = reportDir === undefined ? undefined : join(reportDir, "peak");
  const spawned = report === undefined ? ([command, args] as const) : ([GNU_TIME, ["-f", "%M", "-o", report, command, ...args]] as const);
  const child = spawn(spawned[0], spawned[1], { env: options.env ?? process.env, cwd: options.cwd, stdio: "pipe" });
  let target: number | undefined = timed ? undefined : child.pid;
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => {
    if (stdout.length < 1 << 20) stdout += s;
  });
  child.stderr.setEncoding("utf8").on("data", (s: string) => {
    if (stderr.length < 1 << 20) stderr += s;
  });
  child.stdin.end(options.input ?? "");
  let peakKiB = 0;
  let killedFor: BoundedRunResult["killedFor"];
  const kill = (why: "time" | "memory") => {
    if (killedFor === undefined) killedFor = why;
    if (target !== undefined) process.kill(target, "SIGKILL");
    child.kill("SIGKILL");
  };
  const sampler = setInterval(() => {
    if (target === undefined && child.pid !== undefined) target = wrappedPid(child.pid);
    const kib = target === undefined ? undefined : peakRssKiB(target);
    if (kib !== undefined) peakKiB = Math.max(peakKiB, kib);
    if (peakKiB > options.memoryCapMiB * 1024) kill("memory");
    else if (performance.now() - started > options.timeLimitMs) kill("time");
  }, SAMPLE_MS);
  return new Promise((resolve, reject) => {
    child.on("error", (e) => {
      clearInterval(sampler);
      reject(e);
    });
    child.on("close", (timeExitCode, timeSignal) => {
      clearInterval(sampler);
      let exitCode = timeExitCode;
      let signal = timeSignal;
      if (report !== undefined && reportDir !== undefined) {
        // GNU time writes "Command terminated by signal N" or "Command exited with non-zero status N" before the
        // peak, and exits with the command's status (128 + N for a signal).
        const lines = existsSync(report) ? readFileSync(report, "utf8").trim().split("\n") : [];
        const kib = Number(lines.at(-1));
        if (Number.isFinite(kib)) peakKiB = Math.max(peakKiB, kib);
        const bySignal = /terminated by signal (\d+)/.exec(lines.join("\n"));
        if (bySignal) {
          exitCode = null;
          signal = signalName(Number(bySignal[1]));
        }
        rmSync(reportDir, { recursive: true, force: true });
      }
      resolve({
        exitCode,
        signal,
        stdout,
        stderr,
        peakRssMiB: peakKiB / 1024,
        wallMs: performance.now() - started,
        ...(killedFor === undefined ? {} : { killedFor }),
      });
    });
  });
}

function signalName(n: number): NodeJS.Signals {
  const names: Record<number, NodeJS.Signals> = { 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 15: "SIGTERM" };
  return names[n] ?? "SIGKILL";
}
