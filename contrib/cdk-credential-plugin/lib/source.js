'use strict';
// The credential provider source the CDK CLI talks to (cli-plugin-contract):
// isAvailable, canProvideCredentials, getProvider.

const { modeInfo, roleSettings, roleArguments } = require('./roles');
const { runCredproc, parseAccounts, parseCredentials } = require('./credproc');

class CredprocSource {
  /**
   * deps = {env, execFile?, contextSources: () => [{origin, values}]}.
   * Settings are read on first use, not at load, so that a broken cdk.json
   * shows up as a message about credentials rather than a failed plugin load.
   */
  constructor(deps) {
    this.name = 'credproc';
    this._deps = deps;
    this._settings = undefined;
    this._accounts = undefined;
  }

  /** Role settings per mode (read once per process). */
  roles() {
    if (this._settings === undefined) {
      this._settings = roleSettings(this._deps.env, this._deps.contextSources());
    }
    return this._settings;
  }

  /** credproc's configured accounts, asked once per process (failures too). */
  accounts() {
    if (this._accounts === undefined) {
      this._accounts = runCredproc(['accounts', '--json'], this._deps).then(parseAccounts);
    }
    return this._accounts;
  }

  async isAvailable() {
    // Whether credproc is installed is answered by canProvideCredentials,
    // which turns a missing binary into a message instead of a silent skip.
    return true;
  }

  /**
   * True for accounts in credproc's config, and for any account when a role
   * is set for the plugin (credproc needs no config for an id plus a role).
   * Errors are thrown: the CDK CLI prints them as a warning naming this plugin.
   */
  async canProvideCredentials(accountId) {
    const roles = this.roles();
    if (Object.values(roles).some(Boolean)) return true;
    const rows = await this.accounts();
    return rows.some((row) => row && row.id === accountId);
  }

  /** An SDK v3 credential provider that runs `credproc get` for the account and mode. */
  async getProvider(accountId, mode, options) {
    const info = modeInfo(mode);
    if (!options || !options.supportsV3Providers) {
      throw new Error('credproc plugin: this CDK CLI does not accept AWS SDK v3 credential providers (fix: upgrade aws-cdk)');
    }
    const args = ['get', accountId, ...roleArguments(this.roles()[mode], accountId)];
    const deps = this._deps;
    const provider = async () => {
      try {
        return parseCredentials(await runCredproc(args, deps), accountId);
      } catch (error) {
        error.message = `credproc plugin (account ${accountId}, ${info.label}): ${error.message}`;
        throw error;
      }
    };
    return provider;
  }
}

module.exports = { CredprocSource };
