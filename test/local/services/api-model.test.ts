import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ApiValidationError,
  compilePattern,
  loadServiceModel,
  MODEL_DIR,
  modelServices,
  taskOperation,
  untranslatedPatterns,
  validateRequest,
} from '../../../local/services/api-model';
import { USED_OPERATIONS } from '../../../local/aws-models/update';

const KEY = 'arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-000000000000';

/** A CreateTrainingJob request the FM step sends (resolved Parameters). */
const trainingJob = (): Record<string, unknown> => ({
  TrainingJobName: 'reelflow-fm-r1',
  RoleArn: 'arn:aws:iam::123456789012:role/reelflow-training',
  AlgorithmSpecification: {
    TrainingImage: '382416733822.dkr.ecr.us-east-1.amazonaws.com/factorization-machines:1',
    TrainingInputMode: 'File',
  },
  HyperParameters: { feature_dim: '1500', num_factors: '64' },
  InputDataConfig: [
    {
      ChannelName: 'train',
      DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 's3://b/train/' } },
    },
  ],
  OutputDataConfig: { S3OutputPath: 's3://b/fm/', KmsKeyId: KEY },
  ResourceConfig: { InstanceType: 'ml.m5.xlarge', InstanceCount: 1, VolumeSizeInGB: 30, VolumeKmsKeyId: KEY },
  StoppingCondition: { MaxRuntimeInSeconds: 14400 },
  EnableNetworkIsolation: true,
});

/** The error validateRequest throws (or undefined). */
function refusal(service: string, operation: string, input: unknown): ApiValidationError | undefined {
  try {
    validateRequest(service, operation, input);
    return undefined;
  } catch (error) {
    if (error instanceof ApiValidationError) return error;
    throw error;
  }
}

