'use strict';
// The plugin against a fake CDK host and a fake credproc (a real subprocess).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const plugin = require('..');
const { CredprocSource } = require('../lib/source');
const { contextSources } = require('../lib/roles');

const FAKE_CREDPROC = path.join(__dirname, 'fixtures', 'fake-credproc.js');
const READING = 0;
const WRITING = 1;
const DEV = '111111111111';
const UNKNOWN = '999999999999';

/** The parts of the CDK CLI's plugin host a credential plugin uses. */
class FakeHost {
  constructor() {
    this.credentialProviderSources = [];
    this.warnings = [];
  }

  registerCredentialProviderSource(source) {
    this.credentialProviderSources.push(source);
  }

  /** What the CLI does for an account it has no default credentials for. */
  async credentialsFor(accountId, mode) {
    for (const source of this.credentialProviderSources) {
      if (!(await source.isAvailable())) continue;
      let canProvide;
      try {
        canProvide = await source.canProvideCredentials(accountId);
      } catch (error) {
        this.warnings.push(`Uncaught exception in ${source.name}: ${error.message}`);
        canProvide = false;
      }
      if (!canProvide) continue;
      const provider = await source.getProvider(accountId, mode, { supportsV3Providers: true });
      return provider();
    }
    return undefined;
  }
}

/** A temp project dir and home, and a source wired to the fake credproc. */
function setup({ env = {}, cdkJson, cdkContextJson, userCdkJson, argv = [] } = {}) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'credproc-plugin-'));
  const cwd = path.join(root, 'app');
  const home = path.join(root, 'home');
  fs.mkdirSync(cwd);
  fs.mkdirSync(home);
  if (cdkJson !== undefined) fs.writeFileSync(path.join(cwd, 'cdk.json'), typeof cdkJson === 'string' ? cdkJson : JSON.stringify(cdkJson));
  if (cdkContextJson !== undefined) fs.writeFileSync(path.join(cwd, 'cdk.context.json'), JSON.stringify(cdkContextJson));
  if (userCdkJson !== undefined) fs.writeFileSync(path.join(home, '.cdk.json'), JSON.stringify(userCdkJson));
  const log = path.join(root, 'calls.jsonl');
  const fullEnv = {
    PATH: process.env.PATH,
    CREDPROC_BIN: FAKE_CREDPROC,
    FAKE_CREDPROC_LOG: log,
    FAKE_CREDPROC_ACCOUNTS: JSON.stringify([{ alias: 'dev', id: DEV, role: 'Deployer', region: 'us-east-1', via: [] }]),
    ...env,
  };
  const source = new CredprocSource({
    env: fullEnv,
    contextSources: () => contextSources({ argv, cwd, home, readFile: (file) => fs.readFileSync(file, 'utf8') }),
  });
  const host = new FakeHost();
  host.registerCredentialProviderSource(source);
  const calls = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n').map((line) => JSON.parse(line)) : []);
  return { host, source, calls, root };
}

test('the module is a version 1 plugin that registers one source', () => {
  assert.equal(plugin.version, '1');
  const host = new FakeHost();
  plugin.init(host);
  assert.equal(host.credentialProviderSources.length, 1);
  const [source] = host.credentialProviderSources;
  assert.equal(source.name, 'credproc');
  for (const method of ['isAvailable', 'canProvideCredentials', 'getProvider']) {
    assert.equal(typeof source[method], 'function');
  }
});

test('the package has no runtime dependencies', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
  assert.equal(manifest.dependencies, undefined);
  assert.equal(manifest.main, 'index.js');
});

test('both modes map credproc JSON to SDK v3 credentials; with no override the config decides the role', async () => {
  const { host, calls } = setup();
  for (const mode of [READING, WRITING]) {
    const credentials = await host.credentialsFor(DEV, mode);
    assert.deepEqual(credentials, {
      accessKeyId: `AKIA-${DEV}`,
      secretAccessKey: 'secret-for-config-role',
      sessionToken: `token-${DEV}`,
      expiration: new Date('2030-01-02T03:04:05Z'),
      accountId: DEV,
    });
    assert.ok(credentials.expiration instanceof Date);
  }
  const gets = calls().filter((args) => args[0] === 'get');
  assert.deepEqual(gets, [['get', DEV], ['get', DEV]]);
});

