/**
 * Every host's bucket and wave position on a channel, exactly as the engine's hostBucket and hostWavePosition
 * compute them (controller/engine/membership.ts: sha256 of `${salt}\0${hostId}`; bucket from bytes 0..7, wave
 * position from bytes 8..11), for a whole fleet at once.
 *
 * node:crypto costs about 4.5 µs per digest here, mostly per-call overhead (a Hash object, a Buffer), which is
 * 90 s for ten million hosts with two digests each. The messages are short ASCII strings (a 16-character salt and a
 * 12-character host id: one 64-byte block), so this hashes them with a plain SHA-256 compression on typed arrays,
 * one digest per host for both figures. Anything that is not one block of ASCII goes through node:crypto and the
 * engine's own functions. test/unit/bench-sim-membership.test.ts checks both paths against the engine's.
 */
import { hostBucket, hostWavePosition, WAVE_SCALE } from '../controller/engine/membership';

const BUCKETS = 10_000;
const TWO_POW_32_MOD = 4_294_967_296 % BUCKETS;

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
  0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
  0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
  0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const H0: readonly number[] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/**
 * SHA-256 of one padded block (`w[0..15]`, big-endian words; w is 64 long and is overwritten); the first three words
 * of the digest go to out[0..2].
 */
function compressFirstWords(w: Uint32Array, out: Uint32Array): void {
  for (let t = 16; t < 64; t++) {
    const x = w[t - 15] as number;
    const y = w[t - 2] as number;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[t] = ((w[t - 16] as number) + s0 + (w[t - 7] as number) + s1) | 0;
  }
  let a = H0[0] as number;
  let b = H0[1] as number;
  let c = H0[2] as number;
  let d = H0[3] as number;
  let e = H0[4] as number;
  let f = H0[5] as number;
  let g = H0[6] as number;
  let h = H0[7] as number;
  for (let t = 0; t < 64; t++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (h + S1 + ch + (K[t] as number) + (w[t] as number)) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (S0 + maj) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  out[0] = ((H0[0] as number) + a) >>> 0;
  out[1] = ((H0[1] as number) + b) >>> 0;
  out[2] = ((H0[2] as number) + c) >>> 0;
}

/** Packs an ASCII message of at most 55 bytes into one padded SHA-256 block; false when it does not fit. */
function packBlock(msg: string, w: Uint32Array): boolean {
  const len = msg.length;
  if (len > 55) return false;
  w.fill(0, 0, 16);
  for (let j = 0; j < len; j++) {
    const ch = msg.charCodeAt(j);
    if (ch > 0x7f) return false;
    w[j >> 2] = (w[j >> 2] as number) | (ch << (24 - 8 * (j & 3)));
  }
  w[len >> 2] = (w[len >> 2] as number) | (0x80 << (24 - 8 * (len & 3)));
  w[15] = len * 8;
  return true;
}

/** The bucket (0..9999) and wave position (0..999999) of a host from the first three digest words. */
function bucketOf(hi: number, lo: number): number {
  return ((hi % BUCKETS) * TWO_POW_32_MOD + (lo % BUCKETS)) % BUCKETS;
}

/** Every host's bucket and wave position: hosts 0..n-1 named id(i), on a channel salt. */
export function fleetMembership(salt: string, n: number, id: (i: number) => string): { buckets: Uint16Array; waves: Uint32Array } {
  const buckets = new Uint16Array(n);
  const waves = new Uint32Array(n);
  const w = new Uint32Array(64);
  const out = new Uint32Array(3);
  const prefix = `${salt}\u0000`;
  for (let i = 0; i < n; i++) {
    const hostId = id(i);
    if (packBlock(prefix + hostId, w)) {
      compressFirstWords(w, out);
      buckets[i] = bucketOf(out[0] as number, out[1] as number);
      waves[i] = Math.floor(((out[2] as number) * WAVE_SCALE) / 4_294_967_296);
    } else {
      buckets[i] = hostBucket(salt, hostId);
      waves[i] = hostWavePosition(salt, hostId);
    }
  }
  return { buckets, waves };
}
