'use strict';
// Which role the plugin asks credproc for, per CDK mode. Pure apart from the
// file reads, which are passed in.
//
// Precedence, first match wins (the CDK CLI's own context order, with the
// plugin's environment variables in front):
//   1. CREDPROC_CDK_READ_ROLE / CREDPROC_CDK_WRITE_ROLE
//   2. --context / -c on the cdk command line
//   3. "context" in ./cdk.json
//   4. ./cdk.context.json
//   5. "context" in ~/.cdk.json
//   6. nothing: credproc's config decides (the account's role, else [defaults] role)

const path = require('node:path');

const FOR_READING = 0;
const FOR_WRITING = 1;

const MODES = {
  [FOR_READING]: {
    label: 'reading',
    envVariable: 'CREDPROC_CDK_READ_ROLE',
    contextKey: 'assume-role-credentials:readIamRoleName',
  },
  [FOR_WRITING]: {
    label: 'writing',
    envVariable: 'CREDPROC_CDK_WRITE_ROLE',
    contextKey: 'assume-role-credentials:writeIamRoleName',
  },
};

/** The mode's table entry, or a clear error for a mode this plugin does not know. */
function modeInfo(mode) {
  const info = MODES[mode];
  if (!info) {
    throw new Error(`credproc plugin: unknown CDK credential mode ${JSON.stringify(mode)} (expected 0 = reading, 1 = writing)`);
  }
  return info;
}

/** Context assignments given with --context / -c on the command line. */
function contextFromArgv(argv) {
  const context = {};
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    let assignment;
    if (arg === '--context' || arg === '-c') {
      assignment = argv[++index];
    } else if (arg.startsWith('--context=')) {
      assignment = arg.slice('--context='.length);
    } else {
      continue;
    }
    if (typeof assignment !== 'string') continue;
    const equals = assignment.indexOf('=');
    if (equals > 0) context[assignment.slice(0, equals)] = assignment.slice(equals + 1);
  }
  return context;
}

/** A JSON file's object, {} if the file does not exist; a clear error if it is not JSON. */
function readJsonObject(file, readFile) {
  let text;
  try {
    text = readFile(file);
  } catch (error) {
    if (error && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) return {};
    throw new Error(`credproc plugin: cannot read ${file}: ${error.message}`);
  }
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`credproc plugin: ${file} is not valid JSON: ${error.message}`);
  }
  return value && typeof value === 'object' && !Array.isArray(value) ? value : {};
}

/**
 * The context sources in precedence order: [{origin, values}].
 * `where` = {argv, cwd, home, readFile}.
 */
function contextSources(where) {
  const contextOf = (object) => (object.context && typeof object.context === 'object' ? object.context : {});
  const project = path.join(where.cwd, 'cdk.json');
  const projectContext = path.join(where.cwd, 'cdk.context.json');
  const user = path.join(where.home, '.cdk.json');
  return [
    { origin: 'the cdk command line (--context)', values: contextFromArgv(where.argv) },
    { origin: project, values: contextOf(readJsonObject(project, where.readFile)) },
    { origin: projectContext, values: readJsonObject(projectContext, where.readFile) },
    { origin: user, values: contextOf(readJsonObject(user, where.readFile)) },
  ];
}

/**
 * The configured role setting for each mode: {0: {value, origin} | null, 1: ...}.
 * `env` is the environment; `sources` comes from contextSources().
 */
function roleSettings(env, sources) {
  const settings = {};
  for (const mode of [FOR_READING, FOR_WRITING]) {
    const { envVariable, contextKey } = MODES[mode];
    settings[mode] = null;
    if (env[envVariable]) {
      settings[mode] = { value: env[envVariable], origin: `$${envVariable}` };
      continue;
    }
    for (const source of sources) {
      if (!(contextKey in source.values)) continue;
      const value = source.values[contextKey];
      if (typeof value !== 'string' || value === '') {
        throw new Error(`credproc plugin: ${source.origin}: ${contextKey} must be a role name or ARN, got ${JSON.stringify(value)}`);
      }
      settings[mode] = { value, origin: `${source.origin}: ${contextKey}` };
      break;
    }
  }
  return settings;
}

/**
 * The credproc arguments for a role setting: ['--role', ...] plus
 * ['--external-id', ...]. As in the old assume-role plugin, a role name may
 * carry "{ACCOUNT_ID}" and a "/external-id" suffix; an ARN is passed as is.
 */
function roleArguments(setting, accountId) {
  if (!setting) return [];
  const value = setting.value.split('{ACCOUNT_ID}').join(accountId);
  if (value.startsWith('arn:')) return ['--role', value];
  const slash = value.indexOf('/');
  if (slash < 0) return ['--role', value];
  return ['--role', value.slice(0, slash), '--external-id', value.slice(slash + 1)];
}

module.exports = {
  FOR_READING,
  FOR_WRITING,
  MODES,
  modeInfo,
  contextFromArgv,
  contextSources,
  roleSettings,
  roleArguments,
};
