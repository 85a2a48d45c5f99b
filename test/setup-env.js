'use strict';
// jest setupFiles: the suite runs on Node 20 by design (local/polyfills.js); the AWS SDK's notice that
// its releases after January 2027 need Node 22 would otherwise print once per test file.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
