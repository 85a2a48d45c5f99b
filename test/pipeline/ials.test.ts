/**
 * `ml.trainer` in the rendered retrain definition (issue 12, point 2): a choice made at synth. With 'fm'
 * (the default) the definition is the one it was (TrainFM, no TrainIALS); with 'ials' TrainIALS takes
 * TrainFM's place with the same neighbours and result path, and the config refuses what cannot work
 * with it (the FM tuning search, several instances).
 */
import { ConfigError } from '../../functions/core/config';
import { parseDeployConfig } from '../../pipeline/config';
import { RENDER_PLACEHOLDERS, renderWorkflowDefinitions } from '../../pipeline/render';
import { RETRAIN_STATES as S } from '../../pipeline/retrain/states';
import { aslErrors } from './asl';

describe('the embedding trainer in the retrain definition', () => {
  const fm = renderWorkflowDefinitions(parseDeployConfig({})).retrain;
  const ials = renderWorkflowDefinitions(parseDeployConfig({ ml: { trainer: 'ials' } })).retrain;

  it('is FM by default: TrainFM on the built-in image, no TrainIALS', () => {
    expect(fm.States).not.toHaveProperty(S.trainIals);
    expect(fm.States[S.hasData].Default).toBe(S.trainFm);
    const spec = (fm.States[S.trainFm].Parameters as Record<string, unknown>).AlgorithmSpecification;
    expect(spec).toEqual({
      TrainingImage: '382416733822.dkr.ecr.us-east-1.amazonaws.com/factorization-machines:1',
      TrainingInputMode: 'File',
    });
  });

  it('with ials, runs TrainIALS where TrainFM was: the project image, its training entry, the split CSV', () => {
    expect(aslErrors(ials)).toBe('');
    expect(ials.States).not.toHaveProperty(S.trainFm);
    expect(ials.States[S.hasData].Default).toBe(S.trainIals);
    expect(ials.States[S.trainIals]).toMatchObject({
      Type: 'Task',
      Resource: 'arn:aws:states:::sagemaker:createTrainingJob.sync',
      ResultSelector: { 'artifact.$': '$.ModelArtifacts.S3ModelArtifacts', 'job.$': '$.TrainingJobName' },
      ResultPath: '$.fm',
      Next: 'BuildVectorsWhere?',
      Catch: [{ ErrorEquals: ['States.ALL'], Next: S.notifyFailure, ResultPath: '$.error' }],
      Parameters: {
        'TrainingJobName.$': '$.prepared.names.fmJob',
        RoleArn: RENDER_PLACEHOLDERS.trainingRole,
        AlgorithmSpecification: {
          TrainingImage: RENDER_PLACEHOLDERS.servingImage,
          TrainingInputMode: 'File',
          ContainerEntrypoint: ['node', '/app/training.js'],
          ContainerArguments: ['train'],
          MetricDefinitions: [
            { Name: 'train:loss', Regex: '#metric train:loss=([-+0-9.eE]+|NaN)' },
            { Name: 'train:final_loss', Regex: '#metric train:final_loss=([-+0-9.eE]+|NaN)' },
          ],
        },
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
        OutputDataConfig: { 'S3OutputPath.$': '$.prepared.uris.fmOutput', KmsKeyId: RENDER_PLACEHOLDERS.key },
        ResourceConfig: {
          InstanceType: 'ml.m5.xlarge',
          InstanceCount: 1,
          VolumeKmsKeyId: RENDER_PLACEHOLDERS.key,
        },
        EnableNetworkIsolation: true,
      },
    });
    // The same image the Processing steps run.
    expect(
      (ials.States.PrepareProcessing.Parameters as { AppSpecification: { ImageUri: string } })
        .AppSpecification.ImageUri,
    ).toBe(RENDER_PLACEHOLDERS.servingImage);
    // Everything else is FM's definition unchanged (but the rendered config's trainer).
    const rest = (d: typeof fm): unknown => {
      const states = JSON.parse(JSON.stringify(d.States).replaceAll(S.trainIals, S.trainFm)) as Record<
        string,
        { Result?: { ml?: Record<string, unknown> } }
      >;
      delete states[S.trainFm];
      delete states[S.loadConfig].Result!.ml!.trainer;
      return states;
    };
    expect(rest(ials)).toEqual(rest(fm));
  });

  it('refuses the tuning search and several instances with ials, naming the keys', () => {
    expect(() => parseDeployConfig({ ml: { trainer: 'ials' }, tuning: { enabled: true } })).toThrow(
      new ConfigError(
        "invalid config reelflow.tuning.enabled: the tuning search trains FM trials and tunes FM's settings; " +
          "with ml.trainer 'ials' it does not apply: set tuning.enabled to false (or ml.trainer to fm)",
      ),
    );
    expect(() => parseDeployConfig({ ml: { trainer: 'ials' }, training: { fmInstanceCount: 2 } })).toThrow(
      /reelflow\.training\.fmInstanceCount: the iALS training job runs on one instance/,
    );
    expect(() =>
      parseDeployConfig({ tuning: { enabled: true }, training: { fmInstanceCount: 2 } }),
    ).not.toThrow();
  });
});
