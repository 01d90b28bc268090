"""Lambda runtime code. Never imports the CDK or the config model: it runs in AWS Lambda."""
