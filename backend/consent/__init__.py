"""Consent: the ledger (the only place credits move), popup reports, WeChat's pushes, device subscriptions."""