describe('validateRequest', () => {
  it('accepts a request the workflows send when it fits the model', () => {
    expect(refusal('sagemaker', 'CreateTrainingJob', trainingJob())).toBeUndefined();
    expect(refusal('ssm', 'GetParameter', { Name: '/reelflow/production-model', WithDecryption: true })).toBe(
      undefined,
    );
  });

  it('refuses a missing required member with ValidationException and "Member must not be null"', () => {
    const input = trainingJob();
    delete input.TrainingJobName;
    const error = refusal('sagemaker', 'CreateTrainingJob', input);
    expect(error).toMatchObject({
      code: 'ValidationException',
      message:
        "1 validation error detected: Value null at 'trainingJobName' failed to satisfy constraint: " +
        'Member must not be null',
    });
  });

  it('refuses a value out of the enum, naming the nested member lowerCamel and the enum set', () => {
    const input = trainingJob();
    (input.ResourceConfig as Record<string, unknown>).InstanceType = 'ml.bogus';
    const error = refusal('sagemaker', 'CreateTrainingJob', input)!;
    expect(error.code).toBe('ValidationException');
    expect(error.message).toMatch(
      /^1 validation error detected: Value 'ml\.bogus' at 'resourceConfig\.instanceType' failed to satisfy constraint: Member must satisfy enum value set: \[ml\.m4\.xlarge, .*ml\.m5\.xlarge, .*\]$/,
    );
  });

  it('refuses too long and too short strings, listing every violation like AWS', () => {
    const input = { ...trainingJob(), TrainingJobName: 'x'.repeat(64), RoleArn: 'arn:role' };
    const error = refusal('sagemaker', 'CreateTrainingJob', input)!;
    expect(error.message).toMatch(/^4 validation errors detected: /);
    expect(error.message).toContain(
      `Value '${'x'.repeat(64)}' at 'trainingJobName' failed to satisfy constraint: Member must have length less than or equal to 63`,
    );
    expect(error.message).toContain(
      "Value 'arn:role' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20",
    );
    expect(error.message).toContain(
      "Value 'arn:role' at 'roleArn' failed to satisfy constraint: Member must satisfy regular expression pattern: " +
        'arn:aws[a-z\\-]*:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+',
    );
  });

  it('refuses a name that breaks the pattern, matching the whole value as Java does', () => {
    const error = refusal('sagemaker', 'CreateTrainingJob', { ...trainingJob(), TrainingJobName: 'fm_r1' });
    expect(error?.message).toBe(
      "1 validation error detected: Value 'fm_r1' at 'trainingJobName' failed to satisfy constraint: " +
        'Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}',
    );
    // A prefix that matches is not enough: AWS matches the whole value.
    expect(
      refusal('sagemaker', 'CreateTrainingJob', { ...trainingJob(), TrainingJobName: 'fm-' }),
    ).toBeDefined();
  });

  it('refuses a number out of range', () => {
    const input = trainingJob();
    input.StoppingCondition = { MaxRuntimeInSeconds: 0 };
    expect(refusal('sagemaker', 'CreateTrainingJob', input)?.message).toBe(
      "1 validation error detected: Value '0' at 'stoppingCondition.maxRuntimeInSeconds' failed to satisfy constraint: " +
        'Member must have value greater than or equal to 1',
    );
  });

  it('refuses a bad member of a list element at its `.N.member.` path', () => {
    const input = trainingJob();
    input.InputDataConfig = [
      ...(input.InputDataConfig as object[]),
      {
        ChannelName: 'bad channel',
        DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: 'http:/x' } },
      },
    ];
    const error = refusal('sagemaker', 'CreateTrainingJob', input)!;
    expect(error.violations.map((v) => [v.kind, v.path])).toEqual([
      ['pattern', 'inputDataConfig.2.member.channelName'],
      ['pattern', 'inputDataConfig.2.member.dataSource.s3DataSource.s3Uri'],
    ]);
  });

  it('refuses a map whose values break the constraints, as "Map value must satisfy constraint"', () => {
    const input = { ...trainingJob(), HyperParameters: { feature_dim: 'x'.repeat(2501) } };
    const error = refusal('sagemaker', 'CreateTrainingJob', input)!;
    expect(error.message).toMatch(
      /at 'hyperParameters' failed to satisfy constraint: Map value must satisfy constraint: \[Member must have length less than or equal to 2500\]$/,
    );
  });

  it('refuses a list of scalars with too many or bad elements (CloudWatch: ValidationError)', () => {
    const error = refusal('cloudwatch', 'DescribeAlarms', {
      AlarmNames: Array.from({ length: 101 }, (_, i) => `a${i}`),
      StateValue: 'FIRING',
    })!;
    expect(error.code).toBe('ValidationError');
    expect(error.violations.map((v) => [v.kind, v.path])).toEqual([
      ['length', 'alarmNames'],
      ['enum', 'stateValue'],
    ]);
    expect(error.message).toContain(
      "Value 'FIRING' at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set: [OK, ALARM, INSUFFICIENT_DATA]",
    );
  });

  it('refuses a numeric string where a number belongs with SerializationException', () => {
    const input = trainingJob();
    (input.ResourceConfig as Record<string, unknown>).InstanceCount = '1';
    const error = refusal('sagemaker', 'CreateTrainingJob', input)!;
    expect(error.code).toBe('SerializationException');
    expect(error.message).toBe(
      "STRING_VALUE can not be converted to an Integer (at 'resourceConfig.instanceCount')",
    );
    // ...and a number where a string belongs (hyperparameter values are strings).
    const numeric = refusal('sagemaker', 'CreateTrainingJob', {
      ...trainingJob(),
      HyperParameters: { k: 10 },
    });
    expect(numeric?.message).toBe("NUMBER_VALUE can not be converted to a String (at 'hyperParameters.k')");
  });

  it('refuses a member the model does not have, naming the field', () => {
    const error = refusal('ssm', 'GetParameter', { Name: '/p', Decrypt: true })!;
    expect(error.code).toBe('ValidationException');
    expect(error.violations).toMatchObject([{ kind: 'unknown', memberPath: 'Decrypt' }]);
    expect(error.message).toBe(
      `1 validation error detected: The field "Decrypt" at 'decrypt' is not a member of GetParameterRequest`,
    );
  });

  it("answers with each service's own validation error code", () => {
    expect(refusal('sns', 'Publish', { TopicArn: 'arn:t' })).toMatchObject({
      code: 'InvalidParameter',
      message:
        "1 validation error detected: Value null at 'message' failed to satisfy constraint: Member must not be null",
    });
    expect(refusal('codepipeline', 'StartPipelineExecution', { name: 'bad name!' })?.code).toBe(
      'ValidationException',
    );
    expect(refusal('s3', 'GetObject', { Bucket: 'b' })?.code).toBe('InvalidArgument');
  });
});

