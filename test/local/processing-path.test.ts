/**
 * Issue 11, point 1, on the local runtime: with `processing.mode: 'processing'` a retrain runs its three
 * data steps (Prepare, BuildVectors, Evaluate) as SageMaker Processing jobs of the project image
 * (PlanRun -> <Step>Where? -> <Step>Payload -> <Step>Input (S3 PutObject) -> <Step>Processing
 * (createProcessingJob.sync on a job instance) -> <Step>Result (S3 GetObject) -> <Step>Parse ->
 * <Step>Failed?), and with `training.fmInstanceCount: 2` TrainFM asks for two instances on a sharded
 * train channel. The bundled sample is the data; the candidate is rejected at the approval, so the run
 * ends after the retrain workflow's CandidateReady.
 */
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RENDER_PLACEHOLDERS } from '../../pipeline/render';
import { processingStateNames, RETRAIN_STATES as R } from '../../pipeline/retrain/states';
import { useRecordingRuntime } from './recording-runtime-fixture';

const OVERRIDES = {
  processing: { mode: 'processing' },
  training: { fmInstanceCount: 2 },
  ml: {
    fm: { num_factors: 8, epochs: 4, factors_lr: 0.01, factors_wd: 0.0001 },
    knn: { k: 30 },
    evaluation: { bootstrapSamples: 20 },
    gate: { maxRegression: 1, mustBeatPopularity: false },
    // Shards small enough that the sample's train channel has several (TrainFM runs min(2, shards)).
    encoding: { shardMaxBytes: 128 * 1024 },
  },
};
const SAMPLE = join(__dirname, '..', '..', 'local', 'sample', 'ratings.csv');

