/**
 * `reelflow doctor [--aws [--region <r>] [--profile <p>]] [--config <file.json>] [--home <folder>]`: checks an
 * account before the first `npx cdk deploy`, one line per check (OK, WARN or FAIL) with what to fix:
 *
 * - credentials and region: the first call's error, explained (errors.ts explainAwsError);
 * - CDK bootstrap: SSM `/cdk-bootstrap/hnb659fds/version` at least the version the app's templates
 *   require (their CheckBootstrapVersion rule; aws-cdk-lib's DefaultStackSynthesizer asks for 6);
 * - Lambda concurrency: reserving `api.reservedConcurrency` for the recommend function must leave 100
 *   unreserved (GetAccountSettings), or AWS refuses the function; new accounts have 10 in all;
 * - Lambda memory: `workflowMemoryMb` above 3008 MB needs a raised account quota no API reports
 *   (pipeline/config-rules.ts, checkLambdaMemory);
 * - SageMaker instance quotas (Service Quotas, `sagemaker`): what pipeline/config-rules.ts
 *   sageMakerQuotaNeeds and processingQuotaNeeds derive from the config (training, parallel transforms,
 *   blue/green endpoint, the data steps' Processing jobs);
 * - Docker: only a WARN when missing; the pipeline's Checks stage builds the serving image.
 *
 * The deploy config is cdk.json's (plus --config overrides, local/config.ts). Without --aws the same
 * checks run against the local twin (its state.json's awsJsonEndpoint). Exit 0 when nothing FAILs.
 */
import { execFile } from 'node:child_process';
import { GetAccountSettingsCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  ListAWSDefaultServiceQuotasCommand,
  ListServiceQuotasCommand,
  ServiceQuotasClient,
  type ServiceQuota,
} from '@aws-sdk/client-service-quotas';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import {
  NEW_ACCOUNT_LAMBDA_MEMORY_MB,
  processingQuotaNeeds,
  sageMakerQuotaNeeds,
} from '../../pipeline/config-rules';
import type { DeployConfig } from '../../pipeline/config';
import { EXIT, UsageError, type ParsedArgs } from '../cli-args';
import { loadDeployConfig } from '../config';
import { DEFAULT_HOME, homeLayout, runningInstance } from '../home';
import { LOCAL_REGION } from '../services/local-account';
import { awsErrorName, explainAwsError, OperatorError } from './errors';
import { STDOUT_IO, type OperatorIo } from './target';

/** The flags of `doctor` beyond --aws/--region/--profile/--home (cli.ts spreads them into its options). */
export const DOCTOR_OPTIONS = { config: { type: 'string' } } as const;

/** Where the CDK bootstrap stack records its version (default qualifier). */
export const BOOTSTRAP_VERSION_PARAMETER = '/cdk-bootstrap/hnb659fds/version';
/**
 * The bootstrap version the app's templates require: the CheckBootstrapVersion rule aws-cdk-lib's
 * DefaultStackSynthesizer writes into each template (test/local/operate/doctor.test.ts pins it).
 */
export const REQUIRED_BOOTSTRAP_VERSION = 6;
/** Lambda keeps this much account concurrency unreserved; a reservation that leaves less is refused. */
export const MIN_UNRESERVED_CONCURRENCY = 100;
/** How long `docker version` may take. */
const DOCKER_TIMEOUT_MS = 5000;

export type CheckLevel = 'OK' | 'WARN' | 'FAIL';

/** One printed line. */
export interface CheckResult {
  readonly level: CheckLevel;
  readonly check: string;
  readonly detail: string;
}

/** The clients the checks call, bound to one region (AWS, or the twin's endpoint). */
export interface DoctorTarget {
  readonly kind: 'aws' | 'local';
  readonly region: string;
  readonly clients: {
    readonly ssm: SSMClient;
    readonly lambda: LambdaClient;
    readonly serviceQuotas: ServiceQuotasClient;
  };
  destroy(): void;
}

/** `docker version`'s answer: the server version, or why there is none. */
export type DockerProbe =
  { readonly ok: true; readonly version: string } | { readonly ok: false; readonly reason: string };

export interface DoctorDeps {
  readonly io: OperatorIo;
  /** @default runs `docker version` with a 5 s timeout */
  readonly docker?: () => Promise<DockerProbe>;
}

