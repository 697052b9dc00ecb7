'use strict';
// CDK CLI credential plugin: credentials for each stack's account from
// `credproc get`. Load it with `cdk --plugin /absolute/path/to/this/directory`
// or "plugin": ["/absolute/path"] in cdk.json / ~/.cdk.json.

const fs = require('node:fs');
const os = require('node:os');
const { CredprocSource } = require('./lib/source');
const { contextSources } = require('./lib/roles');

function defaultSource() {
  return new CredprocSource({
    env: process.env,
    contextSources: () =>
      contextSources({
        argv: process.argv.slice(2),
        cwd: process.cwd(),
        home: os.homedir(),
        readFile: (file) => fs.readFileSync(file, 'utf8'),
      }),
  });
}

module.exports = {
  version: '1',
  init(host) {
    host.registerCredentialProviderSource(defaultSource());
  },
};
