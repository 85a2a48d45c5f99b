import { parseDeployConfig } from '../../pipeline/config';
import { renderWorkflowDefinitions, type AslDefinition } from '../../pipeline/render';
import { findViolations, loadServiceModel, taskOperation } from '../../local/services/api-model';

/**
 * Every Task of both rendered workflows, checked statically against AWS's API model of the operation it
 * calls: literal keys are members, JSONPath keys (`Key.$`) name members, every required member is given,
 * and literal values have the type, enum, length, range and pattern AWS accepts. A violation here is a
 * request AWS refuses (or a definition Step Functions refuses to create).
 */
interface TaskState {
  readonly state: string;
  readonly resource: string;
  readonly parameters: Record<string, unknown>;
}

function tasks(definition: AslDefinition | { States: Record<string, Record<string, unknown>> }): TaskState[] {
  const out: TaskState[] = [];
  for (const [state, body] of Object.entries(definition.States)) {
    if (body.Type === 'Task') {
      out.push({
        state,
        resource: body.Resource as string,
        parameters: (body.Parameters as Record<string, unknown> | undefined) ?? {},
      });
    }
    for (const branch of (body.Branches as AslDefinition[] | undefined) ?? []) out.push(...tasks(branch));
    for (const key of ['Iterator', 'ItemProcessor']) {
      if (body[key]) out.push(...tasks(body[key] as AslDefinition));
    }
  }
  return out;
}

describe('the workflows against the AWS API models', () => {
  const configs = {
    default: parseDeployConfig({}),
    linear: parseDeployConfig({ deployment: { trafficRouting: 'LINEAR' } }),
    allAtOnce: parseDeployConfig({ deployment: { trafficRouting: 'ALL_AT_ONCE' } }),
  };
  const cases = Object.entries(configs).flatMap(([configName, config]) => {
    const rendered = renderWorkflowDefinitions(config);
    return (['retrain', 'deploy'] as const).flatMap((workflow) =>
      tasks(rendered[workflow])
        .filter((task) => taskOperation(task.resource))
        .map((task) => ({ name: `${configName} ${workflow} ${task.state}`, ...task })),
    );
  });

  it('finds a model for every AWS call of both workflows (Lambda functions aside)', () => {
    const all = Object.values(configs).flatMap((config) => {
      const rendered = renderWorkflowDefinitions(config);
      return [...tasks(rendered.retrain), ...tasks(rendered.deploy)];
    });
    const unmodelled = all
      .map((task) => task.resource)
      .filter((resource) => !resource.startsWith('arn:aws:lambda:') && !taskOperation(resource));
    expect(unmodelled).toEqual([]);
    const called = new Set(cases.map((c) => c.resource.replace('arn:aws:states:::', '')));
    expect([...called]).toEqual(
      expect.arrayContaining([
        'aws-sdk:cloudwatch:describeAlarms',
        'aws-sdk:s3:getObject',
        'aws-sdk:sagemaker:describeEndpoint',
        'aws-sdk:sagemaker:updateEndpoint',
        'aws-sdk:ssm:getParameter',
        'sagemaker:createEndpoint',
        'sagemaker:createEndpointConfig',
        'sagemaker:createModel',
        'sagemaker:createTrainingJob.sync',
        'sagemaker:createTransformJob.sync',
        'sns:publish',
      ]),
    );
  });

  it.each(cases.map((c) => [c.name, c] as const))(
    'sends %s only what the API model accepts',
    (_name, { resource, parameters }) => {
      const { service, operation } = taskOperation(resource)!;
      const model = loadServiceModel(service);
      expect(model.operations[operation]).toBeDefined();
      const violations = findViolations(model, operation, parameters, { template: true });
      expect(violations.map((v) => `${v.memberPath}: ${v.message}`)).toEqual([]);
    },
  );

  it('fails a Parameters block that misses a required member or sends an unknown one', () => {
    const model = loadServiceModel('sagemaker');
    const violations = findViolations(
      model,
      'CreateEndpoint',
      { 'EndpointNme.$': '$.name', EndpointConfigName: 'c' },
      { template: true },
    );
    expect(violations.map((v) => [v.kind, v.memberPath])).toEqual([
      ['unknown', 'EndpointNme'],
      ['required', 'EndpointName'],
    ]);
  });

  it('fails a literal value out of the enum, and lets a JSONPath value through unchecked', () => {
    const model = loadServiceModel('sagemaker');
    const violations = findViolations(
      model,
      'CreateEndpointConfig',
      {
        'EndpointConfigName.$': '$.name',
        ProductionVariants: [
          { VariantName: 'AllTraffic', 'ModelName.$': '$.model', InstanceType: 'ml.bogus' },
        ],
      },
      { template: true },
    );
    expect(violations.map((v) => [v.kind, v.path])).toEqual([
      ['enum', 'productionVariants.1.member.instanceType'],
    ]);
  });
});
