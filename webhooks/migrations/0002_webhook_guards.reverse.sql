DROP TRIGGER IF EXISTS webhook_endpoint_keep_owner ON webhooks_webhookendpoint;
DROP FUNCTION IF EXISTS webhook_endpoint_keep_owner();
DROP TRIGGER IF EXISTS webhook_attempt_same_endpoint ON webhooks_webhookattempt;
DROP FUNCTION IF EXISTS webhook_attempt_same_endpoint();
DROP TRIGGER IF EXISTS webhook_delivery_same_owner ON webhooks_webhookdelivery;
DROP FUNCTION IF EXISTS webhook_delivery_same_owner();
