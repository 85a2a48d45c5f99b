#!/usr/bin/env node
'use strict';
// The `reelflow` command. The project ships TypeScript sources and runs them through tsx's
// CommonJS loader, so `npm ci` needs no build step.
require('../polyfills');
// reelflow runs on Node 20 by design (polyfills.js); the AWS SDK's notice that its releases after
// January 2027 need Node 22 would otherwise print in the middle of the output. README: Node 22 works too.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
require('tsx/cjs');
require('../cli.ts').main(process.argv.slice(2));
