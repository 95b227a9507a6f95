// Metadata keys that ternion defines itself. llama.cpp derives these properties from the architecture name
// alone; a file converted from another format (bitllama) or fine-tuned by us may differ from the
// architecture's default, so it says so explicitly. Readers that do not know the keys (llama.cpp) ignore
// them and fall back to the architecture's behaviour.

/**
 * The activation of the FFN gate, a string: "silu" (silu(gate) ⊙ up, SwiGLU) or "relu2" (relu(gate)² ⊙ up).
 * Default: "relu2" for bitnet-b1.58 / bitnet-25, "silu" for llama and for llama.cpp's "bitnet".
 */
export const FFN_ACTIVATION_KEY = "ternion.feed_forward_activation";

/**
 * RMSNorm epsilon of the final norm (`output_norm`), an f32, when it differs from the one of the norms
 * inside the blocks (`<arch>.attention.layer_norm_rms_epsilon`). Default: that block epsilon. bitllama needs
 * it: its per-input normalisation has no epsilon (0) while its final norm uses 1e-5.
 */
export const OUTPUT_NORM_EPS_KEY = "ternion.output_norm_rms_epsilon";

/**
 * How the input of every ternary matmul is quantized, a string: "none" (float activations) or
 * "int8-per-token" (absmax over the whole input vector: a = max|x|/127, q = round(x/a), as BitNet b1.58).
 * Default: "int8-per-token" for the bitnet architectures, "none" for llama.
 */
export const ACTIVATION_QUANT_KEY = "ternion.activation_quantization";