/** The command: the config, the target (AWS or the twin), the checks. */
export async function doctorCommand(args: ParsedArgs, io: OperatorIo = STDOUT_IO): Promise<number> {
  if (args.positionals.length > 0) throw new UsageError('doctor takes no arguments');
  const config = await loadDeployConfig({ configFile: textFlag(args, 'config') });
  const target = args.values.aws ? await awsDoctorTarget(args, config) : localDoctorTarget(args);
  try {
    return await runDoctor(target, config, { io });
  } finally {
    target.destroy();
  }
}

/** Runs every check, prints one line each and a verdict; EXIT.failed when any check FAILs. */
export async function runDoctor(
  target: DoctorTarget,
  config: DeployConfig,
  deps: DoctorDeps,
): Promise<number> {
  const results = await doctorChecks(target, config, deps.docker ?? dockerVersion);
  const width = Math.max(...results.map((r) => r.check.length));
  for (const r of results) deps.io.out(`${r.level.padEnd(4)}  ${r.check.padEnd(width)}  ${r.detail}`);
  const fails = results.filter((r) => r.level === 'FAIL').length;
  const warns = results.filter((r) => r.level === 'WARN').length;
  deps.io.out(
    fails > 0
      ? `${fails} FAIL, ${warns} WARN: fix the FAIL lines before npx cdk deploy`
      : `no FAIL, ${warns} WARN: ready for npx cdk deploy --all`,
  );
  return fails > 0 ? EXIT.failed : EXIT.ok;
}

/** The checks in order; the first call doubles as the credentials check. */
export async function doctorChecks(
  target: DoctorTarget,
  config: DeployConfig,
  docker: () => Promise<DockerProbe>,
): Promise<CheckResult[]> {
  const { region } = target;
  let parameter: { value?: string; arn?: string } | null;
  let bootstrapError: unknown;
  try {
    const { Parameter } = await target.clients.ssm.send(
      new GetParameterCommand({ Name: BOOTSTRAP_VERSION_PARAMETER }),
    );
    parameter = { value: Parameter?.Value, arn: Parameter?.ARN };
  } catch (error) {
    if (isCredentialsError(error)) {
      const detail = explainAwsError(error, { region, what: 'reach AWS' });
      // Every other check would fail the same way.
      return [{ level: 'FAIL', check: 'credentials', detail }, await dockerCheck(docker)];
    }
    parameter = null;
    if (awsErrorName(error) !== 'ParameterNotFound') bootstrapError = error;
  }
  const quotas = await quotaChecks(target, config);
  const account = config.account ?? accountOf(parameter?.arn) ?? quotas.account ?? '<account>';
  return [
    {
      level: 'OK',
      check: 'credentials',
      detail: `${target.kind === 'local' ? 'local twin, ' : ''}account ${account}, region ${region}`,
    },
    bootstrapCheck(parameter, bootstrapError, account, region),
    await concurrencyCheck(target, config),
    memoryCheck(config),
    ...quotas.results,
    await dockerCheck(docker),
  ];
}

function bootstrapCheck(
  parameter: { value?: string } | null,
  error: unknown,
  account: string,
  region: string,
): CheckResult {
  const check = 'cdk bootstrap';
  const fix = `run npx cdk bootstrap aws://${account}/${region}`;
  if (error !== undefined) {
    return {
      level: 'FAIL',
      check,
      detail: explainAwsError(error, { region, what: `read ${BOOTSTRAP_VERSION_PARAMETER}` }),
    };
  }
  if (!parameter)
    return { level: 'FAIL', check, detail: `not bootstrapped (no ${BOOTSTRAP_VERSION_PARAMETER}): ${fix}` };
  const version = Number(parameter.value);
  if (!Number.isInteger(version) || version < REQUIRED_BOOTSTRAP_VERSION) {
    return {
      level: 'FAIL',
      check,
      detail: `bootstrap version ${parameter.value ?? '?'} is older than the ${REQUIRED_BOOTSTRAP_VERSION} the app needs: ${fix}`,
    };
  }
  return {
    level: 'OK',
    check,
    detail: `version ${version} (the app needs >= ${REQUIRED_BOOTSTRAP_VERSION})`,
  };
}

