/**
 * Account-side security (issue 10): the hosting and transform roles split, the workflows' execution logs
 * (level, no execution data, KMS), the outputs the operator CLI reads, and cdk-nag acknowledgements that
 * each cover exactly the resource and finding they were written for.
 */
import { CfnResource, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { parseDeployConfig } from '../../pipeline/config';
import type { AslDefinition } from '../../pipeline/render';
import { RETRAIN_STATES as S } from '../../pipeline/retrain-workflow';
import { allStates } from '../pipeline/run-locally';
import { actionsOf, resourcesOf, statementsOfRole, synthApp, type SynthesizedApp } from './synth-app';

const HOSTING_ROLE = 'SageMakerRolesModelRole';
const TRANSFORM_ROLE = 'SageMakerRolesTransformRole';
const BUCKET = 'arn:<AWS::Partition>:s3:::<import:ReelflowDataStack:DataBucketName>';
const ARTIFACTS = ['vectors/serving-bundle.tar.gz', 'knn/*/output/model.tar.gz'];

/**
 * (CfnResource, acknowledged rule) pairs the synthesized metadata carries: for each resource, the ids
 * acknowledged on it or on any construct above it (what cdk-nag checks, and what it writes as
 * `cdk_nag.rules_to_suppress`), counted as the test below does on the app `main()` of infra/app.ts builds.
 * At commit 48aa102 (before issue 10's account-side work) it was 587, from 75 acknowledgement entries
 * (many on whole construct trees: `Release` alone covered every resource of the pipeline with 16 ids).
 */
const ACKNOWLEDGED_PAIRS_AT_48AA102 = 587;
/**
 * The count after scoping every acknowledgement to its resource (raise it only with a reason). The number
 * of acknowledgement entries rose from 75 to 99 meanwhile: one per (policy, finding) instead of one per
 * construct tree, and the hosting/transform split and the SF1 reasons added 6 findings (92 -> 98).
 * Issue 11's Processing path added 11 (its role, the state machine's processing-job grants), issue 12's
 * FM test metrics 2 (sagemaker:DescribeTrainingJob on `<prefix>-fm-*` for Evaluate and the Processing role).
 */
const MAX_ACKNOWLEDGED_PAIRS = 120;
// 107 -> 118 with the Processing path of the data steps (issue 11), 11 new (resource, finding) pairs, each
// one finding on one new policy or resource: the processing role's policy (ratings/*, runs/*, quarantine/*,
// withdrawn/* objects as the data Lambdas have them; its /aws/sagemaker/ProcessingJobs log streams; the
// Resource::* of the ECR token and PutMetricData), the PlanRun function (AwsSolutions-L1 on the function,
// Resource::* for X-Ray on its role) and the retrain role (processing-job/<prefix>-*, the
// runs/*/tasks/* objects of the S3 Tasks, PlanRun's versions `:*`).

let built: SynthesizedApp;
beforeAll(() => {
  built = synthApp();
});

/** A template value with its intrinsics flattened as cdk-nag prints them (`<Logical.Arn>`, `<import:X>`). */
function flat(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(flat).join(',');
  const [[name, arg]] = Object.entries(value as Record<string, unknown>);
  if (name === 'Fn::Join') return (arg as [string, unknown[]])[1].map(flat).join((arg as [string])[0]);
  if (name === 'Ref') return `<${String(arg)}>`;
  if (name === 'Fn::ImportValue') return `<import:${flat(arg)}>`;
  if (name === 'Fn::GetAtt') return `<${(arg as string[]).join('.')}>`;
  return `<${name}>`;
}

function logicalId(app: SynthesizedApp, type: string, prefix: string): string {
  const ids = Object.keys(app.template.findResources(type)).filter((id) => id.startsWith(prefix));
  expect(ids).toHaveLength(1);
  return ids[0];
}

function definitionOf(app: SynthesizedApp, prefix: string): AslDefinition {
  const id = logicalId(app, 'AWS::StepFunctions::StateMachine', prefix);
  return JSON.parse(
    flat(app.template.findResources('AWS::StepFunctions::StateMachine')[id].Properties.DefinitionString),
  ) as AslDefinition;
}

/** The S3 actions of a role's statements, each with its flattened resources. */
function s3Grants(rolePrefix: string): { actions: string[]; resources: string[] }[] {
  return statementsOfRole(built.template, rolePrefix)
    .filter((s) => actionsOf(s).some((a) => a.startsWith('s3:')))
    .map((s) => ({ actions: actionsOf(s), resources: resourcesOf(s).map(flat) }));
}

describe('hosting role (the endpoint model)', () => {
  it('only reads the objects its containers load: GetObject on the artifact patterns, nothing else in S3', () => {
    const grants = s3Grants(HOSTING_ROLE);
    expect(grants.flatMap((g) => g.actions)).toEqual(['s3:GetObject']);
    expect(grants[0].resources.sort()).toEqual(
      ['runs', 'verify'].flatMap((prefix) => ARTIFACTS.map((a) => `${BUCKET}/${prefix}/*/${a}`)).sort(),
    );
  });

  it('decrypts with the project key only through S3 and creates no grants', () => {
    const kms = statementsOfRole(built.template, HOSTING_ROLE).filter((s) =>
      actionsOf(s).some((a) => a.startsWith('kms:')),
    );
    expect(kms.map((s) => actionsOf(s))).toEqual([['kms:Decrypt']]);
    expect(
      flat((kms[0].Condition as Record<string, Record<string, unknown>>).StringEquals['kms:ViaService']),
    ).toBe('s3.<AWS::Region>.<AWS::URLSuffix>');
  });

  it('writes logs only under /aws/sagemaker/Endpoints/', () => {
    const logs = statementsOfRole(built.template, HOSTING_ROLE).filter((s) =>
      actionsOf(s).some((a) => a.startsWith('logs:')),
    );
    expect(logs.flatMap((s) => resourcesOf(s).map(flat))).toEqual([
      'arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/Endpoints/*',
    ]);
  });
});

describe('transform role (batch transform)', () => {
  it('writes only the transform output prefix, and deletes nothing', () => {
    const writes = s3Grants(TRANSFORM_ROLE).filter((g) =>
      g.actions.some((a) => /^s3:(Put|Delete|Abort)/.test(a)),
    );
    expect(writes).toEqual([
      { actions: ['s3:PutObject', 's3:AbortMultipartUpload'], resources: [`${BUCKET}/runs/*/transform/*`] },
    ]);
  });

  it('reads the model artifacts and the transform input', () => {
    const reads = s3Grants(TRANSFORM_ROLE)
      .filter((g) => g.actions.includes('s3:GetObject'))
      .flatMap((g) => g.resources);
    expect(reads.sort()).toEqual(
      [
        ...ARTIFACTS.map((a) => `${BUCKET}/runs/*/${a}`),
        `${BUCKET}/runs/*/prepared/transform-input/*`,
      ].sort(),
    );
  });
});

describe('models of a run', () => {
  it('serves the hosting model (names.model) and runs every batch transform on a transform-role model', () => {
    const definition = definitionOf(built, 'RetrainStateMachine');
    const hosting = `<${logicalId(built, 'AWS::IAM::Role', HOSTING_ROLE)}.Arn>`;
    const transform = `<${logicalId(built, 'AWS::IAM::Role', TRANSFORM_ROLE)}.Arn>`;
    const states = allStates(definition);
    const parameters = (name: string) =>
      states.find((s) => s.name === name)?.state.Parameters as Record<string, unknown>;
    expect(parameters(S.createModel)).toMatchObject({
      'ModelName.$': '$.prepared.names.model',
      ExecutionRoleArn: hosting,
    });
    // Each transform job's model is the one a CreateModel state names from the same path: its role.
    const createModels = states.filter((s) => String(s.state.Resource).endsWith(':sagemaker:createModel'));
    const roleOfModelAt = (path: unknown) =>
      createModels
        .map((s) => s.state.Parameters as Record<string, unknown>)
        .find((p) => p['ModelName.$'] === path)?.ExecutionRoleArn;
    for (const job of [S.transformCandidate, S.transformProduction, S.transformCandidateOnly]) {
      expect({ job, role: roleOfModelAt(parameters(job)['ModelName.$']) }).toEqual({ job, role: transform });
    }
  });

  it('passes each SageMaker role only to SageMaker, from the retrain role only', () => {
    const roles = [HOSTING_ROLE, TRANSFORM_ROLE].map((p) => `<${logicalId(built, 'AWS::IAM::Role', p)}.Arn>`);
    const passing = Object.entries(built.template.findResources('AWS::IAM::Policy')).filter(([, policy]) =>
      (policy.Properties.PolicyDocument.Statement as Record<string, unknown>[]).some(
        (s) =>
          actionsOf(s).includes('iam:PassRole') && roles.some((r) => resourcesOf(s).map(flat).includes(r)),
      ),
    );
    expect(passing.map(([id]) => id)).toEqual([
      expect.stringMatching(/^RetrainStateMachineRoleDefaultPolicy/),
    ]);
  });
});

describe('workflow execution logs', () => {
  function loggingOf(app: SynthesizedApp, prefix: string) {
    const id = logicalId(app, 'AWS::StepFunctions::StateMachine', prefix);
    const logging = app.template.findResources('AWS::StepFunctions::StateMachine')[id].Properties
      .LoggingConfiguration as {
      Level: string;
      IncludeExecutionData: boolean;
      Destinations: { CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': string[] } } }[];
    };
    const group = logging.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn['Fn::GetAtt'][0];
    return { level: logging.Level, data: logging.IncludeExecutionData, group };
  }

  it('logs errors without execution data by default, to log groups encrypted with the project key', () => {
    for (const prefix of ['RetrainStateMachine', 'DeployStateMachine']) {
      const { level, data, group } = loggingOf(built, prefix);
      expect({ prefix, level, data }).toEqual({ prefix, level: 'ERROR', data: false });
      const logGroup = built.template.findResources('AWS::Logs::LogGroup')[group];
      expect(flat(logGroup.Properties.KmsKeyId)).toMatch(
        /^<import:ReelflowDataStack:ExportsOutputFnGetAttReelflowKey/,
      );
    }
  });

  it('takes the level and execution data of each workflow from the deploy config', () => {
    const app = synthApp({ workflowLogs: { retrain: { level: 'ALL', includeExecutionData: true } } });
    expect(loggingOf(app, 'RetrainStateMachine')).toMatchObject({ level: 'ALL', data: true });
    expect(loggingOf(app, 'DeployStateMachine')).toMatchObject({ level: 'ERROR', data: false });
    // At level ALL there is nothing to acknowledge for AwsSolutions-SF1.
    const retrain = app.stack.node
      .findAll()
      .find((c) => c.node.path === 'ReelflowStack/Retrain/StateMachine')!;
    expect(acknowledgedIds(retrain.node.defaultChild!)).not.toContain('AwsSolutions-SF1');
    expect(new AwsSolutionsChecks().validateScope(app.app).violations).toEqual([]);
  });

  it('refuses execution data in the deploy workflow logs, naming the key and why', () => {
    expect(() => parseDeployConfig({ workflowLogs: { deploy: { includeExecutionData: true } } })).toThrow(
      /workflowLogs\.deploy\.includeExecutionData.*SecureString/s,
    );
    expect(parseDeployConfig({}).workflowLogs).toEqual({
      retrain: { level: 'ERROR', includeExecutionData: false },
      deploy: { level: 'ERROR', includeExecutionData: false },
    });
  });
});

describe('outputs for the operator CLI', () => {
  it('names the pipeline, both state machines, the production parameter and both model roles', () => {
    const outputs = built.template.findOutputs('*');
    const ref = (type: string, prefix: string) => logicalId(built, type, prefix);
    expect(outputs.PipelineName.Value).toEqual({
      Ref: ref('AWS::CodePipeline::Pipeline', 'ReleasePipeline'),
    });
    expect(outputs.RetrainStateMachineArn.Value).toEqual({
      Ref: ref('AWS::StepFunctions::StateMachine', 'RetrainStateMachine'),
    });
    expect(outputs.DeployStateMachineArn.Value).toEqual({
      Ref: ref('AWS::StepFunctions::StateMachine', 'DeployStateMachine'),
    });
    expect(outputs.ProductionParameterName.Value).toBe('/reelflow/production-model');
    // reelflow verify-aws creates its endpoint's model with ModelRoleArn: the hosting role.
    expect(outputs.ModelRoleArn.Value).toEqual({
      'Fn::GetAtt': [ref('AWS::IAM::Role', HOSTING_ROLE), 'Arn'],
    });
    expect(outputs.TransformRoleArn.Value).toEqual({
      'Fn::GetAtt': [ref('AWS::IAM::Role', TRANSFORM_ROLE), 'Arn'],
    });
    for (const name of [
      'PipelineName',
      'RetrainStateMachineArn',
      'DeployStateMachineArn',
      'ProductionParameterName',
      'TransformRoleArn',
    ]) {
      expect({ name, described: String(outputs[name].Description ?? '').length > 20 }).toEqual({
        name,
        described: true,
      });
    }
  });
});

/** The rule ids acknowledged on `construct` itself. */
function acknowledgedIds(construct: IConstruct): string[] {
  return construct.node.metadata
    .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
    .flatMap((m) => Object.keys(m.data as Record<string, string>));
}

describe('cdk-nag acknowledgements', () => {
  const constructs = () => [built.dataStack, built.stack].flatMap((stack) => stack.node.findAll());

  it(`cover fewer (resource, rule) pairs than the ${ACKNOWLEDGED_PAIRS_AT_48AA102} they covered before`, () => {
    let pairs = 0;
    for (const resource of constructs().filter((c) => CfnResource.isCfnResource(c))) {
      const ids = new Set<string>();
      for (let c: IConstruct | undefined = resource; c; c = c.node.scope)
        acknowledgedIds(c).forEach((id) => ids.add(id));
      pairs += ids.size;
    }
    expect(pairs).toBeLessThanOrEqual(MAX_ACKNOWLEDGED_PAIRS);
    expect(MAX_ACKNOWLEDGED_PAIRS).toBeLessThan(ACKNOWLEDGED_PAIRS_AT_48AA102);
  });

  it('each suppresses at least one AwsSolutions finding under the construct it is on', () => {
    // Every finding, acknowledged or not: the pack with its acknowledgement check switched off.
    const pack = new AwsSolutionsChecks();
    (pack as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
    const findings = pack
      .validateScope(built.app)
      .violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} ${r.constructPath}`));
    const unused = constructs().flatMap((c) =>
      acknowledgedIds(c)
        .filter((id) => id.startsWith('AwsSolutions-'))
        .filter(
          (id) =>
            !findings.some((f) => f === `${id} ${c.node.path}` || f.startsWith(`${id} ${c.node.path}/`)),
        )
        .map((id) => `${c.node.path} ${id}`),
    );
    expect(unused).toEqual([]);
  });

  it('acknowledges IAM wildcards of the SageMaker roles and the workflows on their policies, not their trees', () => {
    const onTrees = constructs()
      .filter((c) => /^ReelflowStack\/(SageMakerRoles|Retrain|Release)\//.test(c.node.path))
      .filter((c) => !CfnResource.isCfnResource(c))
      .flatMap((c) =>
        acknowledgedIds(c)
          .filter((id) => id.startsWith('AwsSolutions-IAM5'))
          .map((id) => `${c.node.path} ${id}`),
      );
    expect(onTrees).toEqual([]);
  });
});
