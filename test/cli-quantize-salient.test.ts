// `ternion quantize --salient P [--salient-metric magnitude|hessian] [--gptq] [--calib FILE]` through the built CLI,
// and `ternion inspect` on its output: salient fraction and bits per weight per ternary matrix and for the model
// (counted from the tensors' bytes: codes, DLT scales and the side matrix over the matrix's m·k weights).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./helpers/cli.ts";
import { sharedPath } from "./helpers/shared.ts";

const STORIES = sharedPath("models/stories260K.gguf");
const CALIB = sharedPath("corpus/tinystories-train-2MiB.txt");
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ternion-quantize-salient-"));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface InspectTensor {
  name: string;
  shape: number[];
  bytes: number;
  salientFraction?: number;
  bitsPerWeight?: number;
}

describe("quantize --salient / --gptq", () => {
  it("writes side matrices that inspect counts: fraction and bits per weight per matrix and in total", () => {
    const out = join(dir, "salient.gguf");
    const q = runCli([
      "quantize",
      "--model",
      STORIES,
      "--out",
      out,
      "--type",
      "tq2_0",
      "--salient",
      "0.02",
      "--salient-metric",
      "hessian",
      "--gptq",
      "--calib",
      CALIB,
      "--calib-tokens",
      "256",
      "--json",
    ]);
    expect(q.stderr).not.toMatch(/Error/);
    expect(q.status).toBe(0);
    const report = JSON.parse(q.stdout);
    expect(report.calibrationTokens).toBe(256);
    expect(report.calibrationOrder).toBe("sequential");
    expect(report.salient).toEqual({ fraction: 0.02, metric: "hessian" });
    const quantized = report.tensors.filter((t: { ternarized: boolean }) => t.ternarized);
    expect(quantized.length).toBe(35);
    for (const t of quantized) expect(t.salient).toBe(Math.round(0.02 * t.dims[0] * t.dims[1]));

    const i = runCli(["inspect", out, "--json"]);
    expect(i.status).toBe(0);
    const r = JSON.parse(i.stdout) as { tensors: InspectTensor[]; ternarySalientFraction: number; ternaryBitsPerWeight: number };
    const byName = new Map(r.tensors.map((t) => [t.name, t]));
    let weights = 0;
    let bits = 0;
    for (const t of quantized) {
      const [k, m] = t.dims as [number, number];
      const codes = byName.get(t.name)!;
      const base = t.name.slice(0, -".weight".length);
      const nnz = byName.get(`${base}.salient_idx`)!.shape[0]!;
      expect(nnz).toBe(t.salient);
      // the format's count: codes (and DLT α, γ) + nnz·(8 + 16) + 32·(m + 1) + 32·m
      const ternaryBits = 8 * (codes.bytes + byName.get(`${base}.dlt_alpha`)!.bytes + byName.get(`${base}.dlt_gamma`)!.bytes);
      const total = ternaryBits + nnz * 24 + 32 * (m + 1) + 32 * m;
      expect(codes.salientFraction).toBeCloseTo(nnz / (m * k), 12);
      expect(codes.bitsPerWeight).toBeCloseTo(total / (m * k), 9);
      weights += m * k;
      bits += total;
    }
    expect(r.ternaryBitsPerWeight).toBeCloseTo(bits / weights, 9);
    expect(r.ternarySalientFraction).toBeGreaterThan(0.0195);
    expect(r.ternarySalientFraction).toBeLessThan(0.0205);

    const text = runCli(["inspect", out]);
    expect(text.stdout).toMatch(/salient\s+bits\/weight/);
    expect(text.stdout).toMatch(/blk\.0\.attn_q\.weight\s.*\s2\.00%\s+\d+\.\d{3}/);
    expect(text.stdout).toMatch(
      /ternary matrices: \d+\.\d{3} bits\/weight \(codes, scales and side matrices over each matrix's m·k weights\), 2\.00% salient/,
    );
  });

  it("a model without side matrices shows 0 salient and the codes' bits per weight", () => {
    const out = join(dir, "plain.gguf");
    expect(runCli(["quantize", "--model", STORIES, "--out", out, "--type", "tq2_0"]).status).toBe(0);
    const r = JSON.parse(runCli(["inspect", out, "--json"]).stdout) as { tensors: InspectTensor[]; ternarySalientFraction: number };
    expect(r.ternarySalientFraction).toBe(0);
    const q = r.tensors.find((t) => t.name === "blk.0.attn_q.weight")!;
    expect(q.salientFraction).toBe(0);
    expect(q.bitsPerWeight).toBeGreaterThan(2);
  });

  it("refuses bad flags with one line and exit code 2", () => {
    const out = join(dir, "x.gguf");
    const base = ["quantize", "--model", STORIES, "--out", out, "--type", "tq2_0"];
    const text = join(dir, "calib.txt");
    writeFileSync(text, "Once upon a time there was a cat.");
    const cases: [string[], RegExp][] = [
      [["--salient", "0.3"], /--salient 0\.3 is over 0\.25/],
      [["--salient", "-0.1"], /--salient must be a number ≥ 0/],
      [["--salient", "lots"], /--salient must be a number/],
      [["--salient", "0.01", "--salient-metric", "fisher"], /--salient-metric must be magnitude or hessian/],
      [["--salient-metric", "hessian"], /--salient-metric needs --salient/],
      [["--gptq"], /--gptq needs --calib/],
      [["--salient", "0.01", "--salient-metric", "hessian"], /--salient-metric hessian needs --calib/],
      [["--salient", "0.01", "--calib", text], /--calib is used only by --gptq and --salient-metric hessian/],
      [["--gptq", "--calib", text, "--calib-order", "random"], /--calib-order must be float or sequential/],
      [["--gptq", "--calib", join(dir, "missing.txt")], /cannot open the calibration text/],
      [["--gptq", "--calib", text], /calibration text has \d+ tokens; at least 128/],
    ];
    for (const [extra, message] of cases) {
      const r = runCli([...base, ...extra]);
      expect(r.status, extra.join(" ")).toBe(2);
      expect(r.stderr, extra.join(" ")).toMatch(message);
      expect(r.stderr.trim().split("\n").length, extra.join(" ")).toBe(1);
    }
    const q8 = runCli(["quantize", "--model", STORIES, "--out", out, "--type", "q8_0", "--salient", "0.01"]);
    expect(q8.status).toBe(2);
    expect(q8.stderr).toMatch(/--type q8_0 must be one of tq2_0, tq1_0, i2_s/);
  });
});
