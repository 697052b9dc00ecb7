// A tiny AWS SDK for Go v2 client for credproc's tests: it loads the default
// config and credential chain exactly as Terraform's AWS provider does
// (config.LoadDefaultConfig), calls STS GetCallerIdentity and prints the
// caller's account and ARN as one JSON line.
//
// Built offline from Debian's golang-github-aws-aws-sdk-go-v2-dev:
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o whoami .
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func main() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "whoami: loading the AWS config:", err)
		os.Exit(2)
	}
	var options []func(*sts.Options)
	// Newer SDKs read AWS_ENDPOINT_URL_STS themselves; Debian's (1.17) does not,
	// so the test client does what they do: point STS at the local server.
	if url := os.Getenv("AWS_ENDPOINT_URL_STS"); url != "" {
		options = append(options, func(o *sts.Options) { o.EndpointResolver = sts.EndpointResolverFromURL(url) })
	}
	out, err := sts.NewFromConfig(cfg, options...).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "whoami:", err)
		os.Exit(1)
	}
	line, _ := json.Marshal(map[string]string{"Account": aws.ToString(out.Account), "Arn": aws.ToString(out.Arn)})
	fmt.Println(string(line))
}
