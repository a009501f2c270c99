"""Services of the platform, one package each; none imports another."""
