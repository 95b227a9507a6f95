// The wasm ABI's numeric ids: the one table of the numbers that the TypeScript wrappers (src/runtime/cpu/) pass to
// the AssemblyScript kernels (assembly/) and that both sides must read alike. `npm run gen:kernels`
// (scripts/gen-abi.mjs) writes it as assembly/kernels/abi.ts and src/runtime/cpu/abi.ts; neither side restates
// one of these numbers by hand.
//
// A group { prefix, doc, ids: [[NAME, id, doc?], …] } becomes the AssemblyScript constants PREFIX_NAME: i32 and
// the TypeScript object PREFIX = { NAME: id, … } as const; a constant { name, doc, value } becomes NAME on both
// sides. A group with wasmOnly is emitted for AssemblyScript alone: ids that only the kernels use among
// themselves (the generator, scripts/gen-ternary-kernels.mjs, builds its dispatchers from them).

/** @typedef {{ prefix: string; doc: string; ids: [name: string, id: number, doc?: string][]; wasmOnly?: true }} AbiGroup */
/** @typedef {{ name: string; doc: string; value: number }} AbiConstant */

/** @type {AbiGroup[]} */
export const ABI_GROUPS = [
  {
    prefix: "FAM",
    doc: "Ternary weight families: ternMatmul's `fam` (assembly/kernels/ternary.ts). TQ2 also runs TQ1_0, repacked at upload.",
    ids: [
      ["TQ2", 0],
      ["I2S", 1],
      ["DLT", 2],
    ],
  },
  {
    prefix: "TILE",
    doc: "Register tile of the ternary matmul: ternMatmul's `tileMode` (a tuning knob: results never change).",
    ids: [
      ["AUTO", 0, "ROWS4 for n <= 2 tokens, else R2T4"],
      ["ROWS4", 1, "1 quad (4 rows) × 1–2 tokens: the matvec"],
      ["R1T4", 2, "1 quad × up to QUAD_TOKS_T tokens (DLT64_TOKS_T for 64-weight DLT groups; assembly/kernels/ternary_tiles.ts)"],
      ["R2T4", 3, "2 quads × up to QUAD_PAIR_TOKS_T tokens (relaxed build; single quads for a 4-row tail, in simd128 and for 64-weight DLT groups)"],
    ],
  },
  {
    prefix: "WT",
    doc: "Float weight types: floatMatmul's `ty` (assembly/kernels/float.ts).",
    ids: [
      ["F32", 0],
      ["F16", 1],
      ["Q8_0", 2],
    ],
  },
  {
    prefix: "KV",
    doc: "KV-cache element types: attention's and kvStore's `type` (assembly/kernels/attention.ts).",
    ids: [
      ["F32", 0],
      ["F16", 1],
      ["Q8_0", 2, "int8 codes per 32 with an f32 scale each, opt-in (the cache's bytes per element 1.125 instead of 2)"],
    ],
  },
  {
    prefix: "LUT_FORM",
    doc: "How the Vec-LUT sweep finds a code byte's table row: ternMatmulLut's `form` (assembly/kernels/ternary_lut.ts; same results, speed by runtime).",
    ids: [
      ["MAP", 0, "a load from a 256-entry byte map per code byte, in the loop (Node 20's V8 runs it faster)"],
      ["ADDRESSES", 1, "the table rows' addresses computed 16 code bytes at a time per row quad (V8 15: Deno, Chromium)"],
    ],
  },
  {
    prefix: "ACT",
    doc: "Gated activations: glu's `kind` (assembly/kernels/ops.ts).",
    ids: [
      ["SILU", 0, "silu(g) = g/(1+e^-g): SwiGLU"],
      ["RELU2", 1, "relu(g)²: BitNet b1.58's FFN"],
    ],
  },
  {
    prefix: "MSET",
    doc: "Words (i32/u32, the scale f32) of one matrix's entry in a ternary matmul set (ternMatmulSet, assembly/kernels/ternary.ts): the arguments of its own ternMatmul call, and the rows it covers in the set's range.",
    ids: [
      ["FAM", 0, "ternary family (FAM)"],
      ["CODES", 1, "address of the codes in row quads"],
      ["ROW_BYTES", 2, "bytes of one row's codes"],
      ["SCALES", 3, "f32 weight scales, quad-major [rows/4][groups][4] (0: none)"],
      ["SHIFTS", 4, "f32 DLT shifts, as the scales (0: none)"],
      ["SCALE_STRIDE", 5, "bytes between neighbouring row quads' scales (16·groups)"],
      ["UNITS", 6, "64-weight units of a row (2·ceil(k/128))"],
      ["UPG", 7, "64-weight units per DLT group"],
      ["GROUPS", 8, "DLT groups per row"],
      ["TENSOR_SCALE", 9, "I2_S tensor scale (f32)"],
      ["OUT", 10, "f32 output of token 0, row 0"],
      ["OUT_STRIDE", 11, "bytes between the output's tokens"],
      ["ROWS", 12, "rows of the matrix"],
      ["START", 13, "first row of the matrix in the set's range (a multiple of 4; of SALIENT_ROW_GROUP in a set with a side matrix)"],
      ["SALIENT", 14, "its salient side matrix's desc (src/runtime/cpu/salient.ts; 0: none), for ternSalientMatmulSet"],
    ],
  },
  {
    prefix: "SDESC",
    doc: "Words (u32) of a salient side matrix's desc in wasm memory (src/runtime/cpu/salient.ts), which salientMatmul reads (assembly/kernels/salient.ts): the addresses of its parts, its shape, and the input of the next call.",
    ids: [
      ["GROUPS", 0, "i32 [groups + 1]: each row group's first tile"],
      ["TILES", 1, "tile records of SALIENT_TILE_RECORD bytes [tiles + 1]"],
      ["IDX", 2, "u16 [4·steps]: byte offsets col·4 where cols ≤ SALIENT_OFFSET_COLS, else columns"],
      ["VAL", 3, "i8 [4·steps]"],
      ["SCALE", 4, "f32 [4·tiles]: each tile's rows' scales"],
      ["X", 5, "f32 input of token 0, set before each call (salientSetInput)"],
      ["X_STRIDE", 6, "bytes between the input's tokens, set with X"],
      ["SLOT", 7, "u32 [rows]: each row's float in SUMS (the −0 after the tiles' for a row without entries)"],
      ["SUMS", 8, "f32 [4·(tiles + 1)]: each tile's scaled sums, the kernel's scratch; the last four −0"],
      ["COLS", 9, "columns of the matrix"],
      ["ROWS", 10, "rows of the matrix"],
      ["X_TOKENS", 11, "tokens the input was set for, with X: the kernel reads X_COPY only when 1, X_QUADS only when n"],
      ["X_QUADS", 12, "the input of several tokens in token quads (f32 [⌈n/4⌉][cols][4]; 0: none), set with X"],
    ],
  },
  {
    prefix: "KS",
    doc: "Kernel sets of the generated quad tiles (assembly/kernels/ternary_tiles.ts): the families, DLT split by group size (64-weight groups keep two sums per token).",
    wasmOnly: true,
    ids: [
      ["TQ2", 0],
      ["I2S", 1],
      ["DLT", 2],
      ["DLT64", 3],
    ],
  },
];

