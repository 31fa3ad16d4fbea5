"""AWS adapters: S3 (cache, media, trigger), the Lambda context, and Powertools logs, metrics and traces."""
