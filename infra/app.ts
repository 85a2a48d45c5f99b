/**
 * The reelflow CDK app. The one place that reads configuration: `cdk.json` `context.reelflow`, parsed
 * and validated here (a bad value fails synth with a message naming the key) and passed down as props.
 * cdk-nag's AwsSolutions pack runs as a validation plugin on every synth.
 */
import { App, type Environment, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CONFIG_CONTEXT_KEY, type DeployConfig, parseDeployConfig } from '../pipeline/config';
import { ReelflowDataStack } from './stacks/data-stack';
import { ReelflowStack } from './stacks/reelflow-stack';

export interface ReelflowApp {
  readonly app: App;
  readonly dataStack: ReelflowDataStack;
  readonly stack: ReelflowStack;
}

/** Builds both stacks into `app` from a validated config. */
export function buildReelflowApp(app: App, config: DeployConfig, env: Environment): ReelflowApp {
  const dataStack = new ReelflowDataStack(app, 'ReelflowDataStack', {
    env,
    config,
    description:
      'reelflow data: KMS key, data bucket, access-log bucket, serving image repository (retained)',
    terminationProtection: config.dataStackTerminationProtection,
  });
  const stack = new ReelflowStack(app, 'ReelflowStack', {
    env,
    config,
    description:
      'reelflow: trigger, release pipeline, retrain and deploy workflows, recommend API, monitoring',
    key: dataStack.key,
    // An explicitly named export: the name then renders the same while the app is built and in the
    // template, which is what the per-prefix cdk-nag acknowledgements of the bucket grants are keyed on.
    dataBucketName: dataStack.exportValue(dataStack.dataBucket.bucketName, {
      name: `${dataStack.stackName}:DataBucketName`,
    }),
    servingRepository: {
      repositoryArn: dataStack.servingRepository.repositoryArn,
      repositoryName: dataStack.servingRepository.repositoryName,
    },
    accessLogBucketName: dataStack.accessLogBucket.bucketName,
  });
  stack.addStackDependency(dataStack);
  return { app, dataStack, stack };
}

/** The environment: explicit in config, else the CLI's default account and region. */
export function resolveEnvironment(config: DeployConfig, processEnv: NodeJS.ProcessEnv): Environment {
  return {
    account: config.account ?? (processEnv.CDK_DEFAULT_ACCOUNT || undefined),
    region: config.region ?? (processEnv.CDK_DEFAULT_REGION || undefined),
  };
}

/** Reads and validates the config from the app's context, builds the stacks and registers cdk-nag. */
export function main(app: App = new App()): ReelflowApp {
  const config = parseDeployConfig(app.node.tryGetContext(CONFIG_CONTEXT_KEY));
  const built = buildReelflowApp(app, config, resolveEnvironment(config, process.env));
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return built;
}

if (require.main === module) {
  main();
}
