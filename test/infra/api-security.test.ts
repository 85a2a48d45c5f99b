/**
 * The recommend API's security modes (config `api.auth`, `api.clients`, `api.waf`) on the synthesized
 * app: who may call `GET /recommendEndpoint`, what the deploy workflow's smoke test is granted to call it
 * anyway, the optional web ACL, and cdk-nag staying clean in every mode.
 */
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { INVALID_USER_ID_BODY, USER_ID_PATTERN } from '../../infra/constructs/api-firewall';
import { actionsOf, statementsOfRole, synthApp, type SynthesizedApp } from './synth-app';

const CLIENTS = [
  { name: 'movie-app', rateLimit: 20, burstLimit: 40, quotaPerDay: 50_000 },
  { name: 'partner', rateLimit: 2, burstLimit: 5, quotaPerDay: 1000 },
];

/** An intrinsic rendered as text (`<Logical>` for Ref, `<Logical.Attr>` for GetAtt, joins joined). */
function flat(value: unknown): string {
  if (typeof value === 'string') return value;
  const [[name, arg]] = Object.entries(value as Record<string, unknown>);
  if (name === 'Fn::Join') return (arg as [string, unknown[]])[1].map(flat).join((arg as [string])[0]);
  if (name === 'Ref') return `<${String(arg)}>`;
  if (name === 'Fn::GetAtt') return `<${(arg as string[]).join('.')}>`;
  return `<${name}>`;
}

/** The one resource of `type` whose logical id starts with `prefix`, with its logical id. */
function only(built: SynthesizedApp, type: string, prefix = '') {
  const found = Object.entries(built.template.findResources(type)).filter(([id]) => id.startsWith(prefix));
  expect(found).toHaveLength(1);
  const [[id, resource]] = found;
  return { id, properties: resource.Properties as Record<string, unknown> };
}

/** The statements of the smoke-test function's role that are about API Gateway. */
function smokeTestApiStatements(built: SynthesizedApp) {
  return statementsOfRole(built.template, 'WorkflowFunctionsSmokeTestRole').filter((s) =>
    actionsOf(s).some((a) => a.startsWith('apigateway:') || a.startsWith('execute-api:')),
  );
}

function smokeTestEnvironment(built: SynthesizedApp): Record<string, unknown> {
  const fn = only(built, 'AWS::Lambda::Function', 'WorkflowFunctionsSmokeTest').properties;
  return (fn.Environment as { Variables: Record<string, unknown> }).Variables;
}

function nagFindings(built: SynthesizedApp): string[] {
  const report = new AwsSolutionsChecks().validateScope(built.app);
  return report.violations.map((v) => `${v.ruleName} ${v.violatingResources[0]?.constructPath}`);
}

/** The rule ids acknowledged on `scope` itself (not on its children). */
function acknowledgedOn(scope: IConstruct): string[] {
  return scope.node.metadata
    .filter((m) => m.type === 'aws:cdk:acknowledged-rules')
    .flatMap((m) => Object.keys(m.data as Record<string, string>))
    .map((id) => id.replace(/^Annotation::/, ''));
}

describe('api.auth none (the default)', () => {
  let built: SynthesizedApp;
  beforeAll(() => {
    built = synthApp();
  });

  it('leaves the method anonymous and warns at synth that anyone can enumerate recommendations', () => {
    const method = only(built, 'AWS::ApiGateway::Method').properties;
    expect(method).toMatchObject({ AuthorizationType: 'NONE' });
    expect(method.ApiKeyRequired).toBeFalsy();
    built.template.resourceCountIs('AWS::ApiGateway::Authorizer', 0);
    built.template.resourceCountIs('AWS::ApiGateway::UsagePlan', 0);
    built.template.resourceCountIs('AWS::ApiGateway::ApiKey', 0);
    built.template.resourceCountIs('AWS::WAFv2::WebACL', 0);
    Annotations.fromStack(built.stack).hasWarning(
      '/ReelflowStack/RecommendApi/Api',
      Match.stringLikeRegexp('anyone .* can call it and enumerate .*api\\.auth .* to apiKey .* or iam'),
    );
  });

  it('gives the smoke test no API Gateway permission, and acknowledges APIG4 on the method only', () => {
    expect(smokeTestEnvironment(built)).toMatchObject({ API_AUTH: 'none' });
    expect(smokeTestEnvironment(built)).not.toHaveProperty('API_KEY_ID');
    expect(smokeTestApiStatements(built)).toEqual([]);
    expect(acknowledgedOn(built.stack.api.method)).toEqual(
      expect.arrayContaining(['AwsSolutions-APIG4', 'AwsSolutions-COG4']),
    );
    expect(acknowledgedOn(built.stack.api.api.deploymentStage)).toEqual(['AwsSolutions-APIG3']);
    expect(acknowledgedOn(built.stack.api.api)).toEqual([]);
  });
});

