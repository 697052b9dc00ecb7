'use strict';
// The end-to-end test's CDK app: one stack in an account the CLI's default
// credentials are not for, with a context lookup that needs credentials there.
// Account, region, parameter name and synthesizer come from the environment
// the test sets: "cli-credentials" makes the CLI use its own credentials for
// the lookup (the case the old assume-role plugin served); "default" first
// tries the bootstrap lookup role and falls back to them.

const cdk = require('aws-cdk-lib');
const ssm = require('aws-cdk-lib/aws-ssm');

const app = new cdk.App();
const stack = new cdk.Stack(app, 'DevStack', {
  env: { account: process.env.E2E_STACK_ACCOUNT, region: process.env.E2E_STACK_REGION },
  synthesizer:
    process.env.E2E_SYNTHESIZER === 'cli-credentials' ? new cdk.CliCredentialsStackSynthesizer() : new cdk.DefaultStackSynthesizer(),
});
const value = ssm.StringParameter.valueFromLookup(stack, process.env.E2E_PARAMETER_NAME);
new cdk.CfnOutput(stack, 'LookedUp', { value });
app.synth();
