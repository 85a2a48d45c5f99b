/**
 * The hottest record of a run: one FM one-hot example (keys [user, movie], values [1, 1], shape
 * [featureDim], a float32 label), written straight into a caller's buffer. A MovieLens-32M run writes
 * ~160 M of them, so this skips the general encoder's size pass over arbitrary tensors and its copy:
 * sizes follow from three varints, and the bytes are exactly `FramedRowEncoder.sparse`'s (tested).
 *
 * Payload layout (field order as Python protobuf writes it for the SageMaker SDK's serializer):
 *   0a L1 | 0a 06 "values" | 12 L2 | 12 L3 | 0a 08 <1.0f><1.0f> | 12 kb <a><b> | 1a sb <featureDim>
 *   12 12 | 0a 06 "values" | 12 08 | 12 06 | 0a 04 <label f32>
 */
import { RECORDIO_MAGIC } from './framing';

const LABEL_BYTES = 20;
const MAGIC_LE = [
  RECORDIO_MAGIC & 0xff,
  (RECORDIO_MAGIC >>> 8) & 0xff,
  (RECORDIO_MAGIC >>> 16) & 0xff,
  RECORDIO_MAGIC >>> 24,
];

/** Bytes of a varint; ids here are below 2^31, so comparisons beat a division loop. */
function varintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