describe('the Processing path on the local runtime (processing.mode: processing, fmInstanceCount: 2)', () => {
  const rec = useRecordingRuntime('processing', { overrides: OVERRIDES, approve: false });
  const { processingRequests, trainingRequests } = rec;

  it('runs Prepare, BuildVectors and Evaluate as Processing jobs and trains FM on two instances of a sharded channel', async () => {
    // WHEN the bundled sample is uploaded (the start-run rule starts a run)
    const run = await rec.runtime.upload('ratings/sample.csv', readFileSync(SAMPLE));
    const record = await run.done;

    // THEN the retrain workflow went through PlanRun and the Processing path of each data step, to CandidateReady
    // (a run that fails earlier shows its failed state and reason in the diff)
    expect({ ...record, reason: record.status === 'Rejected' ? undefined : record.reason }).toMatchObject({
      status: 'Rejected',
      failedState: 'Approve',
      reason: undefined,
      servingVersion: null,
    });
    const path = rec.retrainPath(run.runId);
    expect(path.slice(0, 2)).toEqual([R.loadConfig, R.planRun]);
    for (const step of [R.prepare, R.buildVectors, R.evaluate]) {
      const names = processingStateNames(step);
      const chain = [
        names.where,
        names.payload,
        names.input,
        names.processing,
        names.result,
        names.parse,
        names.failed,
      ];
      const at = path.indexOf(names.where);
      expect(path.slice(at, at + chain.length)).toEqual(chain);
      // Never the Lambda Task, never the error branch.
      expect(path).not.toContain(step);
      expect(path).not.toContain(names.error);
    }
    expect(path.indexOf(processingStateNames(R.prepare).failed)).toBeLessThan(path.indexOf(R.trainFm));
    expect(path).toContain(R.gate);
    expect(path.at(-1)).toBe(R.candidateReady);

    // AND the execution history the Step Functions API serves holds the same states
    const executions = rec.runtime.stepFunctions.service().operations.ListExecutions({
      stateMachineArn: rec.runtime.stepFunctions.arns.retrain,
    }) as { executions: { executionArn: string }[] };
    const execution = rec.runtime.stepFunctions.execution(executions.executions[0].executionArn)!;
    expect(execution.status).toBe('SUCCEEDED');
    const entered = execution.events.flatMap((e) =>
      e.type.endsWith('StateEntered') ? [(e.stateEnteredEventDetails as { name: string }).name] : [],
    );
    expect(entered).toEqual(
      expect.arrayContaining([
        R.planRun,
        'PrepareProcessing',
        'BuildVectorsProcessing',
        'EvaluateProcessing',
      ]),
    );
    const planned = execution.events.find(
      (e) =>
        e.type === 'TaskStateExited' && (e.stateExitedEventDetails as { name: string }).name === R.planRun,
    );
    expect(JSON.parse((planned!.stateExitedEventDetails as { output: string }).output)).toMatchObject({
      plan: { mode: 'processing' },
    });

    // AND each Processing job ran the project image's entry with its step, on the contract's paths
    expect(processingRequests.map((r) => r.AppSpecification?.ContainerArguments)).toEqual([
      ['prepare'],
      ['build-vectors'],
      ['evaluate'],
    ]);
    for (const request of processingRequests) {
      expect(request).toMatchObject({
        RoleArn: RENDER_PLACEHOLDERS.processingRole,
        AppSpecification: {
          ImageUri: RENDER_PLACEHOLDERS.servingImage,
          ContainerEntrypoint: ['node', '/app/processing.js'],
        },
        ProcessingInputs: [{ InputName: 'task', S3Input: { LocalPath: '/opt/ml/processing/input/task' } }],
        ProcessingOutputConfig: {
          Outputs: [{ OutputName: 'result', S3Output: { LocalPath: '/opt/ml/processing/output/result' } }],
        },
        Environment: { DATA_BUCKET: rec.runtime.bucket },
      });
      // Its task and result are in the run's tasks/ folder.
      const uri = request.ProcessingOutputConfig!.Outputs![0].S3Output!.S3Uri!;
      const key = `${uri.replace(`s3://${rec.runtime.bucket}/`, '')}result.json`;
      const result = await rec.runtime.s3.send(
        new GetObjectCommand({ Bucket: rec.runtime.bucket, Key: key }),
      );
      expect(JSON.parse(await result.Body!.transformToString())).not.toHaveProperty('error');
    }

    // AND TrainFM asked for two instances, each reading its shards of the train channel
    const fm = trainingRequests.find((r) =>
      r.AlgorithmSpecification?.TrainingImage?.includes('factorization-machines'),
    );
    expect(fm?.ResourceConfig).toMatchObject({ InstanceCount: 2 });
    const train = fm?.InputDataConfig?.find((c) => c.ChannelName === 'train');
    expect(train?.DataSource?.S3DataSource).toMatchObject({ S3DataDistributionType: 'ShardedByS3Key' });
    const shards = await rec.runtime.s3.send(
      new ListObjectsV2Command({
        Bucket: rec.runtime.bucket,
        Prefix: train!.DataSource!.S3DataSource!.S3Uri!.replace(`s3://${rec.runtime.bucket}/`, ''),
      }),
    );
    expect(shards.Contents?.length ?? 0).toBeGreaterThanOrEqual(2);
  }, 300_000);

  it('reports a batch the Processing Prepare refuses as data rejected, routed by PrepareError, nothing trained', async () => {
    const bad = `userId,movieId,rating,timestamp\n${'x,1,4.0,1300000000\n'.repeat(600)}`;
    const jobsBefore = trainingRequests.length;
    const run = await rec.runtime.upload('ratings/2026-03-01-bad.csv', bad);
    const record = await run.done;

    expect(record).toMatchObject({ status: 'Failed', stage: 'Retrain', failedState: 'Prepare' });
    expect(record.reason).toMatch(/^data rejected at validation: rejected: .*bad/);
    const prepare = processingStateNames(R.prepare);
    const path = rec.retrainPath(run.runId);
    expect(path).toEqual([
      R.loadConfig,
      R.planRun,
      prepare.where,
      prepare.payload,
      prepare.input,
      prepare.processing,
      prepare.result,
      prepare.parse,
      prepare.failed,
      prepare.error,
      R.notifyFailure,
      R.retrainFailed,
    ]);
    expect(trainingRequests.length).toBe(jobsBefore);
    // The Processing job moved the upload aside, as the Lambda does: kept, never blocking later runs.
    const quarantined = await rec.runtime.s3.send(
      new ListObjectsV2Command({ Bucket: rec.runtime.bucket, Prefix: 'quarantine/' }),
    );
    expect((quarantined.Contents ?? []).map((o) => o.Key)).toContain('quarantine/2026-03-01-bad.csv');
  }, 300_000);
});
