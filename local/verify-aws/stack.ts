/**
 * The deployed stack's outputs `reelflow verify-aws` needs (DescribeStacks), combined with the deploy
 * config's settings into VerifySettings.
 */
import type { DeployConfig } from '../../pipeline/config';
import { MissingStackOutputError } from './errors';
import type { VerifySettings } from './plan';
import type { StackOutputsPort } from './ports';

/** The OutputKey of each stack output the check reads. */
export const STACK_OUTPUTS = {
  /** Required: the data bucket (exists today). */
  dataBucket: 'DataBucketName',
  /** Required: the role the training jobs assume. */
  trainingRole: 'TrainingRoleArn',
  /** Required: the execution role of the models. */
  modelRole: 'ModelRoleArn',
  /** Required: the project KMS key (volumes, outputs, endpoint config). */
  key: 'DataKeyArn',
  /** Required: the pre/post serving image URI. */
  servingImage: 'ServingImageUri',
  /** Optional: the recommend API URL (exists today); without it the deployed-API check is skipped. */
  recommendUrl: 'RecommendUrl',
  /** Optional: the production endpoint's name; the deploy config's `endpoint.name` otherwise. */
  endpointName: 'EndpointName',
} as const;

const REQUIRED = [
  STACK_OUTPUTS.dataBucket,
  STACK_OUTPUTS.trainingRole,
  STACK_OUTPUTS.modelRole,
  STACK_OUTPUTS.key,
  STACK_OUTPUTS.servingImage,
];

export async function readStackSettings(
  port: StackOutputsPort,
  stackName: string,
  region: string,
  deploy: DeployConfig,
): Promise<{ settings: VerifySettings; recommendUrl?: string; endpointName?: string }> {
  const outputs = await port.outputs(stackName);
  const missing = REQUIRED.filter((key) => !outputs[key]);
  if (missing.length > 0) throw new MissingStackOutputError(stackName, missing);
  return {
    settings: {
      region,
      bucket: outputs[STACK_OUTPUTS.dataBucket],
      trainingRoleArn: outputs[STACK_OUTPUTS.trainingRole],
      modelRoleArn: outputs[STACK_OUTPUTS.modelRole],
      keyArn: outputs[STACK_OUTPUTS.key],
      servingImageUri: outputs[STACK_OUTPUTS.servingImage],
      resourcePrefix: deploy.resourcePrefix,
      fmInstanceType: deploy.training.fmInstanceType,
      knnInstanceType: deploy.training.knnInstanceType,
      endpointInstanceType: deploy.endpoint.instanceType,
      ml: deploy.ml,
    },
    recommendUrl: outputs[STACK_OUTPUTS.recommendUrl] || undefined,
    endpointName: outputs[STACK_OUTPUTS.endpointName] || undefined,
  };
}
