// On-device fine-tuning (issue 7): DLT ternarization, STE, the training forward/backward of the llama/BitNet
// block, OFF/MSE/CE/KL losses, AdamW, schedules, checkpoints and the blockwise schedule. See README.md.
export * from "./tensor.ts";
export * from "./params.ts";
export * from "./dlt.ts";
export * from "./ste.ts";
export * from "./matmul.ts";
export * from "./linear.ts";
export * from "./block.ts";
export * from "./model.ts";
export * from "./loss.ts";
export * from "./loss-ce.ts";
export * from "./loss-kl.ts";
export * from "./loss-off.ts";
export * from "./loss-mse.ts";
export * from "./adamw.ts";
export * from "./schedule.ts";
export * from "./grad-clip.ts";
export * from "./data.ts";
export * from "./trainer.ts";
export * from "./checkpoint.ts";
export * from "./blockwise.ts";
export * from "./teacher.ts";
export { ropeTable, ropeApply, type RopeTable } from "./ops/rope.ts";
