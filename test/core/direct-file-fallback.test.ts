/**
 * direct-file.ts where O_DIRECT is refused: a file system that refuses it at open (EINVAL, e.g. older
 * tmpfs) or takes the open but refuses the writes (EINVAL on a misaligned device) still gets the same
 * bytes, through ordinary descriptors. This kernel takes O_DIRECT on ext4 and tmpfs alike, so the refusals
 * are simulated: `open` of node:fs/promises is wrapped (its own module mock, hence its own file).
 */
import { constants } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const O_DIRECT = (constants as { O_DIRECT?: number }).O_DIRECT ?? 0;
const refusal = { mode: 'none' as 'none' | 'open' | 'write', directOpens: 0, directWrites: 0 };

jest.mock('node:fs/promises', () => {
  const actual = jest.requireActual<typeof import('node:fs/promises')>('node:fs/promises');
  const einval = () => Object.assign(new Error('EINVAL: invalid argument'), { code: 'EINVAL' });
  return {
    ...actual,
    open: async (path: string, flags: number, mode?: number) => {
      const direct = typeof flags === 'number' && O_DIRECT !== 0 && (flags & O_DIRECT) !== 0;
      if (!direct) return actual.open(path, flags, mode);
      refusal.directOpens++;
      if (refusal.mode === 'open') throw einval();
      const handle = await actual.open(path, flags, mode);
      if (refusal.mode !== 'write') return handle;
      return new Proxy(handle, {
        get(target, key) {
          if (key === 'write') {
            return async () => {
              refusal.directWrites++;
              throw einval();
            };
          }
          const value = Reflect.get(target, key) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    },
  };
});

// Imported after the mock is in place.
import { BLOCK_BYTES } from '../../functions/core/direct-file';
import { directorySink } from '../../functions/core/sink';

describe('directorySink where O_DIRECT is refused', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reelflow-direct-fallback-'));
    refusal.directOpens = 0;
    refusal.directWrites = 0;
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each(['open', 'write'] as const)(
    'writes the same bytes when O_DIRECT is refused at %s',
    async (mode) => {
      refusal.mode = mode;
      const bytes = randomBytes(2 * BLOCK_BYTES + 5003);
      const out = directorySink(dir).open('out/big.bin');
      for (let at = 0; at < bytes.length; at += 3_000_001)
        await out.write(bytes.subarray(at, at + 3_000_001));
      await out.end();
      expect(Buffer.compare(await readFile(join(dir, 'out/big.bin')), bytes)).toBe(0);
      // The direct way was tried (and refused) before the ordinary one wrote the file (on Linux; a system
      // without O_DIRECT only ever writes the ordinary way). Refused at write: each block in flight
      // at the refusal (at most 2) tried it once.
      const linux = O_DIRECT !== 0;
      expect(refusal.directOpens).toBe(linux ? 1 : 0);
      if (mode === 'write' && linux) {
        expect(refusal.directWrites).toBeGreaterThanOrEqual(1);
        expect(refusal.directWrites).toBeLessThanOrEqual(2);
      } else {
        expect(refusal.directWrites).toBe(0);
      }
    },
  );
});
