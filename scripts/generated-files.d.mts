// Types of generated-files.mjs for the TypeScript that imports it (test/generated-code.test.ts).
export const GENERATED_FILES: { path: string; generate: () => string }[];
