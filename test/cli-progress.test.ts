import { describe, expect, it } from "vitest";
import { DownloadBar, downloadLine } from "../src/cli/download-bar.ts";
import { formatSize } from "../src/cli/format.ts";
import { formatDuration, ProgressBar } from "../src/cli/progress.ts";

function fakeStream(isTTY: boolean, columns = 80) {
  const writes: string[] = [];
  return { isTTY, columns, writes, write: (t: string) => writes.push(t) };
}

describe("ProgressBar", () => {
  it("writes nothing when stderr is not a terminal", () => {
    const s = fakeStream(false);
    const bar = new ProgressBar("load", s);
    bar.update(1, 10);
    bar.update(10, 10);
    bar.clear();
    expect(s.writes).toEqual([]);
  });

  it("draws the fraction, counts, ETA and detail on a terminal, then erases itself", () => {
    let t = 0;
    const s = fakeStream(true);
    const bar = new ProgressBar("ppl", s, () => t);
    t = 2000;
    bar.update(1, 4, "ppl 3.2");
    expect(s.writes).toHaveLength(1);
    // 1 of 4 after 2 s → 6 s left.
    expect(s.writes[0]).toBe(`\r\x1b[Kppl [${"#".repeat(6)}${"-".repeat(18)}]  25% 1/4 ETA 6s ppl 3.2`);
    bar.clear();
    expect(s.writes.at(-1)).toBe("\r\x1b[K");
  });

  it("throttles redraws but always draws the last step", () => {
    let t = 0;
    const s = fakeStream(true);
    const bar = new ProgressBar("quantize", s, () => t);
    bar.update(1, 100);
    t = 10;
    bar.update(2, 100); // 10 ms later: skipped
    t = 20;
    bar.update(100, 100); // done: drawn regardless
    expect(s.writes).toHaveLength(2);
    expect(s.writes[1]).toContain("100% 100/100");
    expect(s.writes[1]).not.toContain("ETA");
  });

  it("fits the line to the terminal width", () => {
    const s = fakeStream(true, 30);
    new ProgressBar("load", s).update(5, 10, "a very long tensor name that does not fit");
    expect(s.writes[0]!.replace("\r\x1b[K", "").length).toBe(29);
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0s"],
    [59.4, "59s"],
    [185, "3m05s"],
    [3720, "1h02m"],
  ])("%s s → %s", (s, text) => expect(formatDuration(s)).toBe(text));
});

describe("download progress line", () => {
  const p = { file: "/c/model.gguf", loaded: 432_328_294, total: 1_277_752_770, bytesPerSecond: 13_002_342, etaSeconds: 62 };

  it("reads loaded / total, rate and ETA in binary units", () => {
    expect(downloadLine("model.gguf", p, 80)).toBe("model.gguf 33% 412.3 MiB / 1.19 GiB 12.4 MiB/s ETA 1m02s");
    expect(formatSize(999)).toBe("999 B");
    expect(formatSize(1536)).toBe("1.50 KiB");
    expect(downloadLine("x", { ...p, total: 0, etaSeconds: undefined }, 80)).toBe("x 412.3 MiB 12.4 MiB/s");
  });

  it("leaves out whole parts, never part of a word, to fit the terminal", () => {
    for (let columns = 10; columns <= 80; columns++) {
      const line = downloadLine("model.gguf", p, columns);
      const words = "model.gguf 33% 412.3 MiB / 1.19 GiB 12.4 MiB/s ETA 1m02s".split(/\s+/);
      for (const word of line.split(/\s+/)) expect(words).toContain(word);
      expect(line).toContain("412.3 MiB / 1.19 GiB");
      if (line.length > 20) expect(line.length).toBeLessThanOrEqual(columns - 1);
    }
    expect(downloadLine("model.gguf", p, 45)).toBe("412.3 MiB / 1.19 GiB 12.4 MiB/s ETA 1m02s");
    expect(downloadLine("model.gguf", p, 36)).toBe("412.3 MiB / 1.19 GiB 12.4 MiB/s");
  });

  it("draws on a terminal only, throttled, and erases itself", () => {
    let t = 0;
    const s = fakeStream(true);
    const bar = new DownloadBar("model.gguf", s, () => t);
    bar.update(p);
    t = 50;
    bar.update({ ...p, loaded: p.loaded + 1 });
    expect(s.writes).toEqual([`\r\x1b[K${downloadLine("model.gguf", p, 80)}`]);
    bar.clear();
    expect(s.writes.at(-1)).toBe("\r\x1b[K");
    const piped = fakeStream(false);
    new DownloadBar("model.gguf", piped).update(p);
    expect(piped.writes).toEqual([]);
  });
});
