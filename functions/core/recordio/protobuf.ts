/**
 * The protobuf payload of one recordIO record: `aialgs.data.Record` from the SageMaker SDK's
 * `record.proto` (proto2), encoded and decoded by hand.
 *
 * Why not protobufjs (or another generated codec) at runtime:
 * - Throughput: the FM channels hold tens of millions of rows. A codec that builds a message object
 *   tree per row (Record -> map entry -> Value -> Float32Tensor) and then serializes it costs several
 *   allocations per row; writing the few known fields straight into one reusable buffer does not.
 * - Exact bytes: the output must equal what the SDK writes with Python protobuf (field order, map entry
 *   layout with key then value, packed scalars, optional fields only when set) so files are
 *   byte-identical to the reference fixtures. Owning the writer makes that layout explicit and tested.
 * - No runtime schema: nothing to load or generate in the Lambda bundle or the serving container.
 * protobufjs stays a dev dependency: the tests decode our bytes with it as an independent check.
 *
 * Wire layout written (fields in number order, as Python protobuf serializes):
 *   Record  1 features: repeated entry {1 key: string, 2 value: Value}   2 label: same
 *           3 uid, 4 metadata, 5 configuration: strings, only when set
 *   Value   oneof 2 Float32Tensor | 3 Float64Tensor | 7 Int32Tensor   (9 Bytes: not supported)
 *   Tensor  1 values, 2 keys (uint64), 3 shape (uint64): packed, only when non-empty
 * The reader also accepts unpacked repeated scalars, unknown fields, fields of a known number with an
 * unexpected wire type (skipped, as protobuf parsers do), repeated sub-messages (merged) and non-canonical
 * varints, as a conforming protobuf parser must.
 */
import { ByteWriter, varintInt32Size, varintSize } from './byte-writer';
import { RecordIOEncodeError } from './errors';
import { NumberList, ProtoReader } from './proto-reader';
import type { DecodedRecord, DecodedTensor, RecordIORecord, Tensor, TensorDType } from './types';

/** The map key the built-in algorithms read features and labels from. */
export const VALUES_KEY = 'values';

// Field tags (field number << 3 | wire type 2).
const TAG_FEATURES = 0x0a;
const TAG_LABEL = 0x12;
const TAG_UID = 0x1a;
const TAG_METADATA = 0x22;
const TAG_CONFIGURATION = 0x2a;
const TAG_ENTRY_KEY = 0x0a;
const TAG_ENTRY_VALUE = 0x12;
const TAG_TENSOR_VALUES = 0x0a;
const TAG_TENSOR_KEYS = 0x12;
const TAG_TENSOR_SHAPE = 0x1a;
const VALUE_FIELD: Record<TensorDType, number> = { float32: 2, float64: 3, int32: 7 };
const VALUE_TAG: Record<TensorDType, number> = { float32: 0x12, float64: 0x1a, int32: 0x3a };

const utf8Encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------------
// Encoding

/** A record whose sizes are computed, ready to be written with `writeRecordPlan`. @internal */
export interface RecordPlan {
  readonly size: number;
  readonly features: EntryPlan[];
  readonly label: EntryPlan[];
  readonly strings: ReadonlyArray<readonly [tag: number, bytes: Uint8Array]>;
}

interface EntryPlan {
  readonly key: Uint8Array;
  readonly tensor: Tensor;
  readonly valuesBytes: number;
  readonly keysBytes: number;
  readonly shapeBytes: number;
  readonly tensorSize: number;
  readonly valueSize: number;
  readonly entrySize: number;
}

/** Encodes one Record as the protobuf payload (no recordIO framing). */
export function encodeRecord(record: RecordIORecord): Uint8Array {
  const plan = planRecord(record);
  const writer = new ByteWriter(plan.size);
  writeRecordPlan(plan, writer);
  return writer.toBytes();
}

/** Validates `record` and computes every length its encoding needs. @internal */
export function planRecord(record: RecordIORecord): RecordPlan {
  const features = planMap(record.features, 'features');
  const label = record.label ? planMap(record.label, 'label') : [];
  let size = mapFieldSize(features) + mapFieldSize(label);
  const strings: Array<readonly [number, Uint8Array]> = [];
  for (const [tag, text] of [
    [TAG_UID, record.uid],
    [TAG_METADATA, record.metadata],
    [TAG_CONFIGURATION, record.configuration],
  ] as const) {
    if (text === undefined) continue;
    const bytes = utf8Encoder.encode(text);
    strings.push([tag, bytes]);
    size += 1 + varintSize(bytes.length) + bytes.length;
  }
  return { size, features, label, strings };
}