function writeVarint(out: Uint8Array, at: number, v: number): number {
  while (v >= 0x80) {
    out[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[at++] = v;
  return at;
}

/** `0a 06 "values"`, the map key field every record repeats twice. */
function writeValuesKey(out: Uint8Array, p: number): number {
  out[p] = 0x0a;
  out[p + 1] = 0x06;
  out[p + 2] = 0x76; // v
  out[p + 3] = 0x61; // a
  out[p + 4] = 0x6c; // l
  out[p + 5] = 0x75; // u
  out[p + 6] = 0x65; // e
  out[p + 7] = 0x73; // s
  return p + 8;
}

/** Length of the Float32Tensor for key bytes `kb` and shape bytes `sb` (kb, sb < 128: one-byte lengths). */
function tensorLength(kb: number, sb: number): number {
  return 10 + 2 + kb + 2 + sb;
}

/** Payload length of the row (the framed size is 8 + payload + pad to 4). */
function payloadSize(a: number, b: number, featureDim: number): number {
  const l3 = tensorLength(varintSize(a) + varintSize(b), varintSize(featureDim));
  const l2 = 1 + varintSize(l3) + l3;
  const l1 = 8 + 1 + varintSize(l2) + l2;
  return 1 + varintSize(l1) + l1 + LABEL_BYTES;
}

/** Bytes the framed row takes (multiple of 4). */
export function oneHotFramedSize(a: number, b: number, featureDim: number): number {
  return 8 + ((payloadSize(a, b, featureDim) + 3) & ~3);
}

/**
 * Writes the framed row at `out[at..]` and returns the offset after it (padding included). The caller
 * guarantees room (`oneHotFramedSize`) and valid keys (0 <= a, b < featureDim < 2^31, integers).
 */
export function writeOneHotFramed(
  out: Uint8Array,
  view: DataView,
  at: number,
  a: number,
  b: number,
  featureDim: number,
  label: number,
): number {
  const kb = varintSize(a) + varintSize(b);
  const sb = varintSize(featureDim);
  const l3 = tensorLength(kb, sb);
  const l2 = 1 + varintSize(l3) + l3;
  const l1 = 8 + 1 + varintSize(l2) + l2;
  const payload = 1 + varintSize(l1) + l1 + LABEL_BYTES;

  out[at] = MAGIC_LE[0];
  out[at + 1] = MAGIC_LE[1];
  out[at + 2] = MAGIC_LE[2];
  out[at + 3] = MAGIC_LE[3];
  view.setUint32(at + 4, payload, true);
  let p = at + 8;
  out[p++] = 0x0a;
  p = writeVarint(out, p, l1);
  p = writeValuesKey(out, p);
  out[p++] = 0x12;
  p = writeVarint(out, p, l2);
  out[p++] = 0x12;
  p = writeVarint(out, p, l3);
  // values: two float32 1.0 (00 00 80 3f)
  out[p] = 0x0a;
  out[p + 1] = 0x08;
  out[p + 2] = 0;
  out[p + 3] = 0;
  out[p + 4] = 0x80;
  out[p + 5] = 0x3f;
  out[p + 6] = 0;
  out[p + 7] = 0;
  out[p + 8] = 0x80;
  out[p + 9] = 0x3f;
  p += 10;
  out[p++] = 0x12;
  p = writeVarint(out, p, kb);
  p = writeVarint(out, p, a);
  p = writeVarint(out, p, b);
  out[p++] = 0x1a;
  p = writeVarint(out, p, sb);
  p = writeVarint(out, p, featureDim);
  out[p] = 0x12;
  out[p + 1] = 0x12;
  p = writeValuesKey(out, p + 2);
  out[p] = 0x12;
  out[p + 1] = 0x08;
  out[p + 2] = 0x12;
  out[p + 3] = 0x06;
  out[p + 4] = 0x0a;
  out[p + 5] = 0x04;
  view.setFloat32(p + 6, label, true);
  p += 10;
  const end = at + 8 + ((payload + 3) & ~3);
  while (p < end) out[p++] = 0;
  return end;
}

/**
 * `writeOneHotFramed` for a stream of rows of one feature dimension with 0/1 labels, from templates:
 * every byte of a row but the varints of `a` and `b` follows from their varint sizes and the label, so
 * each (size of a, size of b, label) class is framed once and a row is its words copied plus the two
 * varints. Same bytes as `writeOneHotFramed` (tested), a third of its time at ~50 M rows a run.
 * Rows must start at a multiple of 4 in `out` (framed rows are multiples of 4 long).
 */
export class OneHotFramer {
  /** Row words per class (`classOf`), built on first use. */
  private readonly templates: (Uint32Array | undefined)[] = [];
  /** Offset of `a`'s varint in a row of the class (label classes share it). */
  private readonly keyOffsets = new Int32Array(CLASSES);
  private readonly sizes = new Int32Array(CLASSES);

  constructor(readonly featureDim: number) {}

  /** Bytes the framed row takes: `oneHotFramedSize(a, b, featureDim)`. */
  size(a: number, b: number): number {
    const c = classOf(a, b, 0);
    return this.sizes[c >> 1] || this.build(c, a, b);
  }

  /**
   * Writes the row at `out[at..]` (`words` is a Uint32Array over the same bytes, `at` a multiple of 4)
   * and returns the offset after it. `label` is 0 or 1.
   */
  write(out: Uint8Array, words: Uint32Array, at: number, a: number, b: number, label: number): number {
    const c = classOf(a, b, label);
    let template = this.templates[c];
    if (template === undefined) {
      this.build(c, a, b);
      template = this.templates[c]!;
    }
    const w = at >>> 2;
    const n = template.length;
    for (let i = 0; i < n; i++) words[w + i] = template[i];
    let p = at + this.keyOffsets[c >> 1];
    while (a >= 0x80) {
      out[p++] = (a & 0x7f) | 0x80;
      a >>>= 7;
    }
    out[p++] = a;
    while (b >= 0x80) {
      out[p++] = (b & 0x7f) | 0x80;
      b >>>= 7;
    }
    out[p] = b;
    return at + 4 * n;
  }

  /** Frames both label variants of the class of (a, b); returns the row size. */
  private build(c: number, a: number, b: number): number {
    const size = oneHotFramedSize(a, b, this.featureDim);
    for (const label of [0, 1]) {
      const bytes = new Uint8Array(size);
      writeOneHotFramed(bytes, new DataView(bytes.buffer), 0, a, b, this.featureDim, label);
      this.templates[(c & ~1) | label] = new Uint32Array(bytes.buffer);
    }
    // 0a L1 "values"(8) 12 L2 12 L3 0a 08 <8 bytes> 12 kb: then a's varint.
    const l3 = tensorLength(varintSize(a) + varintSize(b), varintSize(this.featureDim));
    const l2 = 1 + varintSize(l3) + l3;
    const l1 = 8 + 1 + varintSize(l2) + l2;
    this.keyOffsets[c >> 1] = 8 + 1 + varintSize(l1) + 8 + 1 + varintSize(l2) + 1 + varintSize(l3) + 10 + 2;
    this.sizes[c >> 1] = size;
    return size;
  }
}

/** (varint size of a: 1-5) x (of b: 1-5) x label. */
const CLASSES = 6 * 6;

function classOf(a: number, b: number, label: number): number {
  return ((varintSize(a) * 6 + varintSize(b)) << 1) | label;
}
