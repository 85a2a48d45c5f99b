'use strict';
// Entry point of an endpoint instance thread (endpoint-instances.ts): tsx's CommonJS loader first, as
// local/bin/reelflow.js does for the main thread, then the instance's message loop.
require(require.resolve('tsx/cjs', { paths: [__dirname] }));
require('./endpoint-instance-main.ts');
