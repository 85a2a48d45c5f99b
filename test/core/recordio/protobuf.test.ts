import fc from 'fast-check';
import * as protobuf from 'protobufjs';
import {
  RecordIOEncodeError,
  RecordIOFormatError,
  decodeRecord,
  encodeRecord,
  type DecodedRecord,
  type RecordIORecord,
  type Tensor,
} from '../../../functions/core/recordio';

// record.proto of the SageMaker SDK (src/sagemaker/amazon/record.proto), comments removed. protobufjs
// is the independent codec: it must read our bytes, and its own encoding must equal ours.
const RECORD_PROTO = `
syntax = "proto2";
package aialgs.data;
message Float32Tensor {
  repeated float values = 1 [packed = true];
  repeated uint64 keys = 2 [packed = true];
  repeated uint64 shape = 3 [packed = true];
}
message Float64Tensor {
  repeated double values = 1 [packed = true];
  repeated uint64 keys = 2 [packed = true];
  repeated uint64 shape = 3 [packed = true];
}
message Int32Tensor {
  repeated int32 values = 1 [packed = true];
  repeated uint64 keys = 2 [packed = true];
  repeated uint64 shape = 3 [packed = true];
}
message Bytes {
  repeated bytes value = 1;
  optional string content_type = 2;
}
message Value {
  oneof value {
    Float32Tensor float32_tensor = 2;
    Float64Tensor float64_tensor = 3;
    Int32Tensor int32_tensor = 7;
    Bytes bytes = 9;
  }
}
message Record {
  map<string, Value> features = 1;
  map<string, Value> label = 2;
  optional string uid = 3;
  optional string metadata = 4;
  optional string configuration = 5;
}
`;
const pbRoot = protobuf.parse(RECORD_PROTO, { keepCase: true }).root;
// Without resolveAll, protobufjs 7.6 ignores proto2 `[packed = true]` and writes unpacked scalars.
pbRoot.resolveAll();
const PbRecord = pbRoot.lookupType('aialgs.data.Record');

const TENSOR_FIELD = { float32: 'float32_tensor', float64: 'float64_tensor', int32: 'int32_tensor' } as const;

/** Our record as the plain object protobufjs' fromObject takes. */
function toPbObject(record: RecordIORecord): Record<string, unknown> {
  const map = (m: Readonly<Record<string, Tensor>>): Record<string, unknown> =>
    Object.fromEntries(
      Object.entries(m).map(([key, t]) => [
        key,
        {
          [TENSOR_FIELD[t.dtype]]: {
            values: Array.from(t.values),
            keys: Array.from(t.keys ?? []),
            shape: Array.from(t.shape ?? []),
          },
        },
      ]),
    );
  const obj: Record<string, unknown> = { features: map(record.features) };
  if (record.label) obj.label = map(record.label);
  for (const k of ['uid', 'metadata', 'configuration'] as const)
    if (record[k] !== undefined) obj[k] = record[k];
  return obj;
}

interface PlainTensor {
  dtype: string;
  values: number[];
  keys?: number[];
  shape?: number[];
}
interface PlainRecord {
  features: Record<string, PlainTensor>;
  label?: Record<string, PlainTensor>;
  uid?: string;
  metadata?: string;
  configuration?: string;
}

/** What a record must decode to: float32 rounded, empty keys/shape and empty label maps absent. */
function expected(record: RecordIORecord): PlainRecord {
  const map = (m: Readonly<Record<string, Tensor>>): Record<string, PlainTensor> =>
    Object.fromEntries(
      Object.entries(m).map(([key, t]) => {
        const out: PlainTensor = {
          dtype: t.dtype,
          values: Array.from(t.values, (v) => (t.dtype === 'float32' ? Math.fround(v) : v)),
        };
        if (t.keys && t.keys.length > 0) out.keys = Array.from(t.keys);
        if (t.shape && t.shape.length > 0) out.shape = Array.from(t.shape);
        return [key, out];
      }),
    );
  const out: PlainRecord = { features: map(record.features) };
  if (record.label && Object.keys(record.label).length > 0) out.label = map(record.label);
  for (const k of ['uid', 'metadata', 'configuration'] as const)
    if (record[k] !== undefined) out[k] = record[k];
  return out;
}

