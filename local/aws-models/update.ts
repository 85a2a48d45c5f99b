/**
 * Regenerates the trimmed AWS API models in this folder from botocore's `service-2.json` files:
 * for each service the local twin stands in for, only the operations reelflow calls and the shapes
 * their inputs reach (plus the operations' error shapes, without members), with every `documentation`
 * string stripped. `local/services/api-model.ts` validates requests against these files.
 *
 *   npx tsx local/aws-models/update.ts --botocore <botocore data dir | botocore git mirror> [--out <dir>]
 *
 * `--botocore` is either a `botocore/data` folder (e.g. Debian's
 * `/usr/lib/python3/dist-packages/botocore/data`) or a botocore git repository (bare or not; read at
 * HEAD with `git show`). The output is formatted with the repo's prettier config, so `npm run lint`
 * accepts it as written.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The operations reelflow calls, per botocore service name. Where each one is used:
 * - Task resources of `pipeline/*-workflow.ts` (`sagemaker:create*`, `aws-sdk:<service>:<action>`,
 *   `sns:publish`) and the `.sync` integrations' polling (Describe*Job, Stop*Job);
 * - the handlers' SDK commands in `functions/**` (S3, SSM PutParameter, CodePipeline, InvokeEndpoint);
 * - the local services and commands (`local/**`: S3 uploads, CloudWatch SetAlarmState, the SageMaker
 *   cleanup and listing calls);
 * - the operator CLI (`local/operate/`): pipeline state, executions and approvals, the workflows'
 *   executions and rollback, the endpoint's resources, quotas and account settings, the stack's outputs
 *   (CloudFormation DescribeStacks: AWS only, kept for reference; the twin does not serve it).
 */
export const USED_OPERATIONS: Readonly<Record<string, readonly string[]>> = {
  sagemaker: [
    'CreateEndpoint',
    'CreateEndpointConfig',
    'CreateModel',
    'CreateProcessingJob',
    'CreateTrainingJob',
    'CreateTransformJob',
    'DeleteEndpoint',
    'DeleteEndpointConfig',
    'DeleteModel',
    'DescribeEndpoint',
    'DescribeEndpointConfig',
    'DescribeModel',
    'DescribeProcessingJob',
    'DescribeTrainingJob',
    'DescribeTransformJob',
    'ListTrainingJobs',
    'StopProcessingJob',
    'StopTrainingJob',
    'UpdateEndpoint',
  ],
  'sagemaker-runtime': ['InvokeEndpoint'],
  ssm: ['GetParameter', 'PutParameter'],
  sns: ['Publish'],
  cloudwatch: ['DescribeAlarms', 'SetAlarmState'],
  s3: ['CopyObject', 'DeleteObject', 'GetObject', 'HeadObject', 'ListObjectsV2', 'PutObject'],
  codepipeline: [
    'GetPipelineExecution',
    'GetPipelineState',
    'ListActionExecutions',
    'ListPipelineExecutions',
    'PutApprovalResult',
    'PutJobFailureResult',
    'PutJobSuccessResult',
    'StartPipelineExecution',
  ],
  stepfunctions: ['DescribeExecution', 'GetExecutionHistory', 'ListExecutions', 'StartExecution'],
  'service-quotas': ['ListServiceQuotas'],
  lambda: ['GetAccountSettings'],
  cloudformation: ['DescribeStacks'],
};

/** The shape keys the validator (or a reader of the file) needs; everything else is dropped. */
const SHAPE_KEYS = [
  'type',
  'required',
  'members',
  'member',
  'key',
  'value',
  'min',
  'max',
  'pattern',
  'enum',
  'payload',
  'streaming',
  'requiresLength',
  'timestampFormat',
  'flattened',
  'error',
  'exception',
  'fault',
] as const;
const MEMBER_KEYS = [
  'shape',
  'location',
  'locationName',
  'jsonName',
  'queryName',
  'flattened',
  'idempotencyToken',
  'hostLabel',
  'streaming',
  'timestampFormat',
  'deprecated',
] as const;
const METADATA_KEYS = [
  'apiVersion',
  'endpointPrefix',
  'jsonVersion',
  'protocol',
  'protocols',
  'serviceFullName',
  'serviceId',
  'signingName',
  'targetPrefix',
  'uid',
] as const;

export const APACHE_NOTICE =
  'Derived from botocore (https://github.com/boto/botocore), Copyright Amazon.com, Inc. or its affiliates. ' +
  'Licensed under the Apache License, Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0); ' +
  'distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND. Modified: trimmed to ' +
  'the operations reelflow uses and the shapes they reach, documentation removed.';

type Json = Record<string, unknown>;

/** Where botocore's data comes from: a data folder or a git repository read at HEAD. */
interface BotocoreSource {
  readonly version: string;
  readonly commit?: string;
  readonly path: string;
  /** Names of a folder's entries (relative to `botocore/data`). */
  list(dir: string): string[];
  read(file: string): string;
}

function openSource(location: string): BotocoreSource {
  const path = resolve(location);
  const isGit = existsSync(join(path, 'HEAD')) || existsSync(join(path, '.git'));
  if (isGit) {
    const git = (...args: string[]): string =>
      execFileSync('git', ['-C', path, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });
    const init = git('show', 'HEAD:botocore/__init__.py');
    return {
      version: versionOf(init),
      commit: git('rev-parse', 'HEAD').trim(),
      path,
      list: (dir) => git('ls-tree', '--name-only', `HEAD:botocore/data/${dir}`).split('\n').filter(Boolean),
      read: (file) => git('show', `HEAD:botocore/data/${file}`),
    };
  }
  const init = join(path, '..', '__init__.py');
  return {
    version: existsSync(init) ? versionOf(readFileSync(init, 'utf8')) : 'unknown',
    path,
    list: (dir) => readdirSync(join(path, dir)),
    read: (file) => readFileSync(join(path, file), 'utf8'),
  };
}

