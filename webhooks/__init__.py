"""CRM webhooks: the transactional outbox, its signed delivery with retries, and the check of
where a webhook may go."""
