/**
 * `reelflow verify-aws [--region <r>] [--profile <p>] [--stack <name>] [--config <file.json>]`: the thin
 * command around runVerifyAws (local/verify-aws.ts). Credentials and region come the AWS SDK way (env,
 * profile, SSO); the flags only choose. Prints each check as it ends (stderr), then the table and the
 * cost estimate (stdout). Exit 0 only when every check passed. Ctrl-C stops waiting and cleans up; a
 * second Ctrl-C leaves at once and prints what may be left.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { EXIT, UsageError, type ParsedArgs } from '../cli-args';
import { loadDeployConfig } from '../config';
import { runVerifyAws } from '../verify-aws';
import {
  fetchAdapter,
  lambdaRecommendAdapter,
  objectStoreAdapter,
  sageMakerAdapter,
  sageMakerRuntimeAdapter,
  stackOutputsAdapter,
} from './aws-adapters';
import { describeError } from './errors';
import { newVerifyId, verifyNames, VERIFY_PREFIX } from './plan';
import { formatReport } from './report';

export const DEFAULT_STACK = 'ReelflowStack';

export async function verifyAwsCommand(args: ParsedArgs): Promise<number> {
  const { region: regionFlag, profile, stack, config: configFile } = args.values;
  for (const [flag, value] of Object.entries({ region: regionFlag, profile, stack, config: configFile })) {
    if (value !== undefined && (typeof value !== 'string' || value === ''))
      throw new UsageError(`--${flag} needs a value`);
  }
  const stackName = (stack as string | undefined) ?? DEFAULT_STACK;
  const deploy = await loadDeployConfig({ configFile: configFile as string | undefined });
  const clientConfig = {
    ...(regionFlag ? { region: regionFlag as string } : {}),
    ...(profile ? { profile: profile as string } : {}),
  };
  const sagemaker = new SageMakerClient(clientConfig);
  let region: string;
  try {
    region = await sagemaker.config.region();
  } catch {
    process.stderr.write(
      'reelflow verify-aws: no AWS region: pass --region, or set AWS_REGION or a profile region\n',
    );
    return EXIT.failed;
  }
  // The recommend handler builds its own clients and Powertools singletons from the environment on load.
  process.env.AWS_REGION = region;
  if (profile) process.env.AWS_PROFILE = profile as string;
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

  const id = newVerifyId(new Date());
  const names = verifyNames(deploy.resourcePrefix, id);
  const controller = new AbortController();
  const onSigint = (): void => {
    if (!controller.signal.aborted) {
      process.stderr.write('\ninterrupted: cleaning up (Ctrl-C again to leave now)\n');
      controller.abort();
      return;
    }
    process.stderr.write(
      `\nleft without cleanup: delete what remains of ${names.endpoint}, ${names.endpointConfig}, ${names.model}, ` +
        `training jobs ${names.fmJob} / ${names.knnJob} (stop if running) and s3://<data bucket>/${VERIFY_PREFIX}${id}/\n`,
    );
    process.exit(130);
  };
  process.on('SIGINT', onSigint);
  process.stderr.write(
    `verify-aws ${id}: stack ${stackName} in ${region}; about 15 minutes, under 1 USD; everything created is deleted\n`,
  );
  let lastProgress = '';
  try {
    const report = await runVerifyAws(
      {
        sagemaker: sageMakerAdapter(sagemaker),
        runtime: sageMakerRuntimeAdapter(new SageMakerRuntimeClient(clientConfig)),
        recommend: lambdaRecommendAdapter(),
        storage: objectStoreAdapter(new S3Client(clientConfig), { versioned: true }),
        stack: stackOutputsAdapter(new CloudFormationClient(clientConfig)),
        http: fetchAdapter(),
      },
      {
        stackName,
        region,
        deploy,
        id,
        signal: controller.signal,
        onCheck: (c) =>
          process.stderr.write(
            `  ${c.result.padEnd(4)}  ${c.check}: ${c.detail} (${c.seconds.toFixed(1)} s)\n`,
          ),
        onProgress: (message) => {
          if (message === lastProgress) return;
          lastProgress = message;
          process.stderr.write(`        ${message}\n`);
        },
      },
    );
    process.stdout.write(`\n${formatReport(report)}\n`);
    return report.passed ? EXIT.ok : EXIT.failed;
  } catch (error) {
    process.stderr.write(`reelflow verify-aws: ${describeError(error)}\n`);
    return EXIT.failed;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