describe('compilePattern', () => {
  it('translates every pattern of the committed models (none skipped)', () => {
    const patterns = new Set<string>();
    for (const service of modelServices()) {
      for (const shape of Object.values(loadServiceModel(service).shapes)) {
        if (shape.pattern) patterns.add(shape.pattern);
      }
    }
    const skipped = [...patterns].filter((pattern) => !compilePattern(pattern));
    expect(patterns.size).toBeGreaterThan(40);
    expect(skipped).toEqual([]);
  });

  it('translates Java-only constructs: POSIX classes, \\A \\z, \\p{L} and possessive quantifiers', () => {
    expect(compilePattern('\\A\\S[\\p{Print}]*\\z')?.test('application/json')).toBe(true);
    expect(compilePattern('\\A\\S[\\p{Print}]*\\z')?.test(' x')).toBe(false);
    expect(compilePattern('\\p{ASCII}*')?.test('héllo')).toBe(false);
    expect(compilePattern('([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)')?.test('Größe 1-2@x')).toBe(true);
    expect(compilePattern('arn:[\\p{Alnum}\\-]+:lambda:.*')?.test('arn:aws:lambda:f')).toBe(true);
    expect(compilePattern('a++b')?.test('aab')).toBe(true);
  });

  it('skips and counts a pattern it cannot translate, without throwing', () => {
    expect(compilePattern('\\h+[a-z&&[^b]]')).toBeUndefined();
    expect(untranslatedPatterns.has('\\h+[a-z&&[^b]]')).toBe(true);
  });
});

describe('taskOperation', () => {
  it('maps optimized, .sync and AWS SDK task resources to the service and operation', () => {
    expect(taskOperation('arn:aws:states:::sagemaker:createTrainingJob.sync')).toEqual({
      service: 'sagemaker',
      operation: 'CreateTrainingJob',
      integration: 'optimized',
    });
    expect(taskOperation('arn:aws:states:::aws-sdk:s3:listObjectsV2')).toEqual({
      service: 's3',
      operation: 'ListObjectsV2',
      integration: 'sdk',
    });
    expect(taskOperation('arn:aws:states:::sns:publish')?.operation).toBe('Publish');
    expect(taskOperation('arn:aws:lambda:us-east-1:1:function:f')).toBeUndefined();
  });
});

describe('the trimmed models in local/aws-models', () => {
  it('record their botocore source and the Apache-2.0 notice', () => {
    for (const service of modelServices()) {
      const { source } = loadServiceModel(service);
      expect(source).toMatchObject({
        botocoreVersion: expect.stringMatching(/^\d+\.\d+\.\d+$/),
        path: expect.stringMatching(new RegExp(`^${service}/\\d{4}-\\d{2}-\\d{2}/service-2\\.json$`)),
        license: 'Apache-2.0',
        generated: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
      });
    }
  });

  it('hold exactly the operations update.ts lists, with every shape they reach and no documentation', () => {
    expect(modelServices()).toEqual(Object.keys(USED_OPERATIONS).sort());
    for (const [service, operations] of Object.entries(USED_OPERATIONS)) {
      const model = loadServiceModel(service);
      expect(Object.keys(model.operations).sort()).toEqual([...operations].sort());
      for (const shape of Object.values(model.shapes)) {
        const refs = [...Object.values(shape.members ?? {}), shape.member, shape.key, shape.value];
        for (const ref of refs) if (ref) expect(model.shapes[ref.shape]).toBeDefined();
      }
      expect(readFileSync(join(MODEL_DIR, `${service}.json`), 'utf8')).not.toContain('"documentation"');
    }
    expect(readdirSync(MODEL_DIR).filter((f) => f.endsWith('.json'))).toHaveLength(modelServices().length);
  });

  it('include every operation a task binding or the local JSON API calls', () => {
    const used: [string, string][] = [
      ['sagemaker', 'CreateTrainingJob'],
      ['sagemaker', 'CreateModel'],
      ['sagemaker', 'CreateTransformJob'],
      ['sagemaker', 'CreateEndpointConfig'],
      ['sagemaker', 'CreateEndpoint'],
      ['sagemaker', 'DescribeEndpoint'],
      ['sagemaker', 'UpdateEndpoint'],
      ['sagemaker', 'DeleteEndpoint'],
      ['ssm', 'GetParameter'],
      ['ssm', 'PutParameter'],
      ['cloudwatch', 'DescribeAlarms'],
      ['cloudwatch', 'SetAlarmState'],
      ['s3', 'GetObject'],
      ['sns', 'Publish'],
      ['codepipeline', 'StartPipelineExecution'],
      ['codepipeline', 'PutJobSuccessResult'],
      ['codepipeline', 'PutJobFailureResult'],
      ['sagemaker-runtime', 'InvokeEndpoint'],
    ];
    const missing = used.filter(([service, operation]) => !loadServiceModel(service).operations[operation]);
    expect(missing).toEqual([]);
  });
});
