// Reference copy (bench/reference/prepare-v0/README.md): functions/core/ingest/id-interner.ts at 48aa102, imports rewired.
/** Interning of the original user and movie ids of an ingestion into dense indices. */
import { grow } from './typed-arrays';

/**
 * Original id -> dense index in first-seen order (open addressing, linear probing, Fibonacci hashing).
 * Ids are non-negative, so -1 marks an empty slot.
 */
export class IdInterner {
  ids: Int32Array = new Int32Array(1024);
  size = 0;
  private keys = new Int32Array(2048).fill(-1);
  private values = new Int32Array(2048);
  private shift = 32 - 11;
  private lastId = -1;
  private lastIndex = -1;

  intern(id: number): number {
    // Files are usually grouped by user: the same id as the previous row is the common case.
    if (id === this.lastId) return this.lastIndex;
    const keys = this.keys;
    const mask = keys.length - 1;
    let slot = Math.imul(id, 0x9e3779b1) >>> this.shift;
    for (;;) {
      const key = keys[slot];
      if (key === id) {
        this.lastId = id;
        return (this.lastIndex = this.values[slot]);
      }
      if (key === -1) break;
      slot = (slot + 1) & mask;
    }
    const index = this.size++;
    keys[slot] = id;
    this.values[slot] = index;
    if (index === this.ids.length) this.ids = grow(this.ids, this.ids.length * 2);
    this.ids[index] = id;
    if (this.size * 2 > keys.length) this.rehash(keys.length * 2);
    this.lastId = id;
    return (this.lastIndex = index);
  }

  private rehash(capacity: number): void {
    this.keys = new Int32Array(capacity).fill(-1);
    this.values = new Int32Array(capacity);
    this.shift = 32 - Math.log2(capacity);
    const mask = capacity - 1;
    for (let i = 0; i < this.size; i++) {
      let slot = Math.imul(this.ids[i], 0x9e3779b1) >>> this.shift;
      while (this.keys[slot] !== -1) slot = (slot + 1) & mask;
      this.keys[slot] = this.ids[i];
      this.values[slot] = i;
    }
  }
}
