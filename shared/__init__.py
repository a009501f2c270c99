"""Plumbing every service uses: config, database, messaging, auth, logging.

This is the only code services share; what one service knows about another is limited
to the event contracts in `shared.messaging.contracts`.
"""
