'use strict';
// aws-local-stepfunctions 3.x targets Node >= 22 and calls Promise.withResolvers, the only
// Node 22 API it uses. On Node 20 the call throws inside the first Task and the error takes the
// Catch path, so a run would "fail" silently. This shim closes the gap; it is a no-op on Node 22+.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
