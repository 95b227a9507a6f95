// Progress of a model download, the same on every platform (the Node/Deno cache, the browser's cache).
export interface DownloadProgress {
  /** The file being written (the last segment of its name). */
  file: string;
  /** Bytes in the cache so far, those of an earlier, resumed attempt included. */
  loaded: number;
  /** The file's size; 0 while the server has not said it. */
  total: number;
  /** Bytes per second fetched by this download (resumed bytes not counted). */
  bytesPerSecond: number;
  /** Seconds left at that pace, once there is a pace and a total. */
  etaSeconds: number | undefined;
}