function plain(record: DecodedRecord): PlainRecord {
  return expected(record);
}

/** protobufjs' decoding of a payload, in the same plain shape. */
function decodeWithProtobufjs(payload: Uint8Array): PlainRecord {
  const obj = PbRecord.toObject(PbRecord.decode(payload), { longs: Number, arrays: false, oneofs: true });
  const map = (m: Record<string, Record<string, unknown>> | undefined): Record<string, PlainTensor> =>
    Object.fromEntries(
      Object.entries(m ?? {}).map(([key, value]) => {
        const field = value.value as keyof typeof FIELD_DTYPE;
        const t = value[field] as { values?: number[]; keys?: number[]; shape?: number[] };
        const out: PlainTensor = { dtype: FIELD_DTYPE[field], values: t.values ?? [] };
        if (t.keys?.length) out.keys = t.keys;
        if (t.shape?.length) out.shape = t.shape;
        return [key, out];
      }),
    );
  const out: PlainRecord = { features: map(obj.features) };
  if (obj.label && Object.keys(obj.label).length > 0) out.label = map(obj.label);
  for (const k of ['uid', 'metadata', 'configuration'] as const) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}
const FIELD_DTYPE = { float32_tensor: 'float32', float64_tensor: 'float64', int32_tensor: 'int32' } as const;

// --- Arbitraries ------------------------------------------------------------------------------------

const valueArb = {
  float32: fc.float(),
  float64: fc.double(),
  int32: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
};
const uint64Arb = fc.oneof(fc.nat(300), fc.nat(), fc.maxSafeNat());

const tensorArb: fc.Arbitrary<Tensor> = fc.constantFrom('float32', 'float64', 'int32').chain((dtype) =>
  fc.oneof(
    // dense, sometimes with a shape
    fc.record(
      {
        dtype: fc.constant(dtype),
        values: fc.array(valueArb[dtype], { maxLength: 12 }),
        shape: fc.array(uint64Arb, { maxLength: 3 }),
      },
      { requiredKeys: ['dtype', 'values'] },
    ),
    // sparse: one key per value and a shape
    fc
      .record({
        entries: fc.array(fc.tuple(uint64Arb, valueArb[dtype]), { minLength: 1, maxLength: 12 }),
        shape: fc.array(uint64Arb, { minLength: 1, maxLength: 3 }),
      })
      .map(({ entries, shape }) => ({
        dtype,
        keys: entries.map((e) => e[0]),
        values: entries.map((e) => e[1]),
        shape,
      })),
  ),
);

const keyArb = fc.oneof(
  fc.constant('values'),
  fc.constant(''),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
);
const mapArb = (minKeys: number) =>
  fc
    .uniqueArray(fc.tuple(keyArb, tensorArb), { selector: (e) => e[0], minLength: minKeys, maxLength: 3 })
    .map((entries) => Object.fromEntries(entries));
const textArb = fc.option(fc.string({ unit: 'grapheme', maxLength: 20 }), { nil: undefined });

const recordArb: fc.Arbitrary<RecordIORecord> = fc.record(
  {
    features: mapArb(0),
    label: mapArb(1),
    uid: textArb,
    metadata: textArb,
    configuration: textArb,
  },
  { requiredKeys: ['features'] },
);

