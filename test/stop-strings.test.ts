import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { OptionError } from "../src/runtime/errors.ts";
import { StopMatcher } from "../src/runtime/sampling/stop.ts";

/** Feeds `pieces` one by one; returns what was shown after each push, and the final state. */
function stream(stops: string[], pieces: string[]) {
  const m = new StopMatcher(stops);
  const shown: string[] = [];
  let stop: string | undefined;
  for (const p of pieces) {
    const r = m.push(p);
    shown.push(r.text);
    if (r.stopped) {
      stop = r.stop;
      break;
    }
  }
  const end = m.flush();
  return { text: shown.join("") + end.text, shown, stop: stop ?? end.stop, stopped: m.stopped };
}

describe("StopMatcher", () => {
  it("cuts at a stop string that spans pieces and holds back only what could still become one", () => {
    const r = stream(["\nUser:"], ["Hello", " there\n", "Us", "er: hi"]);
    expect(r.text).toBe("Hello there");
    expect(r.shown).toEqual(["Hello", " there", "", ""]);
    expect(r.stop).toBe("\nUser:");
  });

  it("releases held text as soon as it cannot match, and at the end of the stream", () => {
    const m = new StopMatcher(["###"]);
    expect(m.push("a#")).toEqual({ text: "a", stopped: false });
    expect(m.push("#b")).toEqual({ text: "##b", stopped: false });
    expect(m.push("c##")).toEqual({ text: "c", stopped: false });
    expect(m.flush()).toEqual({ text: "##", stopped: false });
  });

  it("reports the stop string that starts first, the longer one when two start together", () => {
    expect(stream(["world", "lo w"], ["hello world"]).stop).toBe("lo w");
    const both = stream(["ab", "abc"], ["xx", "abc"]);
    expect(both.stop).toBe("abc");
    expect(both.text).toBe("xx");
  });

  it("ignores input after a stop", () => {
    const m = new StopMatcher(["."]);
    expect(m.push("one. two")).toMatchObject({ text: "one", stopped: true, stop: "." });
    expect(m.push("three.")).toEqual({ text: "", stopped: true });
    expect(m.flush()).toEqual({ text: "", stopped: true });
  });

  it("lets a shorter stop wait while a longer one that starts earlier may still complete", () => {
    const waits = new StopMatcher(["c\nX", "\n"]);
    expect(waits.push("ac\n")).toEqual({ text: "a", stopped: false });
    expect(waits.push("Y")).toEqual({ text: "c", stopped: true, stop: "\n" });
    const ends = new StopMatcher(["c\nX", "\n"]);
    expect(ends.push("ac\n")).toEqual({ text: "a", stopped: false });
    expect(ends.flush()).toEqual({ text: "c", stopped: true, stop: "\n" });
  });

  it("rejects empty stop strings", () => {
    expect(() => new StopMatcher(["ok", ""])).toThrow(OptionError);
  });

  it("for any text, stops and split points: shows exactly the text before the first stop, never a stop's start too early", () => {
    const alphabet = fc.constantFrom("a", "b", "c", "\n", "é", "😀");
    const str = (min: number, max: number) => fc.array(alphabet, { minLength: min, maxLength: max }).map((a) => a.join(""));
    fc.assert(
      fc.property(str(0, 40), fc.array(str(1, 4), { minLength: 1, maxLength: 3 }), fc.array(fc.nat(40), { maxLength: 10 }), (text, stops, cuts) => {
        const points = [...new Set(cuts.map((c) => Math.min(c, text.length)))].sort((a, b) => a - b);
        const pieces: string[] = [];
        let from = 0;
        for (const p of [...points, text.length]) {
          pieces.push(text.slice(from, p));
          from = p;
        }
        const first = Math.min(...stops.map((s) => text.indexOf(s)).filter((i) => i >= 0));
        const expected = Number.isFinite(first) ? text.slice(0, first) : text;
        const r = stream(stops, pieces);
        expect(r.text).toBe(expected);
        expect(r.stopped).toBe(Number.isFinite(first));
        // What was shown after each push is a prefix of the answer, and whatever is held back at that
        // point is shorter than the longest stop string.
        let fed = "";
        let shown = "";
        const longest = Math.max(...stops.map((s) => s.length));
        for (const [i, s] of r.shown.entries()) {
          fed += pieces[i];
          shown += s;
          expect(expected.startsWith(shown)).toBe(true);
          if (!(r.stopped && i === r.shown.length - 1)) {
            const held = fed.slice(shown.length);
            expect(held.length).toBeLessThan(longest);
            // Nothing is held that could not still grow into a stop string.
            if (held) expect(stops.some((st) => st.startsWith(held))).toBe(true);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});
