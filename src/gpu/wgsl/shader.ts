// What every WGSL module here produces: the source, and the names of its bindings in binding order (all in
// group 0), so that the op builder can bind buffers by name and never by a hand-counted index.

export type Access = "uniform" | "read" | "read_write";

export interface Binding {
  name: string;
  access: Access;
  /** WGSL type, e.g. "array<u32>" or "Params". */
  type: string;
}

export interface ShaderSource {
  label: string;
  code: string;
  bindings: readonly string[];
}

/** `@group(0) @binding(i) var<…> name: type;` for each binding, in order. */
export function declare(bindings: readonly Binding[]): string {
  return bindings
    .map((b, i) => {
      const space = b.access === "uniform" ? "uniform" : `storage, ${b.access}`;
      return `@group(0) @binding(${i}) var<${space}> ${b.name}: ${b.type};`;
    })
    .join("\n");
}

export function shader(label: string, bindings: readonly Binding[], body: string): ShaderSource {
  return { label, code: `${declare(bindings)}\n${body}`, bindings: bindings.map((b) => b.name) };
}

/** The per-forward uniform every model kernel shares: first position and token count of this step. */
export const STEP_STRUCT = /* wgsl */ `
struct Step { pos0: u32, n: u32, _pad0: u32, _pad1: u32 }`;

export const STEP_BINDING: Binding = { name: "step", access: "uniform", type: "Step" };
