// Node (and Deno, through its node: compatibility) entry: everything in ./index.ts plus file access.
export * from "./index.ts";
