/** Alignment of chunk sizes (memcached's CHUNK_ALIGN_BYTES). */
export const CHUNK_ALIGN_BYTES = 8;
/** memcached allows 63 classes (MAX_NUMBER_OF_SLAB_CLASSES 64, id 0 unused). */
export const MAX_SLAB_CLASSES = 63;

export class SlabConfigError extends Error {
  override name = 'SlabConfigError';
}

/**
 * Chunk size per class id, index 0 unused: memcached's slabs_init(). Class 1 is
 * header (48) + minChunk, each next class grows by `factor` (truncated, then
 * rounded up to 8) until it reaches slabChunkMax / factor; the last class is
 * exactly slabChunkMax.
 */
export function computeSlabClassSizes(
  headerBytes: number,
  minChunk: number,
  factor: number,
  slabChunkMax: number,
  pageSize: number,
): number[] {
  if (!(factor > 1)) throw new SlabConfigError(`growth factor must be greater than 1, got ${factor}`);
  if (!(minChunk > 0)) throw new SlabConfigError(`chunk size must be positive, got ${minChunk}`);
  if (slabChunkMax > pageSize) throw new SlabConfigError('slab_chunk_max cannot be larger than the page size');
  if (slabChunkMax % CHUNK_ALIGN_BYTES !== 0) throw new SlabConfigError('slab_chunk_max must be a multiple of 8');
  const sizes = [0];
  let size = headerBytes + minChunk;
  while (sizes.length < MAX_SLAB_CLASSES) {
    if (size >= slabChunkMax / factor) break;
    if (size % CHUNK_ALIGN_BYTES) size += CHUNK_ALIGN_BYTES - (size % CHUNK_ALIGN_BYTES);
    sizes.push(size);
    size = Math.trunc(size * factor);
  }
  sizes.push(slabChunkMax);
  return sizes;
}
