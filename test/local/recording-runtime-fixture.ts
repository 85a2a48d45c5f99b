/**
 * A local runtime for the e2e tests of one workflow path (tuning, iALS, Processing): started in the
 * calling describe's beforeAll on a fresh home with the given config overrides and approver, stopped and
 * removed in its afterAll. It records the pipeline's events and every CreateTrainingJob and
 * CreateProcessingJob request the bindings pass on (after the API model accepted them; passed on
 * unchanged), and reads back what a run entered and wrote.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixedApprover } from '../../local/approval';
import { loadDeployConfig } from '../../local/config';
import type { PipelineEvent } from '../../local/pipeline-runner';
import { LocalRuntime } from '../../local/runtime';
import type { ProcessingJobRequest } from '../../local/services/processing-jobs';
import type { TrainingJobRequest } from '../../local/services/training-jobs';

type Overrides = NonNullable<Parameters<typeof loadDeployConfig>[0]>['overrides'];

export interface RecordingRuntime {
  /** Set once the describe's beforeAll has run. */
  readonly runtime: LocalRuntime;
  readonly events: readonly PipelineEvent[];
  readonly trainingRequests: readonly TrainingJobRequest[];
  readonly processingRequests: readonly ProcessingJobRequest[];
  /** The retrain workflow's states the run entered, in order. */
  retrainPath(runId: string): string[];
  s3Bytes(key: string): Promise<Uint8Array>;
}

/** Registers the runtime's beforeAll/afterAll in the calling describe. */
export function useRecordingRuntime(
  name: string,
  options: { readonly overrides: Overrides; readonly approve: boolean },
): RecordingRuntime {
  const home = mkdtempSync(join(tmpdir(), `reelflow-e2e-${name}-`));
  const events: PipelineEvent[] = [];
  const trainingRequests: TrainingJobRequest[] = [];
  const processingRequests: ProcessingJobRequest[] = [];
  let runtime: LocalRuntime | undefined;

  beforeAll(async () => {
    runtime = await LocalRuntime.start({
      home,
      config: await loadDeployConfig({ overrides: options.overrides }),
      approver: fixedApprover(options.approve, `the ${name}-path test`),
      msPerSecond: 2,
    });
    runtime.onPipelineEvent((event) => events.push(event));
    const { sagemaker } = runtime;
    const training = sagemaker.createTrainingJob.bind(sagemaker);
    jest.spyOn(sagemaker, 'createTrainingJob').mockImplementation((request) => {
      trainingRequests.push(request);
      return training(request);
    });
    const processing = sagemaker.createProcessingJob.bind(sagemaker);
    jest.spyOn(sagemaker, 'createProcessingJob').mockImplementation((request) => {
      processingRequests.push(request);
      return processing(request);
    });
  }, 60_000);

  afterAll(async () => {
    await runtime?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  const started = (): LocalRuntime => {
    if (!runtime) throw new Error('the runtime starts in beforeAll');
    return runtime;
  };
  return {
    get runtime(): LocalRuntime {
      return started();
    },
    events,
    trainingRequests,
    processingRequests,
    retrainPath: (runId) =>
      events.flatMap((e) =>
        e.type === 'state' && e.runId === runId && e.workflow === 'retrain' && e.event.type === 'entered'
          ? [e.event.state]
          : [],
      ),
    s3Bytes: async (key) => {
      const { s3, bucket } = started();
      const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return object.Body!.transformToByteArray();
    },
  };
}
