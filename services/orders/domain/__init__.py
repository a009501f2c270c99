"""Business rules of orders, commissions, customers and settings; no I/O here."""
