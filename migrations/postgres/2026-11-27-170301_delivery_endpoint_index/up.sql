-- The delivery worker claims the oldest due deliveries of one endpoint at a time.
CREATE INDEX deliveries_endpoint_due ON webhook_deliveries(endpoint_id, status, next_attempt_at);
