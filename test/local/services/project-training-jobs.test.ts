/**
 * Training jobs of the project's own image on the local twin (issue 12, the iALS job): the request the
 * TrainIALS state sends runs functions/training/main.ts on a temporary /opt/ml tree fed from the local
 * S3, packs `model/` into the job's model.tar.gz where SageMaker puts it, reads the job's metrics from its
 * log with the request's MetricDefinitions, and fails a job whose container fails with the reason the
 * container wrote to /opt/ml/output/failure, as SageMaker does. Other images stay refused.
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTarGz } from '../../../functions/core/archive';
import { parseMlConfig } from '../../../functions/core/config';
import { ialsHyperparameterStrings, parseIalsHyperparameters } from '../../../functions/core/ials/config';
import { readIalsModelArtifact } from '../../../functions/core/ials/model-file';
import { fileSource } from '../../../functions/core/ingest';
import { prepareRun } from '../../../functions/core/prepare';
import { directorySink } from '../../../functions/core/sink';
import { parseSplitCsv } from '../../../functions/core/split';
import {
  IALS_METADATA_FILE,
  IALS_METRIC_DEFINITIONS,
  mainTrain,
  TRAINING_ARGUMENTS,
  TRAINING_ENTRYPOINT,
} from '../../../functions/training/main';
import { LocalS3 } from '../../../local/services/s3';
import { SageMakerApiError, SageMakerJobFailedError } from '../../../local/services/sagemaker-errors';
import {
  runTrainingJob,
  validateTrainingJob,
  type TrainingJobRequest,
  type TrainingProgress,
} from '../../../local/services/training-jobs';

const BUCKET = 'reelflow-project-training-test';
const IMAGE = '123456789012.dkr.ecr.us-east-1.amazonaws.com/reelflow-serving:local';
const SAMPLE = join(__dirname, '..', '..', '..', 'local', 'sample', 'ratings.csv');
const dir = mkdtempSync(join(tmpdir(), 'reelflow-project-training-'));
const jobsTmp = join(dir, 'jobs');
const server = new LocalS3({ directory: join(dir, 's3'), buckets: [BUCKET], reset: true });
let s3: S3Client;
let trainCsv: Uint8Array;

beforeAll(async () => {
  await server.start();
  s3 = server.client();
  const prepared = join(dir, 'prepared');
  await prepareRun({
    sources: [fileSource(SAMPLE)],
    sink: directorySink(prepared),
    config: parseMlConfig({}),
  });
  trainCsv = await readFile(join(prepared, 'split', 'train.csv'));
  await s3.send(
    new PutObjectCommand({ Bucket: BUCKET, Key: 'runs/r1/prepared/split/train.csv', Body: trainCsv }),
  );
  mkdirSync(jobsTmp);
}, 60_000);

afterAll(async () => {
  s3.destroy();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The request TrainIALS sends (pipeline/retrain/prepare-and-train.ts), rendered for run r1. */
function ialsJob(name: string, hyperparameters: Record<string, string>): TrainingJobRequest {
  return {
    TrainingJobName: name,
    RoleArn: 'arn:aws:iam::123456789012:role/reelflow-training',
    AlgorithmSpecification: {
      TrainingImage: IMAGE,
      TrainingInputMode: 'File',
      ContainerEntrypoint: [...TRAINING_ENTRYPOINT],
      ContainerArguments: [...TRAINING_ARGUMENTS],
      MetricDefinitions: IALS_METRIC_DEFINITIONS.map((d) => ({ ...d })),
    },
    HyperParameters: hyperparameters,
    InputDataConfig: [
      {
        ChannelName: 'train',
        ContentType: 'text/csv',
        DataSource: {
          S3DataSource: {
            S3DataType: 'S3Prefix',
            S3Uri: `s3://${BUCKET}/runs/r1/prepared/split/train.csv`,
            S3DataDistributionType: 'FullyReplicated',
          },
        },
      },
    ],
    OutputDataConfig: { S3OutputPath: `s3://${BUCKET}/runs/r1/fm/` },
    ResourceConfig: { InstanceType: 'ml.m5.xlarge', InstanceCount: 1, VolumeSizeInGB: 30 },
    StoppingCondition: { MaxRuntimeInSeconds: 3600 },
  };
}

const stderr: string[] = [];
const deps = (progress: TrainingProgress[] = []) => ({
  s3,
  seed: 1,
  region: 'us-east-1',
  account: '123456789012',
  onProgress: (p: TrainingProgress) => progress.push(p),
  project: {
    image: IMAGE,
    tmpDir: jobsTmp,
    runContainer: (root: string, log: (line: string) => void) =>
      mainTrain(root, log, (line) => stderr.push(line)),
  },
});

async function failureOf(job: Promise<unknown>): Promise<Record<string, unknown>> {
  const error = await job.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SageMakerJobFailedError);
  return (error as SageMakerJobFailedError).description;
}

