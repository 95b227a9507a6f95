// Partial selection: the k largest logits of a 128k vocabulary without sorting the vocabulary.
//
// Each logit and its token id are packed into one double that orders like (logit descending, id
// ascending): the f32's bits made monotonic (32 bits) above (2^21 − 1 − id) (21 bits), 53 bits in all, so
// every key is distinct and exact. Quickselect then moves the k largest keys to the front in O(n) on average
// with plain number comparisons, and only those k are sorted, by the engine's native numeric sort. Ties go
// to the lower token id, so the order (and hence sampling) is fully determined by the logits.
// Small k (top-k 40, the first top-p prefixes) takes another path: one pass with a k-entry min-heap, where
// almost every value fails a single comparison with the heap's minimum.

const ID_BITS_SPAN = 2 ** 21;
/** Largest vocabulary the packed keys can hold. */
export const MAX_SELECT_LENGTH = ID_BITS_SPAN;

/** Up to this k the heap path is faster than building keys for all n values. */
const HEAP_MAX_K = 512;

/** Reusable buffers for topKIndices (one per sampler: ~1.5 MiB for a 128k vocabulary). */
export interface SelectScratch {
  keys: Float64Array;
  ids: Int32Array;
}

export function selectScratch(n: number): SelectScratch {
  return { keys: new Float64Array(n), ids: new Int32Array(n) };
}

/**
 * Indices of the `k` largest values, largest first (ties: lower index first; where NaN goes is unspecified). The result is a view into
 * `scratch.ids` when scratch is given (valid until the next call), else a fresh array.
 */
export function topKIndices(values: Float32Array, k: number, scratch?: SelectScratch): Int32Array {
  const n = values.length;
  if (n > MAX_SELECT_LENGTH) throw new RangeError(`topKIndices: ${n} values exceed the ${MAX_SELECT_LENGTH} supported`);
  const count = Math.max(0, Math.min(Math.floor(k), n));
  const s = scratch && scratch.keys.length >= n && scratch.ids.length >= count ? scratch : selectScratch(n);
  if (count <= HEAP_MAX_K) return heapTopK(values, count, s.ids);
  const keys = s.keys.subarray(0, n);
  const bits = new Uint32Array(values.buffer, values.byteOffset, n);
  for (let i = 0; i < n; i++) {
    const b = bits[i] === 0x8000_0000 ? 0 : bits[i]!; // −0 ranks as +0, as comparisons do
    // IEEE order as unsigned integers: negative floats flip all bits, positive ones set the sign bit.
    const mono = b & 0x8000_0000 ? ~b >>> 0 : (b | 0x8000_0000) >>> 0;
    keys[i] = mono * ID_BITS_SPAN + (ID_BITS_SPAN - 1 - i);
  }
  selectLargest(keys, count);
  const top = keys.subarray(0, count).sort(); // ascending: read it backwards
  const ids = s.ids.subarray(0, count);
  for (let j = 0; j < count; j++) ids[j] = ID_BITS_SPAN - 1 - (top[count - 1 - j]! % ID_BITS_SPAN);
  return ids;
}

/** The k largest by one pass over `values` with a min-heap of k ids (its root is the worst kept). */
function heapTopK(values: Float32Array, k: number, out: Int32Array): Int32Array {
  const heap = out.subarray(0, k);
  if (k === 0) return heap;
  // worse(a, b): a ranks after b (smaller value, or equal value and higher id).
  // Every a, b passed is a kept id, in range of `values`.
  const worse = (a: number, b: number) => values[a]! < values[b]! || (values[a] === values[b] && a > b);
  const siftDown = (at: number) => {
    for (;;) {
      const l = 2 * at + 1;
      if (l >= k) return;
      const r = l + 1;
      const c = r < k && worse(heap[r]!, heap[l]!) ? r : l;
      if (!worse(heap[c]!, heap[at]!)) return;
      const t = heap[c]!;
      heap[c] = heap[at]!;
      heap[at] = t;
      at = c;
    }
  };
  for (let i = 0; i < k; i++) heap[i] = i;
  for (let i = (k >> 1) - 1; i >= 0; i--) siftDown(i);
  for (let i = k, n = values.length; i < n; i++) {
    // Later ids lose ties, so only a strictly larger value can enter.
    if (values[i]! > values[heap[0]!]!) {
      heap[0] = i;
      siftDown(0);
    }
  }
  return heap.sort((a, b) => (worse(a, b) ? 1 : -1));
}

/** Rearranges `a` (distinct values) so that a[0..k) holds its k largest, in no particular order. */
function selectLargest(a: Float64Array, k: number): void {
  if (k <= 0 || k >= a.length) return;
  const target = k - 1;
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    // Median of three as pivot keeps sorted and reversed inputs linear.
    const x = a[lo]!;
    const y = a[mid]!;
    const z = a[hi]!;
    const pivot = x > y ? (y > z ? y : x > z ? z : x) : x > z ? x : y > z ? z : y;
    let i = lo;
    let j = hi;
    // Hoare partition, larger values to the left.
    while (i <= j) {
      // The pivot is an element of [lo, hi], so both scans stop inside it.
      while (a[i]! > pivot) i++;
      while (a[j]! < pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return;
  }
}

/** Index of the largest value (the lowest index among equals), or −1 for an empty array. */
export function argmax(values: ArrayLike<number>): number {
  if (values.length === 0) return -1;
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}