test('read and write roles come from the old plugin\'s context keys in cdk.json', async () => {
  const { host, calls } = setup({
    cdkJson: {
      app: 'node app.js',
      context: {
        'assume-role-credentials:readIamRoleName': 'cdk-readOnlyRole',
        'assume-role-credentials:writeIamRoleName': 'cdk-writeRole',
      },
    },
  });
  assert.equal((await host.credentialsFor(DEV, READING)).secretAccessKey, 'secret-for-cdk-readOnlyRole');
  assert.equal((await host.credentialsFor(DEV, WRITING)).secretAccessKey, 'secret-for-cdk-writeRole');
  assert.deepEqual(calls().filter((args) => args[0] === 'get'), [
    ['get', DEV, '--role', 'cdk-readOnlyRole'],
    ['get', DEV, '--role', 'cdk-writeRole'],
  ]);
});

test('precedence: environment, then --context, then cdk.json, cdk.context.json, ~/.cdk.json', async () => {
  const key = 'assume-role-credentials:readIamRoleName';
  const files = {
    cdkJson: { context: { [key]: 'from-cdk-json' } },
    cdkContextJson: { [key]: 'from-cdk-context-json' },
    userCdkJson: { context: { [key]: 'from-user-cdk-json' } },
  };
  const read = async (options) => (await setup(options).host.credentialsFor(DEV, READING)).secretAccessKey;
  assert.equal(await read({ ...files, env: { CREDPROC_CDK_READ_ROLE: 'from-env' }, argv: ['synth', '-c', `${key}=from-argv`] }), 'secret-for-from-env');
  assert.equal(await read({ ...files, argv: ['synth', '--context', `${key}=from-argv`] }), 'secret-for-from-argv');
  assert.equal(await read({ ...files, argv: [`--context=${key}=from-argv-eq`] }), 'secret-for-from-argv-eq');
  assert.equal(await read(files), 'secret-for-from-cdk-json');
  assert.equal(await read({ cdkContextJson: files.cdkContextJson, userCdkJson: files.userCdkJson }), 'secret-for-from-cdk-context-json');
  assert.equal(await read({ userCdkJson: files.userCdkJson }), 'secret-for-from-user-cdk-json');
});

test('an old-plugin role value with {ACCOUNT_ID} and /external-id becomes --role and --external-id', async () => {
  const { host, calls } = setup({ env: { CREDPROC_CDK_WRITE_ROLE: 'deploy-{ACCOUNT_ID}/ext-123' } });
  await host.credentialsFor(DEV, WRITING);
  const arn = `arn:aws:iam::${DEV}:role/path/Deployer`;
  const viaArn = setup({ env: { CREDPROC_CDK_READ_ROLE: arn } });
  await viaArn.host.credentialsFor(DEV, READING);
  assert.deepEqual(calls().at(-1), ['get', DEV, '--role', `deploy-${DEV}`, '--external-id', 'ext-123']);
  assert.deepEqual(viaArn.calls().at(-1), ['get', DEV, '--role', arn]);
});

test('canProvideCredentials: configured accounts only, asked once per process', async () => {
  const { source, calls } = setup();
  assert.equal(await source.canProvideCredentials(DEV), true);
  assert.equal(await source.canProvideCredentials(UNKNOWN), false);
  assert.equal(await source.canProvideCredentials(DEV), true);
  assert.deepEqual(calls(), [['accounts', '--json']]);
});

test('canProvideCredentials: any account once a role is set for the plugin, without asking credproc', async () => {
  const { host, source, calls } = setup({ argv: ['deploy', '-c', 'assume-role-credentials:writeIamRoleName=Deployer'] });
  assert.equal(await source.canProvideCredentials(UNKNOWN), true);
  assert.equal((await host.credentialsFor(UNKNOWN, WRITING)).accountId, UNKNOWN);
  assert.deepEqual(calls(), [['get', UNKNOWN, '--role', 'Deployer']]);
});