async function concurrencyCheck(target: DoctorTarget, config: DeployConfig): Promise<CheckResult> {
  const check = 'lambda concurrency';
  let limit;
  try {
    ({ AccountLimit: limit } = await target.clients.lambda.send(new GetAccountSettingsCommand({})));
  } catch (error) {
    return {
      level: 'FAIL',
      check,
      detail: explainAwsError(error, { region: target.region, what: 'read the Lambda account settings' }),
    };
  }
  const total = limit?.ConcurrentExecutions ?? 0;
  const unreserved = limit?.UnreservedConcurrentExecutions ?? 0;
  const reserved = config.api.reservedConcurrency;
  const left = unreserved - reserved;
  const what = `reserving ${reserved} for the recommend function (api.reservedConcurrency) leaves ${left} of ${unreserved} unreserved`;
  if (left >= MIN_UNRESERVED_CONCURRENCY) {
    return {
      level: 'OK',
      check,
      detail: `${what} (account total ${total}; AWS keeps >= ${MIN_UNRESERVED_CONCURRENCY})`,
    };
  }
  const needed = total + (MIN_UNRESERVED_CONCURRENCY - left);
  const lower = unreserved - MIN_UNRESERVED_CONCURRENCY;
  return {
    level: 'FAIL',
    check,
    detail:
      `${what}; AWS refuses a reservation that leaves under ${MIN_UNRESERVED_CONCURRENCY}: request "Concurrent executions" ` +
      `>= ${needed} (Service Quotas -> AWS Lambda, now ${total})` +
      (lower >= 1 ? ` or lower api.reservedConcurrency to ${lower}` : ''),
  };
}

function memoryCheck(config: DeployConfig): CheckResult {
  const check = 'lambda memory';
  const { workflowMemoryMb: mb, lambdaMemoryQuotaMb: quota } = config;
  if (mb <= NEW_ACCOUNT_LAMBDA_MEMORY_MB) {
    return {
      level: 'OK',
      check,
      detail: `workflowMemoryMb ${mb} MB fits every account (new accounts allow ${NEW_ACCOUNT_LAMBDA_MEMORY_MB} MB)`,
    };
  }
  return {
    level: 'WARN',
    check,
    detail:
      `workflowMemoryMb ${mb} MB needs the account's Lambda memory quota raised above ${NEW_ACCOUNT_LAMBDA_MEMORY_MB} MB ` +
      `(lambdaMemoryQuotaMb says ${quota}); no API reports it: unless AWS raised it (Service Quotas -> AWS Lambda, ` +
      `or a support case), the deploy fails creating the workflow functions`,
  };
}

/** The SageMaker instance quotas the config needs, against the applied values (defaults as a fallback). */
async function quotaChecks(
  target: DoctorTarget,
  config: DeployConfig,
): Promise<{ results: CheckResult[]; account?: string }> {
  let quotas: ServiceQuota[];
  try {
    quotas = await listQuotas(target, 'applied');
  } catch (error) {
    const detail = explainAwsError(error, { region: target.region, what: 'list the SageMaker quotas' });
    return { results: [{ level: 'FAIL', check: 'sagemaker quotas', detail }] };
  }
  const values = new Map(quotas.map((q) => [q.QuotaName ?? '', q.Value ?? 0]));
  const needs = [...sageMakerQuotaNeeds(config), ...processingQuotaNeeds(config)];
  if (needs.some((need) => !values.has(need.quotaName))) {
    // ListServiceQuotas leaves out quotas whose applied value is not available; their defaults apply.
    const defaults = await listQuotas(target, 'default').catch(() => []);
    for (const q of defaults)
      if (q.QuotaName && !values.has(q.QuotaName)) values.set(q.QuotaName, q.Value ?? 0);
  }
  const results = needs.map((need): CheckResult => {
    const check = 'sagemaker quota';
    const value = values.get(need.quotaName);
    if (value === undefined) {
      return {
        level: 'WARN',
        check,
        detail: `${need.quotaName}: not listed; check it in Service Quotas -> Amazon SageMaker (needs ${need.instances})`,
      };
    }
    if (value < need.instances) {
      return {
        level: 'FAIL',
        check,
        detail:
          `${need.quotaName} is ${value}, this config needs ${need.instances} (${need.reason}): request an increase to ` +
          `>= ${need.instances} in Service Quotas -> Amazon SageMaker, or jobs fail with ResourceLimitExceeded`,
      };
    }
    return { level: 'OK', check, detail: `${need.quotaName}: ${value} (needs ${need.instances})` };
  });
  return { results, account: quotas.map((q) => accountOf(q.QuotaArn)).find(Boolean) };
}

