/**
 * The worker-thread side of an endpoint instance (see endpoint-instances.ts; started through
 * endpoint-instance-entry.js): loads its own copy of the model, says it is ready (SageMaker's /ping),
 * then runs each invocation through the serial inference pipeline and posts back the answer.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type {
  EndpointInstanceData,
  EndpointInstanceMessage,
  EndpointInstanceRequest,
} from './endpoint-instances';
import { loadModelFromSource, type ContainerResponse } from './model-containers';

const post = (message: EndpointInstanceMessage): void => parentPort!.postMessage(message);

loadModelFromSource((workerData as EndpointInstanceData).source).then(
  (model) => {
    parentPort!.on('message', ({ id, request }: EndpointInstanceRequest) => {
      let response: ContainerResponse;
      try {
        response = model.invoke(request);
      } catch (error) {
        response = {
          status: 500,
          body: JSON.stringify({ message: (error as Error).message }),
          contentType: 'application/json',
        };
      }
      post({ type: 'answer', id, response });
    });
    post({ type: 'ready' });
  },
  (error: Error) => post({ type: 'load-failed', message: error.message }),
);
