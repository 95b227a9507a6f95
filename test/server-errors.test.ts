// How the server names the request field at fault: an OptionError's `option` (kept across the worker boundary),
// mapped from the engine's spelling to the request's, and a GrammarError's field as the request gave it.
import { describe, expect, it } from "vitest";
import { checkChatRequest, checkOptions } from "../src/engine/arguments.ts";
import { fromWireError, toWireError } from "../src/engine/error-wire.ts";
import { GrammarError, OptionError } from "../src/runtime/errors.ts";
import { resolveSamplingOptions } from "../src/runtime/sampling/options.ts";
import { toHttpError } from "../src/server/http-error.ts";

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error("expected a throw");
}

describe("request field of an error", () => {
  it("an OptionError names its option; the server maps generate's spelling to the request's", () => {
    expect(new OptionError("BAD_OPTION", "x").option).toBeUndefined();
    // A message that names no field by any pattern: only `option` can say which it is.
    const e = new OptionError("BAD_OPTION_VALUE", "not a probability", "topP");
    expect(toHttpError(e).options.param).toBe("top_p");
    expect(toHttpError(new OptionError("BAD_OPTION_VALUE", "bad", "response_format")).options.param).toBe("response_format");
    expect(toHttpError(new OptionError("BAD_OPTION", "the options must be an object")).options.param).toBeUndefined();
  });

  it("arguments.ts and the sampler set `option`, which survives the worker boundary", () => {
    const unknown = thrown(() => checkOptions("generate", { maxToken: 3 }, {}));
    expect(unknown).toMatchObject({ code: "UNKNOWN_OPTION", option: "maxToken" });
    const n = thrown(() => checkChatRequest({ messages: [], n: 2 }));
    expect(n).toMatchObject({ code: "UNSUPPORTED_OPTION", option: "n" });
    const tools = thrown(() => checkChatRequest({ messages: [], tools: [] }));
    expect(tools).toMatchObject({ option: "tools" });
    const sampling = thrown(() => resolveSamplingOptions({ minP: 2 }));
    expect(sampling).toMatchObject({ option: "minP" });
    const back = fromWireError(toWireError(sampling));
    expect(back).toBeInstanceOf(OptionError);
    expect(toHttpError(back).options.param).toBe("min_p");
  });

  it("a GrammarError names the field the request's grammar came from", () => {
    const e = new GrammarError("UNDEFINED_RULE", "grammar: rule x is not defined");
    expect(toHttpError(e).options.param).toBe("response_format");
    expect(toHttpError(e, "grammar").options.param).toBe("grammar");
  });
});