describe('api.auth apiKey', () => {
  let built: SynthesizedApp;
  beforeAll(() => {
    built = synthApp({ api: { auth: 'apiKey', clients: CLIENTS } });
  });

  it('requires an API key on the method', () => {
    expect(only(built, 'AWS::ApiGateway::Method').properties).toMatchObject({
      AuthorizationType: 'NONE',
      ApiKeyRequired: true,
    });
  });

  it('gives each client its own usage plan (throttle and daily quota on the stage) and generated key', () => {
    for (const client of CLIENTS) {
      const plan = only(
        built,
        'AWS::ApiGateway::UsagePlan',
        `RecommendApiUsagePlan${client.name.replace('-', '')}`,
      );
      expect(plan.properties).toMatchObject({
        UsagePlanName: `reelflow-${client.name}`,
        Throttle: { RateLimit: client.rateLimit, BurstLimit: client.burstLimit },
        Quota: { Limit: client.quotaPerDay, Period: 'DAY' },
        ApiStages: [
          {
            ApiId: { Ref: expect.stringMatching(/^RecommendApi[0-9A-F]{8}$/) },
            Stage: { Ref: expect.stringMatching(/^RecommendApiDeploymentStageprod/) },
          },
        ],
      });
      const key = only(built, 'AWS::ApiGateway::ApiKey', `RecommendApiApiKey${client.name.replace('-', '')}`);
      expect(key.properties).toMatchObject({ Name: `reelflow-${client.name}`, Enabled: true });
      built.template.hasResourceProperties('AWS::ApiGateway::UsagePlanKey', {
        KeyId: { Ref: key.id },
        KeyType: 'API_KEY',
        UsagePlanId: { Ref: plan.id },
      });
    }
    // API Gateway generates every value: none is in the template.
    for (const key of Object.values(built.template.findResources('AWS::ApiGateway::ApiKey'))) {
      expect(key.Properties).not.toHaveProperty('Value');
    }
    built.template.resourceCountIs('AWS::ApiGateway::UsagePlan', CLIENTS.length + 1);
  });

  it('gives the smoke test its own low-limit key, by id, and GetApiKey on exactly that key', () => {
    const key = only(built, 'AWS::ApiGateway::ApiKey', 'RecommendApiApiKeysmoketest');
    const plan = only(built, 'AWS::ApiGateway::UsagePlan', 'RecommendApiUsagePlansmoketest');
    expect(plan.properties).toMatchObject({
      Throttle: { RateLimit: 1, BurstLimit: 2 },
      Quota: { Limit: 100, Period: 'DAY' },
    });
    built.template.hasResourceProperties('AWS::ApiGateway::UsagePlanKey', {
      KeyId: { Ref: key.id },
      UsagePlanId: { Ref: plan.id },
    });
    expect(smokeTestEnvironment(built)).toMatchObject({ API_AUTH: 'apiKey', API_KEY_ID: { Ref: key.id } });
    const statements = smokeTestApiStatements(built);
    expect(statements.map((s) => [actionsOf(s), flat(s.Resource)])).toEqual([
      [['apigateway:GET'], `arn:<AWS::Partition>:apigateway:<AWS::Region>::/apikeys/<${key.id}>`],
    ]);
  });

  it('stays clean under cdk-nag', () => {
    expect(nagFindings(built)).toEqual([]);
  });
});

