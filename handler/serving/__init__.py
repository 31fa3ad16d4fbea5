"""The request path all entry points share: budgets, the result cache, time limits."""
