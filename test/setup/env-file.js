// Loads KEY=value lines of a deploy/local env file into process.env, leaving variables the
// environment already sets alone.
const path = require('node:path');
const fs = require('node:fs');

exports.loadEnvFile = (name) => {
  const file = path.join(__dirname, '..', '..', 'deploy', 'local', name);
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m && process.env[m[1]] === undefined) process.env[m[1]] = m[2];
  }
};