/** Writes a planned record; reserves exactly `plan.size` bytes. @internal */
export function writeRecordPlan(plan: RecordPlan, w: ByteWriter): void {
  w.ensure(plan.size);
  writeMap(TAG_FEATURES, plan.features, w);
  writeMap(TAG_LABEL, plan.label, w);
  for (const [tag, bytes] of plan.strings) {
    w.u8(tag);
    w.varint(bytes.length);
    w.raw(bytes);
  }
}

function planMap(map: Readonly<Record<string, Tensor>>, field: string): EntryPlan[] {
  const entries: EntryPlan[] = [];
  for (const name of Object.keys(map)) {
    const tensor = map[name];
    const where = `${field}['${name}']`;
    const valuesBytes = tensorValuesBytes(tensor, where);
    const keysBytes = uint64ListBytes(tensor.keys, `${where}.keys`);
    const shapeBytes = uint64ListBytes(tensor.shape, `${where}.shape`);
    const nKeys = tensor.keys?.length ?? 0;
    if (nKeys > 0) {
      if (nKeys !== tensor.values.length) {
        throw new RecordIOEncodeError(
          `${where}: a sparse tensor needs one key per value, got ${nKeys} keys for ${tensor.values.length} values`,
        );
      }
      if (!tensor.shape || tensor.shape.length === 0) {
        throw new RecordIOEncodeError(`${where}: a sparse tensor (with keys) must have a shape`);
      }
    }
    const tensorSize = packedSize(valuesBytes) + packedSize(keysBytes) + packedSize(shapeBytes);
    const valueSize = 1 + varintSize(tensorSize) + tensorSize;
    const key = keyBytes(name);
    const entrySize = 1 + varintSize(key.length) + key.length + 1 + varintSize(valueSize) + valueSize;
    entries.push({ key, tensor, valuesBytes, keysBytes, shapeBytes, tensorSize, valueSize, entrySize });
  }
  return entries;
}

function mapFieldSize(entries: readonly EntryPlan[]): number {
  let size = 0;
  for (const e of entries) size += 1 + varintSize(e.entrySize) + e.entrySize;
  return size;
}

function packedSize(bytes: number): number {
  return bytes === 0 ? 0 : 1 + varintSize(bytes) + bytes;
}

function tensorValuesBytes(tensor: Tensor, where: string): number {
  const values = tensor.values;
  switch (tensor.dtype) {
    case 'float32':
      return values.length * 4;
    case 'float64':
      return values.length * 8;
    case 'int32': {
      let bytes = 0;
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) {
          throw new RecordIOEncodeError(`${where}.values[${i}] = ${v} is not an int32`);
        }
        bytes += varintInt32Size(v);
      }
      return bytes;
    }
    default:
      throw new RecordIOEncodeError(`${where}: unknown dtype '${String((tensor as Tensor).dtype)}'`);
  }
}

function uint64ListBytes(list: ArrayLike<number> | undefined, where: string): number {
  if (!list) return 0;
  let bytes = 0;
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new RecordIOEncodeError(`${where}[${i}] = ${v} is not a uint64 in [0, 2^53 - 1]`);
    }
    bytes += varintSize(v);
  }
  return bytes;
}

function writeMap(tag: number, entries: readonly EntryPlan[], w: ByteWriter): void {
  for (const e of entries) {
    w.u8(tag);
    w.varint(e.entrySize);
    w.u8(TAG_ENTRY_KEY);
    w.varint(e.key.length);
    w.raw(e.key);
    w.u8(TAG_ENTRY_VALUE);
    w.varint(e.valueSize);
    w.u8(VALUE_TAG[e.tensor.dtype]);
    w.varint(e.tensorSize);
    writeTensorBody(e, w);
  }
}

function writeTensorBody(e: EntryPlan, w: ByteWriter): void {
  const { tensor } = e;
  if (e.valuesBytes > 0) {
    const values = tensor.values;
    w.u8(TAG_TENSOR_VALUES);
    w.varint(e.valuesBytes);
    if (tensor.dtype === 'float32') for (let i = 0; i < values.length; i++) w.f32(values[i]);
    else if (tensor.dtype === 'float64') for (let i = 0; i < values.length; i++) w.f64(values[i]);
    else for (let i = 0; i < values.length; i++) w.varintInt32(values[i]);
  }
  writePackedUint64(TAG_TENSOR_KEYS, tensor.keys, e.keysBytes, w);
  writePackedUint64(TAG_TENSOR_SHAPE, tensor.shape, e.shapeBytes, w);
}