describe('a training job of the project image on the local twin', () => {
  it('trains iALS on the split channel, uploads model.tar.gz and reports the log metrics', async () => {
    const params = parseIalsHyperparameters({ num_factors: 8, iterations: 3 });
    const progress: TrainingProgress[] = [];
    const described = await runTrainingJob(
      ialsJob('ials-ok', ialsHyperparameterStrings(params)),
      deps(progress),
    );

    const artifact = `s3://${BUCKET}/runs/r1/fm/ials-ok/output/model.tar.gz`;
    expect(described).toMatchObject({
      TrainingJobStatus: 'Completed',
      ModelArtifacts: { S3ModelArtifacts: artifact },
    });
    const object = await s3.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: 'runs/r1/fm/ials-ok/output/model.tar.gz' }),
    );
    const tarGz = await object.Body!.transformToByteArray();
    const model = await readIalsModelArtifact(tarGz);
    const train = parseSplitCsv(trainCsv);
    expect(model.factors).toBe(8);
    expect(model.userIds.length).toBe(new Set(train.userId).size);
    const metadata = JSON.parse(
      Buffer.from((await readTarGz(tarGz)).get(IALS_METADATA_FILE)!).toString('utf8'),
    ) as { losses: number[]; trainRows: number };
    expect(metadata.trainRows).toBe(train.length);

    // FinalMetricDataList: each definition's last match in the log, i.e. the last iteration's loss.
    const final = described.FinalMetricDataList as { MetricName: string; Value: number }[];
    expect(final.map(({ MetricName, Value }) => ({ MetricName, Value }))).toEqual([
      { MetricName: 'train:loss', Value: metadata.losses[2] },
      { MetricName: 'train:final_loss', Value: metadata.losses[2] },
    ]);
    // The channel download and the container's log are the job's progress.
    expect(progress[0]).toEqual({ kind: 'channel', channel: 'train', files: 1, bytes: trainCsv.length });
    expect(progress.filter((p) => p.kind === 'log' && /^iteration \d\/3/.test(p.line))).toHaveLength(3);
    // The temporary /opt/ml tree is gone.
    expect(readdirSync(jobsTmp)).toEqual([]);
  });

  it('fails a job with a bad hyperparameter with the reason the container wrote to output/failure', async () => {
    const strings = { ...ialsHyperparameterStrings(parseIalsHyperparameters({})), alpha: 'high' };
    const description = await failureOf(runTrainingJob(ialsJob('ials-bad', strings), deps()));
    expect(description.TrainingJobStatus).toBe('Failed');
    expect(description.FailureReason).toMatch(
      /^AlgorithmError: ConfigError: invalid config HyperParameters\.alpha/,
    );
    expect(description).not.toHaveProperty('ModelArtifacts');
    expect(stderr.join('\n')).toMatch(/HyperParameters\.alpha/);
    const listed = await s3
      .send(new GetObjectCommand({ Bucket: BUCKET, Key: 'runs/r1/fm/ials-bad/output/model.tar.gz' }))
      .then(
        () => 'found',
        (e: Error) => e.name,
      );
    expect(listed).toBe('NoSuchKey');
  });

  it("fails a job that starts the image's default entry (the serving container) or another path", async () => {
    const request = ialsJob('ials-entry', {});
    const spec = { ...request.AlgorithmSpecification!, ContainerEntrypoint: undefined };
    const noEntry = await failureOf(runTrainingJob({ ...request, AlgorithmSpecification: spec }, deps()));
    expect(noEntry.FailureReason).toMatch(/image default: the serving container/);
    const other = await failureOf(
      runTrainingJob(
        { ...request, AlgorithmSpecification: { ...spec, ContainerEntrypoint: ['node', '/app/train.js'] } },
        deps(),
      ),
    );
    expect(other.FailureReason).toMatch(
      /^AlgorithmError: the project image trains with `node \/app\/training\.js train`/,
    );
  });

  it("fails a job whose channel prefix holds nothing with SageMaker's ClientError", async () => {
    const request = ialsJob('ials-empty', {});
    const channel = request.InputDataConfig![0];
    const empty = {
      ...request,
      InputDataConfig: [
        {
          ...channel,
          DataSource: {
            S3DataSource: {
              S3DataType: 'S3Prefix',
              S3Uri: `s3://${BUCKET}/runs/r2/prepared/split/train.csv`,
            },
          },
        },
      ],
    };
    const description = await failureOf(runTrainingJob(empty, deps()));
    expect(description.FailureReason).toMatch(/^ClientError: No S3 objects found under S3 URL/);
  });

  it('refuses any image but the built-ins and the project image when the job is created', () => {
    expect(validateTrainingJob(ialsJob('a', {}), IMAGE)).toBe('project');
    const foreign = {
      ...ialsJob('b', {}),
      AlgorithmSpecification: {
        TrainingImage: 'x.dkr.ecr.us-east-1.amazonaws.com/other:1',
        TrainingInputMode: 'File',
      },
    };
    expect(() => validateTrainingJob(foreign, IMAGE)).toThrow(SageMakerApiError);
    // Without the project image known, the project image is as foreign as any other.
    expect(() => validateTrainingJob(ialsJob('c', {}))).toThrow(/not available locally/);
  });
});
