/**
 * `ml.trainer` 'ials' as deployed (issue 12, point 2): the synthesized retrain definition trains with
 * TrainIALS, a training job of the project image (the image the stack names, its training entry, the
 * run's split as a text/csv channel, the iALS metric definitions) and has no TrainFM; the training role
 * may pull that image then, and only then; cdk-nag stays clean with no new acknowledgement.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { AslDefinition } from '../../pipeline/render';
import { actionsOf, resourcesOf, statementsOfRole, synthApp, type SynthesizedApp } from './synth-app';

const CDK_ML = (
  JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'cdk.json'), 'utf8')) as {
    context: { reelflow: { ml: Record<string, unknown> } };
  }
).context.reelflow.ml;

/** A template value with its intrinsics flattened (`<Logical.Arn>`, `<import:X>`, `<AWS::Partition>`). */
function flat(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(flat).join(',');
  const [[name, arg]] = Object.entries(value as Record<string, unknown>);
  if (name === 'Fn::Join') return (arg as [string, unknown[]])[1].map(flat).join((arg as [string])[0]);
  if (name === 'Ref') return `<${String(arg)}>`;
  if (name === 'Fn::ImportValue') return `<import:${flat(arg)}>`;
  if (name === 'Fn::GetAtt') return `<${(arg as string[]).join('.')}>`;
  if (name === 'Fn::Select') return `<select:${flat((arg as unknown[])[1])}>`;
  if (name === 'Fn::Split') return `<split:${flat((arg as unknown[])[1])}>`;
  return `<${name}>`;
}

function retrainDefinition(built: SynthesizedApp): AslDefinition {
  const machines = built.template.findResources('AWS::StepFunctions::StateMachine');
  const [, retrain] = Object.entries(machines).find(([id]) => id.startsWith('RetrainStateMachine'))!;
  return JSON.parse(flat(retrain.Properties.DefinitionString)) as AslDefinition;
}

/** The ECR actions the training role's policy allows, with their resources. */
function trainingRoleEcr(built: SynthesizedApp): { actions: string[]; resources: string[] }[] {
  return statementsOfRole(built.template, 'SageMakerRolesTrainingRole')
    .map((s) => ({
      actions: actionsOf(s).filter((a) => a.startsWith('ecr:')),
      resources: resourcesOf(s).map(flat),
    }))
    .filter((s) => s.actions.length > 0);
}

let ials: SynthesizedApp;
let fm: SynthesizedApp;
beforeAll(() => {
  ials = synthApp({ ml: { ...CDK_ML, trainer: 'ials' } });
  fm = synthApp();
});

describe('trainer ials, synthesized', () => {
  it('trains with TrainIALS in the project image on the split CSV, where TrainFM was', () => {
    const states = retrainDefinition(ials).States;
    expect(states).not.toHaveProperty('TrainFM');
    expect((states['HasData?'] as { Default: string }).Default).toBe('TrainIALS');
    const task = states.TrainIALS as {
      Parameters: Record<string, unknown>;
      ResultPath: string;
      Next: string;
    };
    expect(task).toMatchObject({
      Resource: 'arn:<AWS::Partition>:states:::sagemaker:createTrainingJob.sync',
      ResultPath: '$.fm',
      Next: 'BuildVectorsWhere?',
    });
    const spec = task.Parameters.AlgorithmSpecification as Record<string, unknown>;
    // The image the Processing steps and the serving models run: the project repository, content tag.
    const processingImage = (
      states.PrepareProcessing as { Parameters: { AppSpecification: { ImageUri: string } } }
    ).Parameters.AppSpecification.ImageUri;
    expect(spec.TrainingImage).toBe(processingImage);
    expect(spec.TrainingImage).toMatch(
      /\/<import:ReelflowDataStack:ExportsOutputRefServingRepository[0-9A-F]+>:sha-[0-9a-f]{64}$/,
    );
    expect(spec).toMatchObject({
      TrainingInputMode: 'File',
      ContainerEntrypoint: ['node', '/app/training.js'],
      ContainerArguments: ['train'],
      MetricDefinitions: [
        { Name: 'train:loss', Regex: expect.stringContaining('#metric train:loss=') },
        { Name: 'train:final_loss', Regex: expect.stringContaining('#metric train:final_loss=') },
      ],
    });
    expect(task.Parameters).toMatchObject({
      'TrainingJobName.$': '$.prepared.names.fmJob',
      'HyperParameters.$': '$.prepared.hyperparameters.ials',
      InputDataConfig: [
        {
          ChannelName: 'train',
          ContentType: 'text/csv',
          DataSource: {
            S3DataSource: {
              S3DataType: 'S3Prefix',
              'S3Uri.$': "States.Format('{}prepared/split/train.csv', $.prepared.uris.prefix)",
              S3DataDistributionType: 'FullyReplicated',
            },
          },
        },
      ],
      OutputDataConfig: { 'S3OutputPath.$': '$.prepared.uris.fmOutput' },
      ResourceConfig: { InstanceType: 'ml.m5.xlarge', InstanceCount: 1 },
      EnableNetworkIsolation: true,
    });
  });

  it('lets the training role pull the project image with trainer ials only', () => {
    const pulls = trainingRoleEcr(ials);
    const repository = pulls.find((s) => s.actions.includes('ecr:BatchGetImage'));
    expect(repository?.actions).toEqual(
      expect.arrayContaining([
        'ecr:BatchCheckLayerAvailability',
        'ecr:GetDownloadUrlForLayer',
        'ecr:BatchGetImage',
      ]),
    );
    expect(repository?.resources.join()).toContain('ServingRepositoryArn');
    expect(pulls.flatMap((s) => s.actions)).toContain('ecr:GetAuthorizationToken');
    expect(trainingRoleEcr(fm)).toEqual([]);
  });

  it('leaves no cdk-nag finding unacknowledged', () => {
    const violations = new AwsSolutionsChecks()
      .validateScope(ials.app)
      .violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
    expect(violations).toEqual([]);
  });
});