/** @type {AbiConstant[]} */
export const ABI_CONSTANTS = [
  {
    name: "MSET_ENTRY_WORDS",
    doc: "Words between the entries of a ternary matmul set (MSET): 64 bytes each.",
    value: 16,
  },
  {
    name: "ATTENTION_TOKEN_BLOCK",
    doc: "Query tokens per work unit of attention (assembly/kernels/attention.ts; a unit is a block of them × one kv head): the queries of a unit share each key and value row as it is converted from f16.",
    value: 4,
  },
  {
    name: "SALIENT_ROW_GROUP",
    doc: "Rows per group of a salient side matrix in wasm memory (src/runtime/cpu/salient.ts): a group's rows are sorted by their number of entries and taken four at a time (assembly/kernels/salient.ts); shares of a matrix with one are cut at multiples of it. At most 255: a tile names its rows by a byte offset in the group, 0xff for none.",
    value: 64,
  },
  {
    name: "SALIENT_TILE_RECORD",
    doc: "Bytes of a salient tile's record: its first step (i32), the first row of its group (i32), its four rows' offsets in the group (u8 each, 0xff: none).",
    value: 12,
  },
  {
    name: "SALIENT_DESC_WORDS",
    doc: "Words of a salient side matrix's desc (SDESC).",
    value: 13,
  },
  {
    name: "SALIENT_OFFSET_COLS",
    doc: "Columns up to which a salient side matrix stores its entries' columns as byte offsets col·4 (u16), which the one-token product gathers from a copy of x at a fixed address (assembly/kernels/salient.ts): no address arithmetic per entry.",
    value: 16384,
  },
  {
    name: "LUT_TOKENS",
    doc: "Tokens per table row of the Vec-LUT matmul (assembly/kernels/ternary_lut.ts): its token tile, and the alignment at which the thread pool splits its tokens.",
    value: 16,
  },
];
