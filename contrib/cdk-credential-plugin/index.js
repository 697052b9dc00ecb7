'use strict';
// CDK CLI credential plugin: credentials for each stack's account from
// `credproc get`. Installed beside the CDK CLI (npm package
// credproc-cdk-credential-plugin), load it with `cdk --plugin
// credproc-cdk-credential-plugin` or "plugin": ["credproc-cdk-credential-plugin"]
// in cdk.json / ~/.cdk.json; from a checkout, by this directory's absolute path.

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
