/**
 * The project's Lambda handlers, loaded for the local runtime. They are imported only after the
 * handler environment is applied (environment.ts): each builds its SDK clients at module scope from it.
 *
 * The workflow handlers are keyed by the function ARNs the rendered definitions call
 * (RENDER_PLACEHOLDERS), so a Task binds to the handler the stack would wire to that function. The three
 * data handlers (the ones the stack gives 10 GB and 15 minutes) run on Lambda instances, worker threads
 * (services/lambda-instances.ts), and so does the tune handler; the light ones run on the main thread.
 */
import { join } from 'node:path';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, CodePipelineEvent, Context } from 'aws-lambda';
import type { ObjectCreatedEvent, StartRunResult } from '../functions/pipeline/start-run';
import { RENDER_PLACEHOLDERS } from '../pipeline/render';
import { LambdaInstances } from './services/lambda-instances';
import type { LambdaHandler } from './task-bindings';

export interface ProjectHandlers {
  /** The workflow handlers by function ARN. */
  readonly lambdas: Readonly<Record<string, LambdaHandler>>;
  readonly recommend: (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;
  readonly summarize: (event: CodePipelineEvent) => Promise<void>;
  readonly startRun: (event: ObjectCreatedEvent) => Promise<StartRunResult>;
  /** Stops the Lambda instances of the heavy handlers. */
  stop(): Promise<void>;
}

const WORKFLOW = join(__dirname, '..', 'functions', 'workflow');

/**
 * Imports the handler modules (call after applyHandlerEnvironment). `require`, not `import()`: the
 * modules must load now, in order, through the CommonJS loader tsx and ts-jest both provide.
 */
export function loadProjectHandlers(): ProjectHandlers {
  const heavy = ['prepare', 'build-vectors', 'evaluate', 'tune'].map(
    (name) => new LambdaInstances({ modulePath: join(WORKFLOW, `${name}.ts`), exportName: 'handler' }),
  );
  const [prepare, buildVectors, evaluate, tune] = heavy.map(
    (instances) => (payload: never) => instances.invoke(payload),
  );
  const planRun =
    require('../functions/workflow/plan-run') as typeof import('../functions/workflow/plan-run');
  const recordDeployment =
    require('../functions/workflow/record-deployment') as typeof import('../functions/workflow/record-deployment');
  const smokeTest =
    require('../functions/workflow/smoke-test') as typeof import('../functions/workflow/smoke-test');
  const recommend = require('../functions/api/recommend') as typeof import('../functions/api/recommend');
  const summarize =
    require('../functions/pipeline/summarize') as typeof import('../functions/pipeline/summarize');
  const startRun =
    require('../functions/pipeline/start-run') as typeof import('../functions/pipeline/start-run');
  const p = RENDER_PLACEHOLDERS;
  return {
    lambdas: {
      [p.planRun]: planRun.handler as LambdaHandler,
      [p.prepare]: prepare,
      [p.buildVectors]: buildVectors,
      [p.evaluate]: evaluate,
      [p.tune]: tune,
      [p.recordDeployment]: recordDeployment.handler as LambdaHandler,
      [p.smokeTest]: smokeTest.handler as LambdaHandler,
    },
    recommend: (event, context) => recommend.handler(event, context),
    summarize: (event) => summarize.handler(event),
    startRun: (event) => startRun.handler(event),
    stop: async () => {
      await Promise.all(heavy.map((instances) => instances.stop()));
    },
  };
}
