// Types of abi.mjs for the TypeScript that imports it (test/generated-code.test.ts).
export interface AbiGroup {
  prefix: string;
  doc: string;
  ids: [name: string, id: number, doc?: string][];
  wasmOnly?: true;
}
export interface AbiConstant {
  name: string;
  doc: string;
  value: number;
}
export const ABI_GROUPS: AbiGroup[];
export const ABI_CONSTANTS: AbiConstant[];
