import { aslErrors } from './asl';
import { parseDeployConfig } from '../../pipeline/config';
import {
  RENDER_PLACEHOLDERS,
  renderWorkflowDefinitions,
  UnresolvedDefinitionError,
  resolveIntrinsics,
} from '../../pipeline/render';
import { App, Stack } from 'aws-cdk-lib';

describe('renderWorkflowDefinitions', () => {
  const rendered = renderWorkflowDefinitions(parseDeployConfig({}));

  it.each(['retrain', 'deploy'] as const)(
    'renders the %s workflow as valid ASL without CloudFormation tokens',
    (name) => {
      const text = JSON.stringify(rendered[name]);
      expect(text).not.toContain('${Token[');
      expect(text).not.toMatch(/"(Ref|Fn::[A-Za-z]+)"/);
      expect(aslErrors(JSON.parse(text))).toBe('');
    },
  );

  it('calls the placeholder functions and topic', () => {
    const text = JSON.stringify(rendered);
    for (const arn of [
      RENDER_PLACEHOLDERS.prepare,
      RENDER_PLACEHOLDERS.buildVectors,
      RENDER_PLACEHOLDERS.evaluate,
      RENDER_PLACEHOLDERS.recordDeployment,
      RENDER_PLACEHOLDERS.smokeTest,
      RENDER_PLACEHOLDERS.alerts,
    ]) {
      expect(text).toContain(arn);
    }
  });

  it('follows the config', () => {
    const linear = renderWorkflowDefinitions(
      parseDeployConfig({
        resourcePrefix: 'movies',
        endpoint: { name: 'movies-live', instanceCount: 4 },
        deployment: { trafficRouting: 'LINEAR' },
      }),
    );
    expect(JSON.stringify(linear.deploy)).toContain('"Type":"LINEAR"');
    expect(JSON.stringify(linear.deploy)).toContain('"EndpointName":"movies-live"');
    expect(JSON.stringify(linear.retrain)).toContain('"Name":"/movies/production-model"');
  });
});

describe('resolveIntrinsics', () => {
  const stack = new Stack(new App(), 'S');

  it('joins, splits and selects, and resolves pseudo parameters', () => {
    expect(
      resolveIntrinsics(
        {
          'Fn::Join': [
            '',
            ['arn:', { Ref: 'AWS::Partition' }, ':', { 'Fn::Select': [1, { 'Fn::Split': ['/', 'a/b/c'] }] }],
          ],
        },
        stack,
      ),
    ).toBe('arn:aws:b');
  });

  it('throws UnresolvedDefinitionError for a resource reference without a placeholder', () => {
    expect(() => resolveIntrinsics({ Ref: 'MyBucket' }, stack)).toThrow(UnresolvedDefinitionError);
    expect(() => resolveIntrinsics({ 'Fn::GetAtt': ['MyRole', 'Arn'] }, stack)).toThrow(/Fn::GetAtt/);
  });

  it('uses the placeholder when given one', () => {
    expect(resolveIntrinsics({ Ref: 'MyBucket' }, stack, (name, arg) => `<${name}:${String(arg)}>`)).toBe(
      '<Ref:MyBucket>',
    );
  });
});
