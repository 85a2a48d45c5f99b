/**
 * The one synth in the suite that bundles the Lambda handlers with esbuild, as `cdk synth` does
 * (synth-app.ts skips bundling everywhere else). REELFLOW_BUNDLING marks no module external, so every
 * handler's bundle carries the AWS SDK it was tested with instead of loading the Lambda runtime's copy.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REELFLOW_BUNDLING } from '../../infra/constructs/reelflow-function';
import { synthApp, type SynthesizedApp } from './synth-app';

interface HandlerBundle {
  readonly functionId: string;
  readonly code: string;
  readonly sources: string[];
}

let built: SynthesizedApp;

beforeAll(() => {
  built = synthApp({}, { bundling: true });
});

/** The bundle (index.js and its source map's sources) of every reelflow handler in the main stack. */
function handlerBundles(): HandlerBundle[] {
  const outdir = built.app.outdir;
  const manifest = JSON.parse(
    fs.readFileSync(path.join(outdir, `${built.stack.artifactId}.assets.json`), 'utf8'),
  ) as { files: Record<string, { source: { path: string } }> };
  const functions = built.template.findResources('AWS::Lambda::Function');
  return Object.entries(functions)
    .filter(([, fn]) => fn.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME === 'reelflow')
    .map(([functionId, fn]) => {
      const hash = String(fn.Properties.Code.S3Key).replace(/\.zip$/, '');
      const dir = path.join(outdir, manifest.files[hash].source.path);
      const map = JSON.parse(fs.readFileSync(path.join(dir, 'index.js.map'), 'utf8')) as {
        sources: string[];
      };
      return { functionId, code: fs.readFileSync(path.join(dir, 'index.js'), 'utf8'), sources: map.sources };
    });
}

describe('Lambda handler bundles (real esbuild bundling)', () => {
  it('bundle the AWS SDK into the handlers instead of requiring it at run time', () => {
    expect(REELFLOW_BUNDLING.externalModules).toEqual([]);
    const bundles = handlerBundles();
    expect(bundles.length).toBeGreaterThanOrEqual(8);
    // No bundle loads an SDK client or lib-storage from the runtime (the SDK's optional
    // signature-v4-crt / signature-v4a requires, inside try/catch, are not the SDK itself).
    for (const bundle of bundles) {
      expect({
        functionId: bundle.functionId,
        requiresSdk: /require\(["']@aws-sdk\/(client-|lib-|core)/.test(bundle.code),
      }).toEqual({ functionId: bundle.functionId, requiresSdk: false });
    }
    // The recommend handler's bundle contains the SageMaker runtime client it calls.
    const recommend = bundles.filter((b) => b.functionId.startsWith('RecommendApi'));
    expect(recommend).toHaveLength(1);
    expect(
      recommend[0].sources.some((s) => s.includes('node_modules/@aws-sdk/client-sagemaker-runtime/')),
    ).toBe(true);
  });
});
