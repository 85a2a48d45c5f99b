/**
 * A stand-in for functions/processing/main.ts in the Processing unit tests: the same export
 * (`runProcessingStep(step, root, env)`), run on a real job instance. It echoes its task, the step and
 * what it sees of the container's environment into the result; step `crash` writes an exit message
 * and throws (a container exiting non-zero).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export async function runProcessingStep(
  step: string,
  root: string,
  env: Readonly<Record<string, string>>,
): Promise<void> {
  const task = JSON.parse(await readFile(join(root, 'input', 'task', 'task.json'), 'utf8')) as unknown;
  if (step === 'crash') {
    const message = join(root, '..', 'output', 'message');
    await mkdir(join(message, '..'), { recursive: true });
    await writeFile(message, 'the step crashed on purpose');
    throw new Error('crashed on purpose');
  }
  const result = {
    step,
    task,
    extra: await readFile(join(root, 'input', 'task', 'more', 'extra.txt'), 'utf8').catch(() => null),
    env: {
      DATA_BUCKET: env.DATA_BUCKET ?? null,
      processDataBucket: process.env.DATA_BUCKET ?? null,
      hostOnly: process.env.REELFLOW_TEST_HOST_ONLY ?? null,
      s3Endpoint: process.env.AWS_ENDPOINT_URL_S3 ?? null,
      root: process.env.REELFLOW_PROCESSING_ROOT ?? null,
    },
  };
  await writeFile(join(root, 'output', 'result', 'result.json'), JSON.stringify(result));
}
