// What a hub-like server announces about a file in its headers, read the same way by the Node/Deno download
// (download-node.ts) and the browser's cache (cache-browser.ts): the sha256 (X-Linked-Etag, else ETag, when it is
// 64 hex digits; the hub sends the LFS object's sha256 there) and the size (X-Linked-Size, the hub's announcement
// before its redirect to a CDN).

/** A response's header by lower-case name (null or undefined when absent). */
export type HeaderLookup = (name: string) => string | null | undefined;

const SHA256 = /^[0-9a-f]{64}$/;

/** The file's sha256 as the server announces it, lower-case hex, or undefined when no header holds one. */
export function announcedSha256(header: HeaderLookup): string | undefined {
  for (const name of ["x-linked-etag", "etag"]) {
    const value = header(name)?.replace(/^W\//, "").replaceAll('"', "").trim().toLowerCase();
    if (value !== undefined && SHA256.test(value)) return value;
  }
  return undefined;
}

/** The file's size as the hub announces it (X-Linked-Size), or undefined. */
export function announcedSize(header: HeaderLookup): number | undefined {
  const value = header("x-linked-size");
  return value != null && /^\d+$/.test(value) ? Number(value) : undefined;
}
