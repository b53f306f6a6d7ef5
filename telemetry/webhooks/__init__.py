"""Delivering outbox events to external CRMs: the signature and the sender process."""
