// Validates state-machine definitions with asl-validator (ARN and path checks
// on) and prints one JSON line per file. Exit status 1 when any is invalid.
// Usage: NODE_PATH=<tools node_modules> node asl-validate.cjs FILE...
'use strict';
const fs = require('node:fs');
const validator = require('asl-validator');
const version = require('asl-validator/package.json').version;
let bad = 0;
for (const file of process.argv.slice(2)) {
  const definition = JSON.parse(fs.readFileSync(file, 'utf8'));
  const { isValid, errorsText } = validator(definition, { checkArn: true, checkPaths: true });
  console.log(JSON.stringify({ file, version, isValid, errors: isValid ? '' : errorsText('\n') }));
  if (!isValid) bad++;
}
process.exitCode = bad ? 1 : 0;