test('a failing `credproc accounts` is a warning naming credproc\'s error, not a silent false', async () => {
  const line = 'credproc: /home/me/config.toml:3: accounts.dev.id: \'12345\' is not a 12-digit account id (fix: ...)';
  const { host, calls } = setup({ env: { FAKE_CREDPROC_FAIL: line } });
  assert.equal(await host.credentialsFor(DEV, READING), undefined);
  assert.equal(await host.credentialsFor(UNKNOWN, READING), undefined);
  assert.equal(host.warnings.length, 2);
  assert.equal(host.warnings[0], `Uncaught exception in credproc: credproc accounts --json failed: ${line}`);
  assert.equal(calls().length, 1, 'the failure is remembered, not retried per account');
});

test('credproc missing: the message says how to install it or point CREDPROC_BIN at it', async () => {
  const { host } = setup({ env: { CREDPROC_BIN: path.join(os.tmpdir(), 'no-such-credproc') } });
  await host.credentialsFor(DEV, READING);
  assert.match(host.warnings[0], /no-such-credproc not found \(fix: pip install credproc, or set CREDPROC_BIN/);
});

test('an error from credproc get surfaces with its stderr line, the account and the mode', async () => {
  const line = 'credproc: AccessDenied: arn:aws:sts::123456789012:assumed-role/hub/me is not authorized to perform sts:AssumeRole (fix: ...)';
  const { source } = setup({ env: { FAKE_CREDPROC_FAIL: line } });
  const provider = await source.getProvider(DEV, WRITING, { supportsV3Providers: true });
  await assert.rejects(provider(), (error) => {
    assert.equal(error.message, `credproc plugin (account ${DEV}, writing): credproc get ${DEV} failed: ${line}`);
    return true;
  });
});

test('credentials for another account than the one asked for are refused', async () => {
  const { source } = setup({ env: { FAKE_CREDPROC_ACCOUNT_ID: '222222222222' } });
  const provider = await source.getProvider(DEV, READING, { supportsV3Providers: true });
  await assert.rejects(provider(), /returned credentials for account 222222222222, not 111111111111/);
});

test('output that is not credential JSON is refused without echoing it', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'credproc-plugin-'));
  const chatty = path.join(root, 'chatty');
  fs.writeFileSync(chatty, '#!/bin/sh\necho "SECRET-LOOKING-BANNER"\n', { mode: 0o755 });
  const { source } = setup({ env: { CREDPROC_BIN: chatty } });
  const provider = await source.getProvider(DEV, READING, { supportsV3Providers: true });
  await assert.rejects(provider(), (error) => {
    assert.match(error.message, /printed something that is not JSON/);
    assert.doesNotMatch(error.message, /SECRET-LOOKING-BANNER/);
    return true;
  });
});

test('an old CLI without SDK v3 providers, or an unknown mode, is a clear error', async () => {
  const { source } = setup();
  await assert.rejects(source.getProvider(DEV, READING, {}), /does not accept AWS SDK v3 credential providers \(fix: upgrade aws-cdk\)/);
  await assert.rejects(source.getProvider(DEV, 7, { supportsV3Providers: true }), /unknown CDK credential mode 7/);
});

test('a cdk.json that is not JSON, or a role that is not a string, is named in the message', async () => {
  const broken = setup({ cdkJson: '{ "context": ' });
  await assert.rejects(broken.source.canProvideCredentials(DEV), /cdk\.json is not valid JSON/);
  const wrongType = setup({ cdkJson: { context: { 'assume-role-credentials:readIamRoleName': 42 } } });
  await assert.rejects(wrongType.source.canProvideCredentials(DEV), /cdk\.json: assume-role-credentials:readIamRoleName must be a role name or ARN, got 42/);
});
