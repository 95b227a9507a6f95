// Constrained generation on the WebGPU backend (SwiftShader): greedy decoding there normally reads back the GPU's
// argmax; under a JSON schema it must read the logits and choose among the tokens the grammar allows, giving the
// same answer as the wasm backend.
import Ajv from "ajv";
import { describe, expect, it } from "vitest";
import { createLocalEngine } from "../src/engine/local-engine.ts";
import { testGpu } from "./helpers/gpu.ts";
import { lacks } from "./helpers/optional-deps.ts";
import { sharedPath } from "./helpers/shared.ts";

const STORIES = sharedPath("models/stories260K.gguf");
const SCHEMA = {
  type: "object",
  properties: { hero: { enum: ["Lily", "Tom", "Ben"] }, friends: { type: "array", items: { type: "string", maxLength: 5 }, maxItems: 2 } },
  required: ["hero", "friends"],
  additionalProperties: false,
};

describe.skipIf(lacks("webgpu"))("structured output on WebGPU", () => {
  it("greedy under a schema reads the logits: valid JSON, the wasm backend's answer", async () => {
    const { gpu } = await testGpu();
    const gpuEngine = await createLocalEngine({ model: STORIES, backend: "webgpu", gpu: gpu!, contextLength: 128 });
    const wasm = await createLocalEngine({ model: STORIES, backend: "wasm", threads: 1, kvType: "f32", contextLength: 128 });
    try {
      expect((await gpuEngine.info()).backend).toBe("webgpu");
      const options = { temperature: 0, jsonSchema: SCHEMA, maxTokens: 80 };
      const r = await gpuEngine.complete("Once upon a time", options);
      expect(r.stopReason).toBe("stop");
      expect(new Ajv({ strict: true }).validate(SCHEMA, JSON.parse(r.text)), r.text).toBe(true);
      expect(r.text).toBe((await wasm.complete("Once upon a time", options)).text);
    } finally {
      await gpuEngine.dispose();
      await wasm.dispose();
    }
  }, 120_000);
});
