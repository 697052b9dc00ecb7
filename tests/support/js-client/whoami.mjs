// The AWS SDK for JavaScript v3 as a test client of credproc: the default
// credential chain (what the CDK CLI and most Node tools use) and one STS
// GetCallerIdentity call; prints {"Account", "Arn"} as one JSON line, or the
// SDK's error on stderr with exit code 1. Region and STS endpoint come from
// AWS_REGION and AWS_ENDPOINT_URL_STS.
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";

try {
  const out = await new STSClient({}).send(new GetCallerIdentityCommand({}));
  console.log(JSON.stringify({ Account: out.Account, Arn: out.Arn }));
} catch (error) {
  console.error(`whoami: ${error.name}: ${error.message}`);
  process.exit(1);
}
