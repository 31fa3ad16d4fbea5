"""AWS adapters: S3 (cache, media, trigger), the Lambda context, Powertools logs and metrics."""
