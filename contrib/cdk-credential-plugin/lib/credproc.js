'use strict';
// Running the credproc command and reading what it prints. No shell: the
// arguments go to execFile as a list. Credentials never appear in an error
// message (stdout is not quoted back, only credproc's stderr, which never
// holds secrets).

const childProcess = require('node:child_process');

/** The credproc executable: $CREDPROC_BIN, else `credproc` found on PATH. */
function credprocBinary(env) {
  return env.CREDPROC_BIN || 'credproc';
}

/** The last non-empty line of credproc's stderr (its one-line error). */
function lastLine(text) {
  const lines = String(text || '').split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
  return lines.length ? lines[lines.length - 1] : '';
}

/**
 * Run `credproc ...args`; resolves to stdout, rejects with an Error whose
 * message names the command and carries credproc's stderr line.
 * `deps` = {env, execFile} (execFile defaults to child_process.execFile).
 */
function runCredproc(args, deps) {
  const env = deps.env;
  const execFile = deps.execFile || childProcess.execFile;
  const binary = credprocBinary(env);
  const shown = ['credproc', ...args].join(' ');
  return new Promise((resolve, reject) => {
    execFile(binary, args, { env, encoding: 'utf8', maxBuffer: 1024 * 1024, windowsHide: true }, (error, stdout, stderr) => {
      if (!error) {
        resolve(stdout);
        return;
      }
      if (error.code === 'ENOENT') {
        reject(new Error(`${shown}: ${binary} not found (fix: pip install credproc, or set CREDPROC_BIN to its absolute path)`));
        return;
      }
      const why = lastLine(stderr) || (error.signal ? `killed by ${error.signal}` : `exit code ${error.code}`);
      reject(new Error(`${shown} failed: ${why}`));
    });
  });
}

/** The account rows of `credproc accounts --json` (a list of {alias, id, role, region, via}). */
function parseAccounts(stdout) {
  let rows;
  try {
    rows = JSON.parse(stdout);
  } catch (error) {
    throw new Error(`credproc accounts --json printed something that is not JSON (${error.message})`);
  }
  if (!Array.isArray(rows)) throw new Error('credproc accounts --json did not print a JSON list');
  return rows;
}

/**
 * credential_process JSON -> SDK v3 credentials. `accountId` is the account
 * the CDK asked for: credentials for any other account are refused.
 */
function parseCredentials(stdout, accountId) {
  let document;
  try {
    document = JSON.parse(stdout);
  } catch (error) {
    throw new Error('credproc get printed something that is not JSON (is CREDPROC_BIN really credproc?)');
  }
  if (!document || document.Version !== 1 || !document.AccessKeyId || !document.SecretAccessKey) {
    throw new Error('credproc get printed JSON without Version 1, AccessKeyId and SecretAccessKey');
  }
  if (document.AccountId && document.AccountId !== accountId) {
    throw new Error(`credproc get returned credentials for account ${document.AccountId}, not ${accountId}`);
  }
  const credentials = {
    accessKeyId: document.AccessKeyId,
    secretAccessKey: document.SecretAccessKey,
  };
  if (document.SessionToken) credentials.sessionToken = document.SessionToken;
  if (document.Expiration) {
    const expiration = new Date(document.Expiration);
    if (Number.isNaN(expiration.getTime())) {
      throw new Error(`credproc get printed an Expiration that is not a time: ${JSON.stringify(document.Expiration)}`);
    }
    credentials.expiration = expiration;
  }
  credentials.accountId = accountId;
  return credentials;
}

module.exports = { credprocBinary, runCredproc, parseAccounts, parseCredentials };