describe('api.auth iam, with the web ACL', () => {
  let built: SynthesizedApp;
  beforeAll(() => {
    built = synthApp({ api: { auth: 'iam', waf: { enabled: true, rateLimitPer5Min: 2500 } } });
  });

  it('requires IAM on the method and lets the smoke test invoke exactly that method', () => {
    expect(only(built, 'AWS::ApiGateway::Method').properties).toMatchObject({ AuthorizationType: 'AWS_IAM' });
    built.template.resourceCountIs('AWS::ApiGateway::ApiKey', 0);
    expect(smokeTestEnvironment(built)).toMatchObject({ API_AUTH: 'iam' });
    const statements = smokeTestApiStatements(built);
    expect(statements.map((s) => actionsOf(s))).toEqual([['execute-api:Invoke']]);
    expect(flat(statements[0].Resource)).toMatch(
      /^arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<RecommendApi[0-9A-F]{8}>\/<RecommendApiDeploymentStageprod[0-9A-F]{8}>\/GET\/recommendEndpoint$/,
    );
    const output = built.template.findOutputs('RecommendApiAuth').RecommendApiAuth;
    expect(flat(output.Value)).toMatch(/^iam: .*callers need execute-api:Invoke on arn:/);
  });

  it('blocks an IP over the configured rate and a user_id that is not a positive integer (400, JSON)', () => {
    const acl = only(built, 'AWS::WAFv2::WebACL').properties;
    expect(acl).toMatchObject({
      Scope: 'REGIONAL',
      DefaultAction: { Allow: {} },
      VisibilityConfig: { CloudWatchMetricsEnabled: true },
      CustomResponseBodies: {
        InvalidUserId: { ContentType: 'APPLICATION_JSON', Content: INVALID_USER_ID_BODY },
      },
    });
    expect(JSON.parse(INVALID_USER_ID_BODY)).toEqual({ message: 'user_id must be a positive integer' });
    const rules = acl.Rules as Record<string, unknown>[];
    expect(rules).toEqual([
      expect.objectContaining({
        Name: 'RateLimitPerIp',
        Statement: { RateBasedStatement: { Limit: 2500, AggregateKeyType: 'IP', EvaluationWindowSec: 300 } },
        VisibilityConfig: expect.objectContaining({ CloudWatchMetricsEnabled: true }),
      }),
      expect.objectContaining({
        Name: 'UserIdIsPositiveInteger',
        Action: { Block: { CustomResponse: { ResponseCode: 400, CustomResponseBodyKey: 'InvalidUserId' } } },
        Statement: {
          NotStatement: {
            Statement: {
              RegexMatchStatement: expect.objectContaining({
                RegexString: USER_ID_PATTERN,
                FieldToMatch: { SingleQueryArgument: { Name: 'user_id' } },
              }),
            },
          },
        },
        VisibilityConfig: expect.objectContaining({ CloudWatchMetricsEnabled: true }),
      }),
    ]);
    // The request validator (user_id present) stays.
    expect(only(built, 'AWS::ApiGateway::Method').properties).toMatchObject({
      RequestParameters: { 'method.request.querystring.user_id': true },
    });
  });

  it('matches the user ids the function serves, and not the ones it refuses', () => {
    const pattern = new RegExp(USER_ID_PATTERN);
    expect(['1', '42', '16777214', '999999999'].filter((id) => pattern.test(id))).toHaveLength(4);
    expect(
      ['', '0', '007', '-1', '1.5', '1e3', 'abc', '1000000000', '1 OR 1=1'].filter((id) => pattern.test(id)),
    ).toEqual([]);
  });

  it('associates the web ACL with the stage', () => {
    const acl = only(built, 'AWS::WAFv2::WebACL');
    const association = only(built, 'AWS::WAFv2::WebACLAssociation').properties;
    expect(association.WebACLArn).toEqual({ 'Fn::GetAtt': [acl.id, 'Arn'] });
    expect(flat(association.ResourceArn)).toMatch(
      /^arn:<AWS::Partition>:apigateway:<AWS::Region>::\/restapis\/<RecommendApi[0-9A-F]{8}>\/stages\/<RecommendApiDeploymentStageprod[0-9A-F]{8}>$/,
    );
  });

  it('stays clean under cdk-nag without acknowledging APIG3 or APIG4', () => {
    expect(nagFindings(built)).toEqual([]);
    expect(acknowledgedOn(built.stack.api.api.deploymentStage)).toEqual([]);
    expect(acknowledgedOn(built.stack.api.method)).toEqual(['AwsSolutions-COG4']);
  });
});

describe('api config errors', () => {
  it('fails synth when auth apiKey has no client, naming the key', () => {
    expect(() => synthApp({ api: { auth: 'apiKey' } })).toThrow(
      /^invalid config reelflow\.api\.clients: auth apiKey needs at least one client/,
    );
  });
});
