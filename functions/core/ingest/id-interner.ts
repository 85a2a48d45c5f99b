/** Interning of the original user and movie ids of an ingestion into dense indices. */
import { grow } from './typed-arrays';

/**
 * Ids below this are interned through a direct table indexed by the id (validation refuses ids above
 * 15,999,999, so the table is at most 64 MB and MovieLens' ids, below 300,000, need about 1 MB); any
 * larger id falls back to the hash table.
 */
const DIRECT_LIMIT = 1 << 24;

/**
 * Original id -> dense index in first-seen order. A direct table (`direct[id]` = index + 1, 0 for an
 * unseen id) answers with one memory read where a hash would probe; it grows by doubling to cover the
 * largest id seen. Ids at or above `DIRECT_LIMIT` use open addressing (linear probing, Fibonacci
 * hashing; -1 marks an empty slot).
 */
export class IdInterner {
  ids: Int32Array = new Int32Array(1024);
  size = 0;
  private direct = new Int32Array(1024);
  private keys: Int32Array | undefined;
  private values: Int32Array | undefined;
  private hashed = 0;
  private shift = 32 - 11;
  private lastId = -1;
  private lastIndex = -1;

  intern(id: number): number {
    // Files are usually grouped by user: the same id as the previous row is the common case.
    if (id === this.lastId) return this.lastIndex;
    let index: number;
    if (id >= 0 && id < DIRECT_LIMIT) {
      if (id >= this.direct.length) this.growDirect(id);
      index = this.direct[id] - 1;
      if (index < 0) {
        index = this.append(id);
        this.direct[id] = index + 1;
      }
    } else {
      index = this.internHashed(id);
    }
    this.lastId = id;
    return (this.lastIndex = index);
  }

  private append(id: number): number {
    const index = this.size++;
    if (index === this.ids.length) this.ids = grow(this.ids, this.ids.length * 2);
    this.ids[index] = id;
    return index;
  }

  private growDirect(id: number): void {
    let capacity = this.direct.length * 2;
    while (capacity <= id) capacity *= 2;
    this.direct = grow(this.direct, Math.min(capacity, DIRECT_LIMIT));
  }

  private internHashed(id: number): number {
    if (!this.keys) this.rehash(2048);
    const keys = this.keys!;
    const mask = keys.length - 1;
    let slot = Math.imul(id, 0x9e3779b1) >>> this.shift;
    for (;;) {
      const key = keys[slot];
      if (key === id) return this.values![slot];
      if (key === -1) break;
      slot = (slot + 1) & mask;
    }
    const index = this.append(id);
    keys[slot] = id;
    this.values![slot] = index;
    if (++this.hashed * 2 > keys.length) this.rehash(keys.length * 2);
    return index;
  }

  private rehash(capacity: number): void {
    const keys = new Int32Array(capacity).fill(-1);
    const values = new Int32Array(capacity);
    this.shift = 32 - Math.log2(capacity);
    const mask = capacity - 1;
    for (let i = 0; i < this.size; i++) {
      const id = this.ids[i];
      if (id < DIRECT_LIMIT) continue;
      let slot = Math.imul(id, 0x9e3779b1) >>> this.shift;
      while (keys[slot] !== -1) slot = (slot + 1) & mask;
      keys[slot] = id;
      values[slot] = i;
    }
    this.keys = keys;
    this.values = values;
  }
}
