/**
 * `npm start -- --data <dir with ua.base, ua.test> --once --approve` with `split.mode: predefined`
 * (issue 12): on a generated small ua pair the whole run goes through (the upload keeps the pair's
 * names, Prepare's predefined split recognises it) and evaluation.json scores exactly ua.test.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Evaluation } from '../../functions/core/evaluate/evaluation';
import { Rng } from '../../functions/core/random';
import { EXIT } from '../../local/cli-args';
import { startCommand } from '../../local/start-command';

const dir = mkdtempSync(join(tmpdir(), 'reelflow-start-predefined-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A small ua-shaped pair: `perUser` ratings per user, `held` of them (the latest) in ua.test. */
function writeUaPair(path: string, users: number, movies: number, perUser: number, held: number): number {
  const rng = new Rng(3);
  const movieBias = Array.from({ length: movies + 1 }, () => rng.normal());
  const base: string[] = [];
  const test: string[] = [];
  for (let u = 1; u <= users; u++) {
    const bias = rng.normal() * 0.7;
    const taste = rng.int(4);
    const rated = rng.shuffle(Int32Array.from({ length: movies }, (_, i) => i + 1)).subarray(0, perUser);
    rated.forEach((m, i) => {
      const liked = m % 4 === taste ? 1 : 0;
      const rating = Math.min(
        5,
        Math.max(1, Math.round(3 + bias + movieBias[m] + liked + rng.normal() * 0.5)),
      );
      const line = `${u}\t${m}\t${rating}\t${880000000 + u * 1000 + i}`;
      (i < perUser - held ? base : test).push(line);
    });
  }
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'ua.base'), `${base.join('\n')}\n`);
  writeFileSync(join(path, 'ua.test'), `${test.join('\n')}\n`);
  return test.length;
}

describe('npm start -- --data <ua pair> with split.mode predefined', () => {
  it('runs and evaluates exactly ua.test', async () => {
    // GIVEN a generated ua pair and the workshop's objective with a predefined split (a small, fast FM)
    const data = join(dir, 'ua-pair');
    const testRows = writeUaPair(data, 80, 120, 25, 5);
    const config = join(dir, 'predefined.json');
    writeFileSync(
      config,
      JSON.stringify({
        ml: {
          split: { mode: 'predefined' },
          ingest: { ratingMin: 1 },
          encoding: { objective: 'workshop' },
          fm: { num_factors: 8, epochs: 5, factors_lr: 0.01 },
          knn: { k: 40 },
          evaluation: { bootstrapSamples: 50 },
        },
      }),
    );
    const lines: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    let code: number;
    try {
      // WHEN `npm start -- --data <dir> --once --approve` runs on it
      code = await startCommand({
        values: {
          data,
          once: true,
          approve: true,
          config,
          home: join(dir, 'home'),
          port: '0',
          'time-scale': '1',
        },
        positionals: [],
      });
    } finally {
      write.mockRestore();
    }
    const out = lines.join('');

    // THEN the pair is uploaded under names the split recognises, the run ends, and evaluation.json
    // scores the ua.test users
    expect(out).toMatch(/upload {4}ratings\/\d{8}T\d{6}Z-ua\.base /);
    expect(out).toMatch(/upload {4}ratings\/\d{8}T\d{6}Z-ua\.test /);
    expect(out).not.toContain('predefined split needs');
    expect([EXIT.ok, EXIT.rejected]).toContain(code);
    const evaluationPath = out.trimEnd().split('\n').pop()!;
    const evaluation = JSON.parse(readFileSync(evaluationPath, 'utf8')) as Evaluation;
    expect(evaluation.counts.testUsers).toBe(80);
    expect(evaluation.counts.relevantItems).toBe(testRows);
    expect(evaluation.counts.catalogSize).toBeLessThanOrEqual(120);
    expect(evaluation.training?.fm?.job).toMatch(/-fm-/);
    // The FM job's test-channel metrics, read back through the twin's DescribeTrainingJob.
    expect(evaluation.training?.fm?.status).toBe('reported');
    expect(Object.keys(evaluation.training?.fm?.testMetrics ?? {}).length).toBeGreaterThan(0);
  }, 240_000);
});
