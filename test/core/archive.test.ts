import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  ArchiveError,
  isGzip,
  isZip,
  readTarGz,
  readZip,
  writeTarGz,
  writeZip,
} from '../../functions/core/archive';

const FIXTURES = join(__dirname, '..', 'fixtures', 'mxnet');

describe('archive', () => {
  it('reads the real SageMaker k-means model.tar.gz', async () => {
    // GIVEN a model.tar.gz written by SageMaker
    const bytes = readFileSync(join(FIXTURES, 'kmeans-model.tar.gz'));
    // WHEN
    const files = await readTarGz(bytes);
    // THEN its members are the algorithm's files, byte-identical to the extracted fixtures
    expect([...files.keys()].sort()).toEqual(
      ['model_algo-1', 'state_cb7d8008-aba0-4e9e-b777-d124d6151379'].sort(),
    );
    expect(Buffer.from(files.get('model_algo-1')!)).toEqual(
      readFileSync(join(FIXTURES, 'kmeans-model_algo-1')),
    );
  });

  it('round-trips tar.gz entries and writes the same bytes for the same entries', async () => {
    const entries = [
      ['model_algo-1', new Uint8Array([1, 2, 3])],
      ['dir/meta.json', Buffer.from('{"a":1}')],
    ] as const;
    const a = await writeTarGz(entries);
    const b = await writeTarGz(entries);
    expect(a.equals(b)).toBe(true);
    expect(isGzip(a)).toBe(true);
    const files = await readTarGz(a);
    expect(Buffer.from(files.get('model_algo-1')!)).toEqual(Buffer.from([1, 2, 3]));
    expect(Buffer.from(files.get('dir/meta.json')!).toString()).toBe('{"a":1}');
  });

  it('rejects truncated gzip, foreign bytes and gzip that holds no tar', async () => {
    const good = await writeTarGz([['x', new Uint8Array(10)]]);
    await expect(readTarGz(good.subarray(0, good.length - 20), 'model.tar.gz')).rejects.toThrow(
      /model.tar.gz is not a valid gzip stream/,
    );
    await expect(readTarGz(Buffer.from('hello world'.repeat(100)))).rejects.toThrow(ArchiveError);
    await expect(readTarGz(gzipSync(Buffer.alloc(1024, 7)))).rejects.toThrow(/not a tar archive/);
  });

  it('round-trips zip members and rejects non-zip bytes', () => {
    const zip = writeZip([
      ['symbol.json', Buffer.from('{}')],
      ['params', new Uint8Array([0x12, 0x01, 0, 0])],
    ]);
    expect(isZip(zip)).toBe(true);
    expect(Buffer.from(writeZip([['symbol.json', Buffer.from('{}')]]))).toEqual(
      Buffer.from(writeZip([['symbol.json', Buffer.from('{}')]])),
    );
    const files = readZip(zip);
    expect(Buffer.from(files.get('params')!)).toEqual(Buffer.from([0x12, 0x01, 0, 0]));
    expect(() => readZip(new Uint8Array([0x12, 1, 0, 0]), 'model_algo-1')).toThrow(
      /model_algo-1 is not a zip archive/,
    );
    expect(() => readZip(zip.subarray(0, 30))).toThrow(ArchiveError);
  });
});
