import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import {
  BUILTIN_ALGORITHM_ACCOUNTS,
  builtinImageUri,
  builtinImageUriFor,
  ecrDomain,
  UnsupportedRegionError,
} from '../../pipeline/images';

describe('built-in algorithm images', () => {
  it('ships the registry account of every region the SageMaker SDK lists', () => {
    const regions = Object.keys(BUILTIN_ALGORITHM_ACCOUNTS);
    expect(regions).toHaveLength(33);
    expect(regions).toEqual(
      expect.arrayContaining(['us-east-1', 'eu-west-1', 'cn-north-1', 'us-gov-west-1']),
    );
    for (const account of Object.values(BUILTIN_ALGORITHM_ACCOUNTS)) expect(account).toMatch(/^\d{12}$/);
  });

  it('resolves the FM and k-NN images of a region, tag 1, from the same account', () => {
    expect(builtinImageUriFor('us-east-1', 'factorization-machines')).toBe(
      '382416733822.dkr.ecr.us-east-1.amazonaws.com/factorization-machines:1',
    );
    expect(builtinImageUriFor('eu-central-1', 'knn')).toBe(
      '664544806723.dkr.ecr.eu-central-1.amazonaws.com/knn:1',
    );
  });

  it('uses the amazonaws.com.cn domain in the China regions', () => {
    expect(ecrDomain('cn-northwest-1')).toBe('amazonaws.com.cn');
    expect(builtinImageUriFor('cn-north-1', 'knn')).toBe(
      '390948362332.dkr.ecr.cn-north-1.amazonaws.com.cn/knn:1',
    );
  });

  it('throws UnsupportedRegionError for a region without a registry', () => {
    expect(() => builtinImageUriFor('xx-nowhere-1', 'knn')).toThrow(UnsupportedRegionError);
  });

  it('gives a stack with a concrete region a literal URI', () => {
    const stack = new Stack(new App(), 'S', { env: { region: 'ap-southeast-2' } });
    expect(builtinImageUri(stack, 'knn')).toBe('712309505854.dkr.ecr.ap-southeast-2.amazonaws.com/knn:1');
  });

  it('gives a region-agnostic stack one mapping looked up by AWS::Region and AWS::URLSuffix', () => {
    const stack = new Stack(new App(), 'S');
    const fmUri = builtinImageUri(stack, 'factorization-machines');
    const fm = stack.resolve(fmUri);
    // Something in the template uses the images, as the workflows do.
    new ssm.CfnParameter(stack, 'FmImage', { type: 'String', value: fmUri });
    new ssm.CfnParameter(stack, 'KnnImage', { type: 'String', value: builtinImageUri(stack, 'knn') });

    expect(JSON.stringify(fm)).toContain(
      '"Fn::FindInMap":["BuiltinAlgorithmRegistry",{"Ref":"AWS::Region"},"account"]',
    );
    expect(JSON.stringify(fm)).toContain('{"Ref":"AWS::URLSuffix"}');
    const template = Template.fromStack(stack).toJSON() as {
      Mappings: Record<string, Record<string, { account: string }>>;
    };
    expect(Object.keys(template.Mappings)).toEqual(['BuiltinAlgorithmRegistry']);
    expect(template.Mappings.BuiltinAlgorithmRegistry['us-west-2']).toEqual({ account: '174872318107' });
  });
});
