// Tests talk to the local stack unless the environment already points elsewhere.
const path = require('node:path');
const fs = require('node:fs');
const file = path.join(__dirname, '..', '..', 'deploy', 'local', 'stack.env');
for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
  const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
  if (m && process.env[m[1]] === undefined) process.env[m[1]] = m[2];
}
