// The node: modules that the download and the cache use (Node, and Deno, which serves them), imported by a name
// that bundlers leave alone: this code is part of the platform-neutral bundles, where a static `node:` import
// would break browsers, and it only runs where canOpenPaths() (engine/model-source.ts) holds.

export interface NodeModules {
  fs: typeof import("node:fs/promises");
  fsSync: typeof import("node:fs");
  path: typeof import("node:path");
  os: typeof import("node:os");
  crypto: typeof import("node:crypto");
  process: typeof import("node:process");
  http: typeof import("node:http");
  https: typeof import("node:https");
}

let loaded: Promise<NodeModules> | undefined;

async function importByName<T>(name: string): Promise<T> {
  return (await import(/* @vite-ignore */ name)) as T;
}

export function nodeModules(): Promise<NodeModules> {
  loaded ??= (async () => ({
    fs: await importByName<NodeModules["fs"]>("node:fs/promises"),
    fsSync: await importByName<NodeModules["fsSync"]>("node:fs"),
    path: await importByName<NodeModules["path"]>("node:path"),
    os: await importByName<NodeModules["os"]>("node:os"),
    crypto: await importByName<NodeModules["crypto"]>("node:crypto"),
    http: await importByName<NodeModules["http"]>("node:http"),
    https: await importByName<NodeModules["https"]>("node:https"),
    process: ((await importByName<{ default: NodeModules["process"] }>("node:process")).default ??
      (await importByName<NodeModules["process"]>("node:process"))) as NodeModules["process"],
  }))();
  return loaded;
}