// --- Wire-building helpers for hand-made payloads --------------------------------------------------

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}
const tag = (field: number, wire: number): number[] => varint((field << 3) | wire);
const ld = (field: number, body: number[]): number[] => [...tag(field, 2), ...varint(body.length), ...body];
const str = (s: string): number[] => Array.from(Buffer.from(s, 'utf8'));
const f32 = (v: number): number[] => Array.from(new Uint8Array(new Float32Array([v]).buffer));
const f64 = (v: number): number[] => Array.from(new Uint8Array(new Float64Array([v]).buffer));
/** A `features` entry for `key` whose Value holds `valueBody` (already Value fields). */
const entry = (key: string, valueBody: number[], field = 1): number[] =>
  ld(field, [...ld(1, str(key)), ...ld(2, valueBody)]);
const bytes = (...parts: number[][]): Uint8Array => new Uint8Array(parts.flat());

function formatError(payload: Uint8Array): RecordIOFormatError {
  try {
    decodeRecord(payload);
  } catch (error) {
    expect(error).toBeInstanceOf(RecordIOFormatError);
    return error as RecordIOFormatError;
  }
  throw new Error('expected a RecordIOFormatError');
}

// --- Tests ------------------------------------------------------------------------------------------

describe('encodeRecord / decodeRecord', () => {
  it('writes the byte walk of the research note (fixture a, record 0)', () => {
    const payload = encodeRecord({
      features: { values: { dtype: 'float32', values: [1.5, -2, 0, 3.25] } },
      label: { values: { dtype: 'float32', values: [1] } },
    });
    expect(Buffer.from(payload).toString('hex')).toBe(
      '0a1e' +
        '0a0676616c756573' +
        '1214' +
        '1212' +
        '0a10' +
        '0000c03f000000c0000000000000504012' +
        '120a0676616c756573120812060a040000803f',
    );
  });

  it('writes negative int32 values as 10-byte sign-extended varints, like protobuf', () => {
    const payload = encodeRecord({ features: { v: { dtype: 'int32', values: [-1, 300] } } });
    // entry(0a 15) key(0a 01 76) value(12 10) int32_tensor(3a 0e) values(0a 0c, ff x9 01 = -1, ac 02 = 300)
    expect(Buffer.from(payload).toString('hex')).toBe(
      '0a15' + '0a0176' + '1210' + '3a0e' + '0a0c' + 'ffffffffffffffffff01' + 'ac02',
    );
    expect(Array.from(decodeRecord(payload).features.v.values)).toEqual([-1, 300]);
  });

  it('writes uid, metadata and configuration after the maps, empty strings included', () => {
    const record = { features: {}, uid: '', metadata: 'é😀', configuration: '{"k":1}' };
    const payload = encodeRecord(record);
    expect(Buffer.from(payload).toString('hex')).toBe(
      '1a00' + '2206' + Buffer.from('é😀').toString('hex') + '2a07' + Buffer.from('{"k":1}').toString('hex'),
    );
    expect(decodeRecord(payload)).toEqual({
      features: {},
      uid: '',
      metadata: 'é😀',
      configuration: '{"k":1}',
    });
  });

  it('writes no label field for an empty label map and an empty Value tensor for an empty dense row', () => {
    const payload = encodeRecord({ features: { values: { dtype: 'float32', values: [] } }, label: {} });
    expect(Buffer.from(payload).toString('hex')).toBe('0a0c0a0676616c756573' + '1202' + '1200');
    const decoded = decodeRecord(payload);
    expect(decoded.label).toBeUndefined();
    expect(decoded.features.values.values).toEqual(new Float32Array(0));
  });

  it('keeps a leading byte-order mark and keys named __proto__ as data', () => {
    const record: RecordIORecord = {
      features: Object.fromEntries([['__proto__', { dtype: 'float32', values: [2] } as Tensor]]),
      uid: '\uFEFFid',
    };
    const decoded = decodeRecord(encodeRecord(record));
    expect(decoded.uid).toBe('\uFEFFid');
    expect(Object.getPrototypeOf(decoded.features)).toBe(Object.prototype);
    expect(Object.keys(decoded.features)).toEqual(['__proto__']);
    expect(Array.from(Object.getOwnPropertyDescriptor(decoded.features, '__proto__')!.value.values)).toEqual([
      2,
    ]);
  });

  it('decodes views of one buffer that start at the same byte but differ in length, one after the other', () => {
    const payload = encodeRecord({ features: { values: { dtype: 'float64', values: [0.25, -8] } } });
    const host = new Uint8Array(payload.length + 16);
    host.set(payload, 4);
    expect(decodeRecord(host.subarray(4, 4))).toEqual({ features: {} });
    expect(Array.from(decodeRecord(host.subarray(4, 4 + payload.length)).features.values.values)).toEqual([
      0.25, -8,
    ]);
  });

  it('round-trips random records exactly and re-encodes them to the same bytes', () => {
    fc.assert(
      fc.property(recordArb, (record) => {
        const payload = encodeRecord(record);
        const decoded = decodeRecord(payload);
        expect(plain(decoded)).toEqual(expected(record));
        expect(Buffer.from(encodeRecord(decoded)).equals(Buffer.from(payload))).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('agrees with protobufjs built from record.proto: same bytes, same decoding', () => {
    fc.assert(
      fc.property(recordArb, (record) => {
        const ours = encodeRecord(record);
        const theirs = PbRecord.encode(PbRecord.fromObject(toPbObject(record))).finish();
        expect(Buffer.from(ours).toString('hex')).toBe(Buffer.from(theirs).toString('hex'));
        expect(decodeWithProtobufjs(ours)).toEqual(expected(record));
      }),
      { numRuns: 400 },
    );
  });

  describe('reading what other protobuf writers may produce', () => {
    it('accepts unpacked repeated scalars and merges them with packed ones', () => {
      const tensor = [
        ...tag(1, 5),
        ...f32(1.5), // unpacked float
        ...ld(1, [...f32(2), ...f32(3)]), // packed float
        ...tag(2, 0),
        ...varint(5), // unpacked key
        ...ld(2, [...varint(7), ...varint(9)]), // packed keys
        ...tag(3, 0),
        ...varint(10), // unpacked shape
      ];
      const decoded = decodeRecord(bytes(entry('values', ld(2, tensor))));
      expect(decoded.features.values).toEqual({
        dtype: 'float32',
        values: new Float32Array([1.5, 2, 3]),
        keys: new Float64Array([5, 7, 9]),
        shape: new Float64Array([10]),
      });
    });

    it('accepts unpacked float64 and int32 values, including 10-byte negative int32', () => {
      const f64Tensor = [...tag(1, 1), ...f64(0.1), ...tag(1, 1), ...f64(-2)];
      const i32Tensor = [...tag(1, 0), ...varint(0xffffffffffffffffn), ...tag(1, 0), ...varint(42)];
      const decoded = decodeRecord(bytes(entry('a', ld(3, f64Tensor)), entry('b', ld(7, i32Tensor), 2)));
      expect(Array.from(decoded.features.a.values)).toEqual([0.1, -2]);
      expect(decoded.label!.b).toEqual({ dtype: 'int32', values: new Int32Array([-1, 42]) });
    });

    it('skips unknown fields of every wire type, groups included, at every level', () => {
      const unknown = [
        ...tag(20, 0),
        ...varint(123456789),
        ...tag(21, 1),
        ...f64(1),
        ...tag(22, 5),
        ...f32(1),
        ...ld(23, [1, 2, 3]),
        ...tag(24, 3),
        ...tag(1, 0),
        5,
        ...tag(25, 3),
        ...tag(25, 4),
        ...tag(24, 4),
      ];
      const tensor = [...unknown, ...ld(1, f32(4)), ...unknown];
      const value = [...unknown, ...ld(2, tensor), ...unknown];
      const payload = bytes(
        unknown,
        ld(1, [...unknown, ...ld(1, str('values')), ...ld(2, value)]),
        ld(3, str('u')),
        unknown,
      );
      expect(decodeRecord(payload)).toEqual({
        features: { values: { dtype: 'float32', values: new Float32Array([4]) } },
        uid: 'u',
      });
    });

    it('skips a known field number that arrives with another wire type, as protobuf parsers do', () => {
      const payload = bytes(tag(1, 0), varint(3), tag(3, 5), f32(1), entry('values', ld(2, ld(1, f32(1)))));
      expect(Object.keys(decodeRecord(payload).features)).toEqual(['values']);
      expect(decodeRecord(payload).uid).toBeUndefined();
    });

    it('lets the last oneof case win, merges a repeated tensor and lets the last duplicate map key win', () => {
      const oneof = bytes(entry('x', [...ld(3, ld(1, f64(1))), ...ld(2, ld(1, f32(2)))]));
      expect(decodeRecord(oneof).features.x).toEqual({ dtype: 'float32', values: new Float32Array([2]) });
      const merged = bytes(entry('x', [...ld(2, ld(1, f32(1))), ...ld(2, ld(1, f32(2)))]));
      expect(Array.from(decodeRecord(merged).features.x.values)).toEqual([1, 2]);
      const duplicate = bytes(entry('x', ld(2, ld(1, f32(1)))), entry('x', ld(2, ld(1, f32(7)))));
      expect(Array.from(decodeRecord(duplicate).features.x.values)).toEqual([7]);
    });

    it('reads map entries with the value before the key, a missing key as "", and non-canonical varints', () => {
      const swapped = bytes(ld(1, [...ld(2, ld(2, ld(1, f32(3)))), ...ld(1, str('k'))]));
      expect(Array.from(decodeRecord(swapped).features.k.values)).toEqual([3]);
      const noKey = bytes(ld(1, ld(2, ld(2, []))));
      expect(Object.keys(decodeRecord(noKey).features)).toEqual(['']);
      // the entry length 4 written as the 2-byte varint 84 00
      const padded = bytes([0x0a, 0x84, 0x00, ...ld(2, ld(2, []))]);
      expect(Object.keys(decodeRecord(padded).features)).toEqual(['']);
    });

    it('reads uint64 keys up to 2^53 - 1 and rejects larger ones instead of rounding them', () => {
      const ok = bytes(
        entry('v', ld(2, [...ld(1, f32(1)), ...ld(2, varint(2n ** 53n - 1n)), ...ld(3, varint(1))])),
      );
      expect(decodeRecord(ok).features.v.keys![0]).toBe(Number.MAX_SAFE_INTEGER);
      for (const big of [2n ** 53n, 2n ** 64n - 1n]) {
        const payload = bytes(
          entry('v', ld(2, [...ld(1, f32(1)), ...ld(2, varint(big)), ...ld(3, varint(1))])),
        );
        const error = formatError(payload);
        expect(error.message).toMatch(/uint64 value exceeds 2\^53 - 1/);
        expect(payload[error.offset - 1]).toBe(varint(big).length); // points at the varint after its length
      }
    });
  });

  describe('malformed payloads', () => {
    const cases: Array<[string, Uint8Array, RegExp, number]> = [
      ['a truncated tag', bytes([0x8a]), /truncated varint at payload byte 0/, 0],
      ['a length past the end', bytes([0x0a, 0x05, 0x00]), /length 5 runs past the end/, 1],
      ['field number 0', bytes([0x02, 0x00]), /invalid field tag/, 0],
      ['wire type 6', bytes([0x08, 0x01, 0x0e]), /invalid wire type 6/, 2],
      ['an end-group without a start', bytes([0x0c]), /invalid wire type 4/, 0],
      ['an unterminated group', bytes([...tag(9, 3), ...tag(1, 0), 1]), /unterminated group/, 0],
      ['a mismatched group end', bytes([...tag(9, 3), ...tag(8, 4)]), /mismatched end of group 9/, 0],
      [
        'a varint of 11 bytes',
        bytes([0x08, ...Array(10).fill(0xff), 0x01]),
        /varint longer than 10 bytes/,
        1,
      ],
      ['a packed float of 3 bytes', bytes(entry('v', ld(2, ld(1, [0, 0, 0])))), /not a multiple of 4/, 10],
      ['a packed varint cut inside', bytes(entry('v', ld(2, ld(2, [0x80])))), /ends inside a varint/, 10],
      ['a Value with no tensor', bytes(entry('v', [])), /features\['v'\] has no numeric tensor/, 0],
      ['a Bytes value', bytes(entry('v', ld(9, ld(1, [1])))), /Value\.bytes \(field 9\) is not supported/, 7],
      ['a truncated unpacked float', bytes(entry('v', ld(2, [...tag(1, 5), 0, 0]))), /truncated float/, 10],
    ];
    it.each(cases)(
      'rejects %s with RecordIOFormatError at the right offset',
      (_what, payload, message, offset) => {
        const error = formatError(payload);
        expect(error.name).toBe('RecordIOFormatError');
        expect(error.message).toMatch(message);
        expect(error.offset).toBe(offset);
      },
    );

    it('rejects deeply nested groups without overflowing the stack', () => {
      const depth = 5000;
      const payload = bytes(...Array(depth).fill(tag(9, 3)), ...Array(depth).fill(tag(9, 4)));
      expect(formatError(payload).message).toMatch(/groups nested too deeply/);
    });

    it('never throws anything but RecordIOFormatError on corrupted or truncated payloads', () => {
      fc.assert(
        fc.property(
          recordArb,
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
          fc.nat(),
          (record, flips, cut) => {
            const payload = encodeRecord(record).slice();
            for (const [at, value] of flips) if (payload.length > 0) payload[at % payload.length] = value;
            for (const candidate of [payload, payload.subarray(0, cut % (payload.length + 1))]) {
              try {
                decodeRecord(candidate);
              } catch (error) {
                expect(error).toBeInstanceOf(RecordIOFormatError);
              }
            }
          },
        ),
        { numRuns: 1000 },
      );
    });

    it('never throws anything but RecordIOFormatError on random bytes', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 64 }), (payload) => {
          try {
            decodeRecord(payload);
          } catch (error) {
            expect(error).toBeInstanceOf(RecordIOFormatError);
          }
        }),
        { numRuns: 2000 },
      );
    });
  });

  describe('invalid records', () => {
    const t = (tensor: Partial<Tensor>): RecordIORecord => ({
      features: { values: { dtype: 'float32', values: [1], ...tensor } as Tensor },
    });
    it.each<[string, RecordIORecord, RegExp]>([
      ['a negative key', t({ keys: [-1], shape: [2] }), /keys\[0\] = -1 is not a uint64/],
      ['a fractional key', t({ keys: [0.5], shape: [2] }), /keys\[0\] = 0.5 is not a uint64/],
      ['a key above 2^53 - 1', t({ keys: [2 ** 53], shape: [2] }), /is not a uint64 in \[0, 2\^53 - 1\]/],
      ['a NaN shape', t({ shape: [NaN] }), /shape\[0\] = NaN/],
      [
        'an int32 out of range',
        t({ dtype: 'int32', values: [2 ** 31] }),
        /values\[0\] = 2147483648 is not an int32/,
      ],
      ['a fractional int32', t({ dtype: 'int32', values: [1.5] }), /is not an int32/],
      ['keys and values of different lengths', t({ keys: [0, 1], shape: [2] }), /2 keys for 1 values/],
      ['a sparse tensor without shape', t({ keys: [0] }), /must have a shape/],
      ['an unknown dtype', t({ dtype: 'float16' as never }), /unknown dtype 'float16'/],
    ])('rejects %s with RecordIOEncodeError', (_what, record, message) => {
      expect(() => encodeRecord(record)).toThrow(RecordIOEncodeError);
      expect(() => encodeRecord(record)).toThrow(message);
    });
  });
});
