// A model named on the command line (every --model, inspect's and pull's argument): a path, checked before any
// work (file-checks.ts), or an hf: reference / http(s) URL, pulled into the cache on first use with a download
// bar on a terminal; the first part of a split model brings the others, opened together as the engine opens
// them. The hub is TERNION_HF_ENDPOINT (default huggingface.co) with HF_TOKEN; the cache is TERNION_CACHE
// (default ~/.cache/ternion).
import { type OpenedModel, openModel } from "../engine/model-source.ts";
import type { GgufHeader } from "../runtime/gguf/types.ts";
import { type PullResult, pullModel } from "../runtime/hub/cache-node.ts";
import { type ModelReference, parseModelReference } from "../runtime/hub/reference.ts";
import { DownloadBar } from "./download-bar.ts";
import { checkInputFile, type InputFileKind, MODEL_FILE } from "./file-checks.ts";

/** How a --model flag's help names what it takes. */
export const MODEL_REFERENCE_HELP = "a path, hf:<owner>/<repo>/<file.gguf>[@revision] or an http(s) URL (downloaded into the cache on first use)";

/**
 * `ref` made ready for the engine, which opens it again (perhaps in a worker): a path checked, an hf: reference or
 * URL pulled into the cache with a bar (every part of a split model), so that the engine reads it from there.
 * What to pass as the engine's `model`, and the model's header (a split model's merged).
 */
export async function prepareModel(ref: string, kind: InputFileKind = MODEL_FILE): Promise<{ model: string; header: GgufHeader }> {
  const opened = await openModelReference(ref, kind);
  await opened.close();
  const parsed = parseModelReference(ref);
  return { model: parsed.kind === "path" ? parsed.path : ref, header: opened.header };
}

/**
 * The model `ref` names, opened by engine/model-source.ts: a path checked first, an hf: reference or URL pulled
 * into the cache with a bar per file; the first part of a split model (`…-00001-of-00003.gguf`) opens the others
 * beside it, or pulls them from beside it.
 */
export async function openModelReference(ref: string, kind: InputFileKind = MODEL_FILE): Promise<OpenedModel> {
  const parsed = parseModelReference(ref);
  if (parsed.kind === "path") {
    await checkInputFile(parsed.path, kind);
    return openModel(parsed.path);
  }
  let bar: { file: string; bar: DownloadBar } | undefined;
  try {
    return await openModel(ref, {
      onDownload: (p) => {
        if (bar?.file !== p.file) {
          bar?.bar.clear();
          bar = { file: p.file, bar: new DownloadBar(p.file) };
        }
        bar.bar.update(p);
      },
    });
  } finally {
    bar?.bar.clear();
  }
}

/** Pulls `ref` into the cache, drawing the download on stderr when it is a terminal. */
export async function pullWithBar(ref: Exclude<ModelReference, { kind: "path" }>): Promise<PullResult> {
  const name = ref.kind === "hf" ? ref.file.split("/").at(-1)! : (new URL(ref.url).pathname.split("/").at(-1) ?? ref.url);
  const bar = new DownloadBar(name);
  try {
    return await pullModel(ref, { onProgress: (p) => bar.update(p) });
  } finally {
    bar.clear();
  }
}
