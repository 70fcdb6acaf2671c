import type { Device } from './device.js';

/** Every field of a Device, in the order they are hashed; the check below fails the build when a field is added and not listed. */
const FIELDS = ['id', 'name', 'target', 'organization', 'type', 'inventoryStatus', 'updatedAt', 'snmpCommunity'] as const satisfies readonly (keyof Device)[];
const allFieldsHashed: Exclude<keyof Device, (typeof FIELDS)[number]> extends never ? true : never = true;
void allFieldsHashed;

export type Sighting = 'new' | 'same' | 'different';

/**
 * The devices one listing has yielded so far, by id, each with a 64-bit fingerprint of its
 * parsed fields, to tell a row seen twice (the list shifted under the sweep: skip it) from a
 * different row reusing an id (an inventory data error: report it). A fingerprint costs 8 bytes
 * and no allocation per device; keeping each device as a JSON string cost ~250 bytes of heap
 * per device for the whole sweep and two JSON.stringify calls per row.
 *
 * Two different rows with the same id are told apart unless their fingerprints collide (about
 * 1 in 2^64 for rows that are not crafted to collide); a collision only files the second row as
 * a repeat instead of `duplicate_id`, and it is skipped either way.
 */
export class SeenRows {
  private readonly slots = new Map<number, number>();
  private prints = new Int32Array(2 * 1024);

  get size(): number {
    return this.slots.size;
  }

  /** 'new' (remembered now), 'same' (this id was yielded with equal fields), or 'different'. */
  see(device: Device): Sighting {
    hashDevice(device);
    const slot = this.slots.get(device.id);
    if (slot !== undefined) return this.prints[2 * slot] === h1 && this.prints[2 * slot + 1] === h2 ? 'same' : 'different';
    const next = this.slots.size;
    if (2 * next + 2 > this.prints.length) {
      const grown = new Int32Array(this.prints.length * 2);
      grown.set(this.prints);
      this.prints = grown;
    }
    this.prints[2 * next] = h1;
    this.prints[2 * next + 1] = h2;
    this.slots.set(device.id, next);
    return 'new';
  }
}

/**
 * Two independent 32-bit hashes over every field, each value tagged with its type and each
 * string with its length, so no two different field lists feed the same words.
 */
export function fingerprint(device: Device): [number, number] {
  hashDevice(device);
  return [h1, h2];
}

// The hash state of the device being hashed: module-level, so hashing allocates nothing.
let h1 = 0;
let h2 = 0;

function hashDevice(device: Device): void {
  h1 = 0x811c9dc5;
  h2 = 0x2545f491;
  for (const field of FIELDS) value(device[field]);
  h1 = fmix32(h1);
  h2 = fmix32(h2 ^ 0x5bd1e995);
}

const TAG = { null: 1, undefined: 2, false: 3, true: 4, integer: 5, string: 6, object: 7, other: 8 } as const;

function value(v: unknown): void {
  if (v === null) return word(TAG.null);
  if (v === undefined) return word(TAG.undefined);
  if (typeof v === 'boolean') return word(v ? TAG.true : TAG.false);
  if (typeof v === 'number' && Number.isSafeInteger(v)) {
    word(TAG.integer);
    word(v >>> 0);
    return word(Math.floor(v / 2 ** 32) | 0);
  }
  if (typeof v === 'string') return string(v);
  if (typeof v === 'object') {
    // The {id, name} references: keys and values, in the parser's fixed order.
    word(TAG.object);
    const record = v as Record<string, unknown>;
    for (const key in record) {
      string(key);
      value(record[key]);
    }
    return;
  }
  word(TAG.other);
  string(String(v));
}

function string(s: string): void {
  word(TAG.string);
  word(s.length);
  // Two UTF-16 code units per word: half the mixing, and the length above keeps it unambiguous.
  const pairs = s.length & ~1;
  for (let i = 0; i < pairs; i += 2) word(s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16));
  if (pairs < s.length) word(s.charCodeAt(pairs));
}

function word(w: number): void {
  // FNV-1a over words, and a Murmur3-style multiply-rotate: two unrelated mixes of one stream.
  h1 = Math.imul(h1 ^ w, 0x01000193);
  const k = Math.imul(w, 0xcc9e2d51);
  const x = h2 ^ Math.imul((k << 15) | (k >>> 17), 0x1b873593);
  h2 = (Math.imul((x << 13) | (x >>> 19), 5) + 0xe6546b64) | 0;
}

/** Murmur3's finalizer: every input bit reaches every output bit. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}
