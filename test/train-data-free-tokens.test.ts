// finetune's dataFreeTokens (how many tokens a data-free run samples from the teacher) is checked with the other
// options: a typed OptionError naming it, before anything is sampled or allocated.
import { describe, expect, it } from "vitest";
import { OptionError } from "../src/runtime/errors.ts";
import { resolveFinetuneOptions } from "../src/train/finetune-run.ts";

describe("finetune's dataFreeTokens", () => {
  const base = { steps: 4, dataFree: true, mode: "full" as const };

  it("must be an integer ≥ 1 (OptionError naming it)", () => {
    for (const bad of [0, -5, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => resolveFinetuneOptions({ ...base, dataFreeTokens: bad }, 64)).toThrow(OptionError);
      expect(() => resolveFinetuneOptions({ ...base, dataFreeTokens: bad }, 64)).toThrow(/dataFreeTokens must be an integer ≥ 1/);
    }
    expect(() => resolveFinetuneOptions({ ...base, dataFreeTokens: 1 }, 64)).not.toThrow();
    expect(() => resolveFinetuneOptions({ ...base, dataFreeTokens: 500 }, 64)).not.toThrow();
  });

  it("needs dataFree", () => {
    expect(() => resolveFinetuneOptions({ steps: 4, dataText: "x", dataFreeTokens: 500 }, 64)).toThrow(/dataFreeTokens needs dataFree/);
  });
});
