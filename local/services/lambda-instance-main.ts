/**
 * The worker-thread side of a Lambda instance (see lambda-instances.ts; started through
 * lambda-instance-entry.js): loads one handler module, as a Lambda container's init phase does, then
 * runs one invocation at a time and posts back the result or the error.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Context } from 'aws-lambda';
import {
  contextFrom,
  type LambdaInstanceData,
  type LambdaInstanceReply,
  type LambdaInstanceRequest,
} from './lambda-instances';

const { modulePath, exportName } = workerData as LambdaInstanceData;
const handler = (
  require(modulePath) as Record<string, (event: unknown, context?: Context) => Promise<unknown>>
)[exportName];
if (typeof handler !== 'function') throw new TypeError(`${modulePath} exports no function ${exportName}`);

parentPort!.on('message', (request: LambdaInstanceRequest) => {
  const reply = (message: LambdaInstanceReply): void => parentPort!.postMessage(message);
  Promise.resolve()
    .then(() =>
      request.context ? handler(request.payload, contextFrom(request.context)) : handler(request.payload),
    )
    .then(
      (result) => reply({ id: request.id, ok: true, result }),
      (error: Error) =>
        reply({
          id: request.id,
          ok: false,
          error: { name: error.name, message: error.message, stack: error.stack },
        }),
    );
});
