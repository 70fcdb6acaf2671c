import type { Device } from './device.js';

/** Every field of a Device, each hashed by hashDevice: adding a field to Device fails the build here until it is hashed too. */
const HASHED: Record<keyof Device, true> = { id: true, name: true, target: true, organization: true, type: true, inventoryStatus: true, updatedAt: true, snmpCommunity: true };
void HASHED;

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
 * Two independent 32-bit hashes over every field, each nullable value tagged and each string
 * preceded by its length, so no two different devices feed the same words.
 */
export function fingerprint(device: Device): [number, number] {
  hashDevice(device);
  return [h1, h2];
}

// The hash state of the device being hashed: module-level, so hashing allocates nothing.
let h1 = 0;
let h2 = 0;

function hashDevice(d: Device): void {
  h1 = 0x811c9dc5;
  h2 = 0x2545f491;
  integer(d.id);
  string(d.name);
  string(d.target);
  ref(d.organization);
  ref(d.type);
  word(d.inventoryStatus === null ? TAG.null : d.inventoryStatus ? TAG.true : TAG.false);
  nullableString(d.updatedAt);
  nullableString(d.snmpCommunity);
  h1 = fmix32(h1);
  h2 = fmix32(h2 ^ 0x5bd1e995);
}

const TAG = { null: 1, undefined: 2, false: 3, true: 4, ref: 5, string: 6 } as const;

function integer(n: number): void {
  word(n >>> 0);
  word(Math.floor(n / 2 ** 32) | 0);
}

function ref(r: { id: number; name: string } | null): void {
  if (r === null) return word(TAG.null);
  word(TAG.ref);
  integer(r.id);
  string(r.name);
}

function nullableString(s: string | null | undefined): void {
  if (s === null) word(TAG.null);
  else if (s === undefined) word(TAG.undefined);
  else string(s);
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
  // Two unrelated mixes of one stream: FNV-1a over words, and a multiply-xorshift with another odd constant.
  h1 = Math.imul(h1 ^ w, 0x01000193);
  h2 = Math.imul(h2 + w, 0x9e3779b1);
  h2 ^= h2 >>> 15;
}

/** Murmur3's finalizer: every input bit reaches every output bit. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}