async function listQuotas(target: DoctorTarget, which: 'applied' | 'default'): Promise<ServiceQuota[]> {
  const quotas: ServiceQuota[] = [];
  let NextToken: string | undefined;
  do {
    const input = { ServiceCode: 'sagemaker', MaxResults: 100, NextToken };
    const page = await target.clients.serviceQuotas.send(
      which === 'applied'
        ? new ListServiceQuotasCommand(input)
        : new ListAWSDefaultServiceQuotasCommand(input),
    );
    quotas.push(...(page.Quotas ?? []));
    NextToken = page.NextToken;
  } while (NextToken);
  return quotas;
}

async function dockerCheck(docker: () => Promise<DockerProbe>): Promise<CheckResult> {
  const probe = await docker();
  if (probe.ok) return { level: 'OK', check: 'docker', detail: `Docker ${probe.version}` };
  return {
    level: 'WARN',
    check: 'docker',
    detail: `${probe.reason}: only needed to build the serving image by hand; the pipeline's Checks stage builds it`,
  };
}

/** `docker version` with a timeout. */
export function dockerVersion(): Promise<DockerProbe> {
  return new Promise((resolve) => {
    execFile(
      'docker',
      ['version', '--format', '{{.Server.Version}}'],
      { timeout: DOCKER_TIMEOUT_MS },
      (error, stdout, stderr) => {
        if (!error) return resolve({ ok: true, version: stdout.trim() });
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return resolve({ ok: false, reason: 'docker is not installed' });
        if (error.killed)
          return resolve({
            ok: false,
            reason: `docker version did not answer in ${DOCKER_TIMEOUT_MS / 1000} s`,
          });
        const line = `${stderr}`.trim().split('\n')[0] || error.message;
        resolve({ ok: false, reason: `docker does not answer (${line})` });
      },
    );
  });
}

/** Errors that mean no call can succeed: no or bad credentials, no region, no endpoint. */
export function isCredentialsError(error: unknown): boolean {
  const name = awsErrorName(error);
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return (
    [
      'CredentialsProviderError',
      'TokenProviderError',
      'ExpiredToken',
      'ExpiredTokenException',
      'RequestExpired',
      'UnrecognizedClientException',
      'InvalidClientTokenId',
      'InvalidSignatureException',
      'SignatureDoesNotMatch',
    ].includes(name) ||
    code === 'ENOTFOUND' ||
    code === 'ECONNREFUSED' ||
    /ENOTFOUND|ECONNREFUSED|Region is missing/.test(message)
  );
}

/** The account id in an ARN (`arn:aws:ssm:eu-west-1:123456789012:parameter/...`). */
function accountOf(arn: string | undefined): string | undefined {
  const account = arn?.split(':')[4];
  return account && /^\d{12}$/.test(account) ? account : undefined;
}

async function awsDoctorTarget(args: ParsedArgs, config: DeployConfig): Promise<DoctorTarget> {
  const profile = textFlag(args, 'profile');
  const base = profile ? { profile } : {};
  let region = textFlag(args, 'region') ?? config.region;
  if (!region) {
    const probe = new SSMClient(base);
    try {
      region = await probe.config.region();
    } catch {
      throw new OperatorError('no AWS region: pass --region, or set AWS_REGION or a region in the profile');
    } finally {
      probe.destroy();
    }
  }
  return doctorTarget('aws', { ...base, region });
}

function localDoctorTarget(args: ParsedArgs): DoctorTarget {
  const layout = homeLayout(textFlag(args, 'home') ?? DEFAULT_HOME);
  const state = runningInstance(layout);
  if (!state)
    throw new OperatorError(
      `no reelflow is running on ${layout.root}: start one with npm start, or pass --aws`,
    );
  const region = (state as { region?: string }).region ?? LOCAL_REGION;
  return doctorTarget('local', {
    region,
    endpoint: state.awsJsonEndpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

function doctorTarget(
  kind: DoctorTarget['kind'],
  config: {
    region: string;
    profile?: string;
    endpoint?: string;
    credentials?: { accessKeyId: string; secretAccessKey: string };
  },
): DoctorTarget {
  const clients = {
    ssm: new SSMClient(config),
    lambda: new LambdaClient(config),
    serviceQuotas: new ServiceQuotasClient(config),
  };
  return {
    kind,
    region: config.region,
    clients,
    destroy: () => Object.values(clients).forEach((client) => client.destroy()),
  };
}

function textFlag(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} needs a value`);
  return value;
}