function versionOf(init: string): string {
  return /__version__\s*=\s*['"]([^'"]+)['"]/.exec(init)?.[1] ?? 'unknown';
}

function pick(from: Json, keys: readonly string[]): Json {
  const out: Json = {};
  for (const key of keys) if (from[key] !== undefined) out[key] = from[key];
  return out;
}

/** One service's model, trimmed to `operations`. */
export function trimModel(model: Json, operations: readonly string[], source: Json): Json {
  const allOperations = model.operations as Record<string, Json>;
  const allShapes = model.shapes as Record<string, Json>;
  const keptOperations: Record<string, Json> = {};
  const reached = new Set<string>();
  const errors = new Set<string>();
  const reach = (name: string): void => {
    if (reached.has(name)) return;
    const shape = allShapes[name];
    if (!shape) throw new Error(`shape ${name} is not in the model`);
    reached.add(name);
    for (const member of Object.values((shape.members as Record<string, Json> | undefined) ?? {})) {
      reach(member.shape as string);
    }
    for (const key of ['member', 'key', 'value']) {
      const ref = shape[key] as Json | undefined;
      if (ref) reach(ref.shape as string);
    }
  };
  for (const name of [...operations].sort()) {
    const operation = allOperations[name];
    if (!operation) throw new Error(`operation ${name} is not in the model`);
    const input = operation.input as Json | undefined;
    if (input) reach(input.shape as string);
    const operationErrors = ((operation.errors as Json[] | undefined) ?? []).map((e) => e.shape as string);
    operationErrors.forEach((e) => errors.add(e));
    keptOperations[name] = {
      name,
      http: pick((operation.http as Json | undefined) ?? {}, ['method', 'requestUri']),
      ...(input ? { input: pick(input, ['shape', 'locationName', 'xmlNamespace']) } : {}),
      ...(operationErrors.length ? { errors: operationErrors } : {}),
    };
  }
  const shapes: Record<string, Json> = {};
  for (const name of [...reached].sort()) {
    const shape = pick(allShapes[name], SHAPE_KEYS);
    if (shape.members) {
      const members: Record<string, Json> = {};
      for (const [member, ref] of Object.entries(shape.members as Record<string, Json>)) {
        members[member] = pick(ref, MEMBER_KEYS);
      }
      shape.members = members;
    }
    for (const key of ['member', 'key', 'value']) {
      if (shape[key]) shape[key] = pick(shape[key] as Json, MEMBER_KEYS);
    }
    shapes[name] = shape;
  }
  // Error shapes: name, code and status only (what an error response carries).
  for (const name of [...errors].sort()) {
    if (shapes[name]) continue;
    shapes[name] = { ...pick(allShapes[name], ['type', 'error', 'exception', 'fault']), members: {} };
  }
  // Every error the service models, by shape name: its wire code (the shape name when it has none).
  // The local twin names a refusal after these, as the SDKs and Step Functions do.
  const exceptions: Record<string, string> = {};
  for (const [name, shape] of Object.entries(allShapes).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (shape.exception) exceptions[name] = ((shape.error as Json | undefined)?.code as string) ?? name;
  }
  return {
    source,
    metadata: pick(model.metadata as Json, METADATA_KEYS),
    operations: keptOperations,
    shapes,
    exceptions,
  };
}

function newestVersionDir(source: BotocoreSource, service: string): string {
  const versions = source.list(service).filter((entry) => /^\d{4}-\d{2}-\d{2}$/.test(entry));
  if (!versions.length) throw new Error(`no API version of ${service} under ${source.path}`);
  return versions.sort().at(-1)!;
}

async function main(argv: readonly string[]): Promise<void> {
  const flag = (name: string): string | undefined => {
    const at = argv.indexOf(name);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const botocore = flag('--botocore');
  if (!botocore) {
    console.error(
      'usage: npx tsx local/aws-models/update.ts --botocore <botocore data dir | git mirror> [--out <dir>]',
    );
    process.exit(2);
  }
  const out = resolve(flag('--out') ?? __dirname);
  const source = openSource(botocore);
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(join(out, 'x.json'))) ?? {};
  for (const [service, operations] of Object.entries(USED_OPERATIONS)) {
    const apiVersion = newestVersionDir(source, service);
    const file = `${service}/${apiVersion}/service-2.json`;
    const model = JSON.parse(source.read(file)) as Json;
    const trimmed = trimModel(model, operations, {
      botocoreVersion: source.version,
      ...(source.commit ? { gitCommit: source.commit } : {}),
      path: file,
      from: source.path,
      generated: new Date().toISOString().slice(0, 10),
      license: 'Apache-2.0',
      notice: APACHE_NOTICE,
    });
    const text = await prettier.format(JSON.stringify(trimmed), { ...options, parser: 'json' });
    writeFileSync(join(out, `${service}.json`), text);
    const size = Buffer.byteLength(text);
    console.log(
      `${service}.json  ${operations.length} operations, ${Object.keys(trimmed.shapes as Json).length} shapes, ` +
        `${(size / 1024).toFixed(0)} KiB  (botocore ${source.version}, ${file})`,
    );
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((error: Error) => {
    console.error(error.message);
    process.exit(1);
  });
}
