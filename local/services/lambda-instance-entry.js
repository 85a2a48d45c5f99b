'use strict';
// Entry point of a Lambda instance thread (lambda-instances.ts): tsx's CommonJS loader first, as
// local/bin/reelflow.js does for the main thread, then the instance's message loop.
require(require.resolve('tsx/cjs', { paths: [__dirname] }));
require('./lambda-instance-main.ts');
