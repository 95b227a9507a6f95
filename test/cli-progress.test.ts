import { describe, expect, it } from "vitest";
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
