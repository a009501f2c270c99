"""All SQL of the orders service. Repositories never commit: the request or actor owns the transaction."""
