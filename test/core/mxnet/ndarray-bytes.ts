/**
 * Builds NDArray-list bytes field by field with a DataView, straight from the layout in
 * shared research sagemaker-formats.md §3.2, so tests can check the reader (and the writer's output)
 * against bytes that do not come from functions/core/mxnet.
 */
export class ByteBuilder {
  private readonly parts: number[] = [];

  private push(size: number, write: (view: DataView) => void): this {
    const view = new DataView(new ArrayBuffer(size));
    write(view);
    for (let i = 0; i < size; i++) this.parts.push(view.getUint8(i));
    return this;
  }

  u32(v: number): this {
    return this.push(4, (d) => d.setUint32(0, v, true));
  }
  i32(v: number): this {
    return this.push(4, (d) => d.setInt32(0, v, true));
  }
  u64(v: number | bigint): this {
    return this.push(8, (d) => d.setBigUint64(0, BigInt(v), true));
  }
  i64(v: number | bigint): this {
    return this.push(8, (d) => d.setBigInt64(0, BigInt(v), true));
  }
  f32(...values: number[]): this {
    for (const v of values) this.push(4, (d) => d.setFloat32(0, v, true));
    return this;
  }
  u16(...values: number[]): this {
    for (const v of values) this.push(2, (d) => d.setUint16(0, v, true));
    return this;
  }
  raw(bytes: ArrayLike<number>): this {
    for (let i = 0; i < bytes.length; i++) this.parts.push(bytes[i]);
    return this;
  }
  string(s: string): this {
    const bytes = Buffer.from(s, 'utf8');
    return this.u64(bytes.length).raw(bytes);
  }
  get length(): number {
    return this.parts.length;
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export const V1 = 0xf993fac8;
export const V2 = 0xf993fac9;
export const V3 = 0xf993faca;

/** List header: u64 0x112, u64 reserved 0, u64 count. */
export function listHeader(count: number): ByteBuilder {
  return new ByteBuilder().u64(0x112).u64(0).u64(count);
}

/** A dense V2 float32 record: magic, stype 0, i32 ndim + i64 dims, ctx (1, 0), dtype 0, data. */
export function v2Float32(b: ByteBuilder, shape: number[], values: number[]): ByteBuilder {
  b.u32(V2).i32(0).i32(shape.length);
  for (const dim of shape) b.i64(dim);
  return b
    .i32(1)
    .i32(0)
    .i32(0)
    .f32(...values);
}

/** An FM params file as SageMaker names it, built independently of the writer. */
export function fmParamsBytes(opts: {
  names: [string, string, string];
  shapes: [number[], number[], number[]];
  values: [number[], number[], number[]];
}): Uint8Array {
  const b = listHeader(3);
  for (let i = 0; i < 3; i++) v2Float32(b, opts.shapes[i], opts.values[i]);
  b.u64(3);
  for (const name of opts.names) b.string(name);
  return b.bytes();
}
