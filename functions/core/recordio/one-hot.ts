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

const VALUES = [0x76, 0x61, 0x6c, 0x75, 0x65, 0x73]; // "values"
const ONE_F32_LE = [0x00, 0x00, 0x80, 0x3f];
const LABEL_BYTES = 20;

function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function writeVarint(out: Uint8Array, at: number, v: number): number {
  while (v >= 0x80) {
    out[at++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[at++] = v;
  return at;
}

/** Payload length of the row (the framed size is 8 + payload + pad to 4). */
function payloadSize(a: number, b: number, featureDim: number): number {
  const kb = varintSize(a) + varintSize(b);
  const sb = varintSize(featureDim);
  const l3 = 10 + 1 + varintSize(kb) + kb + 1 + varintSize(sb) + sb;
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
 * guarantees room (`oneHotFramedSize`) and valid keys (0 <= a, b < featureDim, integers).
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
  const payload = payloadSize(a, b, featureDim);
  const kb = varintSize(a) + varintSize(b);
  const sb = varintSize(featureDim);
  const l3 = 10 + 1 + varintSize(kb) + kb + 1 + varintSize(sb) + sb;
  const l2 = 1 + varintSize(l3) + l3;
  const l1 = 8 + 1 + varintSize(l2) + l2;

  view.setUint32(at, RECORDIO_MAGIC, true);
  view.setUint32(at + 4, payload, true);
  let p = at + 8;
  out[p++] = 0x0a;
  p = writeVarint(out, p, l1);
  out[p++] = 0x0a;
  out[p++] = 0x06;
  for (let i = 0; i < 6; i++) out[p++] = VALUES[i];
  out[p++] = 0x12;
  p = writeVarint(out, p, l2);
  out[p++] = 0x12;
  p = writeVarint(out, p, l3);
  out[p++] = 0x0a;
  out[p++] = 0x08;
  for (let r = 0; r < 2; r++) for (let i = 0; i < 4; i++) out[p++] = ONE_F32_LE[i];
  out[p++] = 0x12;
  p = writeVarint(out, p, kb);
  p = writeVarint(out, p, a);
  p = writeVarint(out, p, b);
  out[p++] = 0x1a;
  p = writeVarint(out, p, sb);
  p = writeVarint(out, p, featureDim);
  out[p++] = 0x12;
  out[p++] = 0x12;
  out[p++] = 0x0a;
  out[p++] = 0x06;
  for (let i = 0; i < 6; i++) out[p++] = VALUES[i];
  out[p++] = 0x12;
  out[p++] = 0x08;
  out[p++] = 0x12;
  out[p++] = 0x06;
  out[p++] = 0x0a;
  out[p++] = 0x04;
  view.setFloat32(p, label, true);
  p += 4;
  const end = at + 8 + ((payload + 3) & ~3);
  while (p < end) out[p++] = 0;
  return end;
}
