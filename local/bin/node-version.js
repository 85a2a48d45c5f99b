'use strict';
// reelflow needs Node.js >= 22 (aws-local-stepfunctions 3 does; package.json `engines`). npm scripts and
// npx run node_modules/.bin/node, the `node@22` devDependency, so only a direct `node local/bin/...` on
// an older Node.js gets here; it stops with a message instead of failing later inside a workflow.
exports.requireNode22 = function requireNode22(command) {
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= 22) return;
  process.stderr.write(
    `${command}: Node.js ${process.version} is too old; reelflow needs Node.js 22 or later.\n` +
      'Run it through npm (npm start, npx reelflow ...), which uses the Node.js 22 that `npm ci` installs.\n',
  );
  process.exit(1);
};
