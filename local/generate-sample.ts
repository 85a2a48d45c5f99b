/**
 * Rewrites the shipped sample data set, local/sample/{ratings.csv,movies.csv}, from the seeded
 * generator in local/sample/synthetic.ts (`npm run sample`, or `npx tsx local/generate-sample.ts`).
 * The output is byte-identical on every run; test/local/sample/synthetic.test.ts checks the committed files
 * against a fresh generation, so run this after any change to the generator and commit both files.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSample } from './sample/synthetic';

const dir = join(__dirname, 'sample');
const { ratingsCsv, moviesCsv } = generateSample();
for (const [name, text] of [
  ['ratings.csv', ratingsCsv],
  ['movies.csv', moviesCsv],
] as const) {
  writeFileSync(join(dir, name), text);
  const sha256 = createHash('sha256').update(text).digest('hex');
  const rows = text.split('\n').length - 2;
  console.log(
    `${join('local/sample', name)}: ${rows} rows, ${Buffer.byteLength(text)} bytes, sha256 ${sha256}`,
  );
}
