"""The request path every entry point shares: admission against budgets, the result cache, time limits."""
