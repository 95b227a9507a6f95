// Model configuration from GGUF metadata and the tensor layout it implies.
export * from "./config.ts";
export * from "./keys.ts";
export * from "./tensors.ts";