function writePackedUint64(
  tag: number,
  list: ArrayLike<number> | undefined,
  bytes: number,
  w: ByteWriter,
): void {
  if (!list || bytes === 0) return;
  w.u8(tag);
  w.varint(bytes);
  for (let i = 0; i < list.length; i++) w.varint(list[i]);
}

const keyCache = new Map<string, Uint8Array>();

/** UTF-8 of a map key; the few distinct keys of a data set are cached (bounded). */
function keyBytes(name: string): Uint8Array {
  let bytes = keyCache.get(name);
  if (!bytes) {
    bytes = utf8Encoder.encode(name);
    if (keyCache.size < 256) keyCache.set(name, bytes);
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------------
// Decoding

/**
 * The tensor of one map entry while a record is read. One instance is reused for every entry of every
 * record, so a visitor must copy what it keeps before returning. @internal
 */
export class TensorScratch {
  dtype: TensorDType | undefined;
  readonly values = new NumberList();
  readonly keys = new NumberList();
  readonly shape = new NumberList(4);

  /** Starts (or, for the same dtype, continues: protobuf merges repeated messages) a oneof case. */
  select(dtype: TensorDType): void {
    if (this.dtype === dtype) return;
    this.dtype = dtype;
    this.values.clear();
    this.keys.clear();
    this.shape.clear();
  }

  reset(): void {
    this.dtype = undefined;
    this.values.clear();
    this.keys.clear();
    this.shape.clear();
  }
}

/** Receives the fields of one record in wire order. @internal */
export interface RecordVisitor {
  /** A map entry of `features` (field 1) or `label` (field 2). `tensor` is valid during the call only. */
  entry(field: 1 | 2, key: string, tensor: TensorScratch): void;
  /** `uid` (3), `metadata` (4) or `configuration` (5). */
  text(field: 3 | 4 | 5, value: string): void;
}

/**
 * Parses Record payloads into a visitor without allocating per record: the streaming core under
 * `decodeRecord`, and what bulk readers (FM examples) use directly. Not re-entrant. @internal
 */
export class RecordParser {
  private readonly r = new ProtoReader();
  private readonly scratch = new TensorScratch();

  /** Parses `bytes[start, end)`; error offsets are relative to `start`. */
  parse(bytes: Uint8Array, start: number, end: number, visitor: RecordVisitor): void {
    const r = this.r;
    r.reset(bytes, start, end);
    while (r.pos < r.end) {
      const tagPos = r.pos;
      const tag = r.tag();
      const field = tag >>> 3;
      const wire = tag & 7;
      if (wire !== 2 || field > 5) r.skip(wire, field);
      else if (field === 1 || field === 2) this.mapEntry(field, tagPos, visitor);
      else visitor.text(field as 3 | 4 | 5, r.string());
    }
  }

  private mapEntry(field: 1 | 2, entryStart: number, visitor: RecordVisitor): void {
    const r = this.r;
    const scratch = this.scratch;
    scratch.reset();
    const end = r.enter();
    let key = '';
    while (r.pos < end) {
      const tag = r.tag();
      const f = tag >>> 3;
      const wire = tag & 7;
      if (f === 1 && wire === 2) key = r.string();
      else if (f === 2 && wire === 2) this.value();
      else r.skip(wire, f);
    }
    r.leave(end);
    if (scratch.dtype === undefined) {
      throw r.error(`${field === 1 ? 'features' : 'label'}['${key}'] has no numeric tensor`, entryStart);
    }
    visitor.entry(field, key, scratch);
  }

  private value(): void {
    const r = this.r;
    const end = r.enter();
    while (r.pos < end) {
      const tagPos = r.pos;
      const tag = r.tag();
      const field = tag >>> 3;
      const wire = tag & 7;
      const dtype: TensorDType | undefined =
        field === VALUE_FIELD.float32
          ? 'float32'
          : field === VALUE_FIELD.float64
            ? 'float64'
            : field === VALUE_FIELD.int32
              ? 'int32'
              : undefined;
      if (dtype !== undefined && wire === 2) {
        this.scratch.select(dtype);
        this.tensor(dtype);
      } else if (field === 9 && wire === 2) {
        throw r.error(
          'Value.bytes (field 9) is not supported: features and labels must be numeric tensors',
          tagPos,
        );
      } else {
        r.skip(wire, field);
      }
    }
    r.leave(end);
  }

  private tensor(dtype: TensorDType): void {
    const r = this.r;
    const { values, keys, shape } = this.scratch;
    const end = r.enter();
    while (r.pos < end) {
      const tag = r.tag();
      const field = tag >>> 3;
      const wire = tag & 7;
      if (field === 1) {
        // Packed (wire 2) as written, or one unpacked element: fixed32 float, fixed64 double, varint int32.
        if (wire === 2) {
          if (dtype === 'int32') r.packedVarints(values, true);
          else r.packedFloats(dtype === 'float32' ? 4 : 8, values);
        } else if (dtype === 'float32' && wire === 5) values.push(r.fixed32Float());
        else if (dtype === 'float64' && wire === 1) values.push(r.fixed64Float());
        else if (dtype === 'int32' && wire === 0) values.push(r.int32());
        else r.skip(wire, field);
      } else if (field === 2 || field === 3) {
        const list = field === 2 ? keys : shape;
        if (wire === 2) r.packedVarints(list, false);
        else if (wire === 0) list.push(r.uint64());
        else r.skip(wire, field);
      } else {
        r.skip(wire, field);
      }
    }
    r.leave(end);
  }
}

/** Builds plain records from parser callbacks (what `decodeRecord` returns). */
class RecordBuilder implements RecordVisitor {
  features: Record<string, DecodedTensor> = {};
  label: Record<string, DecodedTensor> | undefined;
  texts: [string | undefined, string | undefined, string | undefined] = [undefined, undefined, undefined];

  entry(field: 1 | 2, key: string, t: TensorScratch): void {
    const map = field === 1 ? this.features : (this.label ??= {});
    const n = t.values.length;
    let tensor: DecodedTensor;
    if (t.dtype === 'float32') tensor = { dtype: 'float32', values: copy(new Float32Array(n), t.values) };
    else if (t.dtype === 'float64') tensor = { dtype: 'float64', values: t.values.data.slice(0, n) };
    else tensor = { dtype: 'int32', values: copy(new Int32Array(n), t.values) };
    if (t.keys.length > 0) tensor.keys = t.keys.data.slice(0, t.keys.length);
    if (t.shape.length > 0) tensor.shape = t.shape.data.slice(0, t.shape.length);
    // A duplicate key replaces the earlier entry (protobuf map semantics). A key named "__proto__"
    // must become an own property, not the object's prototype.
    if (key === '__proto__') {
      Object.defineProperty(map, key, {
        value: tensor,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else {
      map[key] = tensor;
    }
  }

  text(field: 3 | 4 | 5, value: string): void {
    this.texts[field - 3] = value;
  }

  build(): DecodedRecord {
    const record: { -readonly [K in keyof DecodedRecord]: DecodedRecord[K] } = { features: this.features };
    if (this.label) record.label = this.label;
    const [uid, metadata, configuration] = this.texts;
    if (uid !== undefined) record.uid = uid;
    if (metadata !== undefined) record.metadata = metadata;
    if (configuration !== undefined) record.configuration = configuration;
    return record;
  }
}

function copy<T extends Float32Array | Int32Array>(out: T, list: NumberList): T {
  const data = list.data;
  for (let i = 0; i < out.length; i++) out[i] = data[i];
  return out;
}

const sharedParser = new RecordParser();

/**
 * Decodes one protobuf payload (without framing). Offsets in errors are relative to `payload`.
 * Tensors come back as typed arrays: float32 -> Float32Array, float64 -> Float64Array,
 * int32 -> Int32Array; `keys`/`shape` as Float64Array (exact up to 2^53 - 1, larger is an error).
 */
export function decodeRecord(payload: Uint8Array): DecodedRecord {
  return decodeRecordAt(payload, 0, payload.length);
}

/** `decodeRecord` of `bytes[start, end)` without a subarray. @internal */
export function decodeRecordAt(bytes: Uint8Array, start: number, end: number): DecodedRecord {
  const builder = new RecordBuilder();
  sharedParser.parse(bytes, start, end, builder);
  return builder.build();
}
