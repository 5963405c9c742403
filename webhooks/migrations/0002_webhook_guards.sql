-- A delivery carries one user's event to that same user's endpoint, and an attempt belongs to its
-- delivery's endpoint: webhooks.services is the only writer, and this keeps data that bypasses it
-- (raw SQL, a buggy fan-out) from sending one user's event to another's URL. An endpoint never
-- changes owner. Loaded by migration webhooks/0002; 0002_webhook_guards.reverse.sql undoes it.
CREATE OR REPLACE FUNCTION webhook_delivery_same_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.event_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM events_event e JOIN webhooks_webhookendpoint w ON w.id = NEW.endpoint_id
        WHERE e.id = NEW.event_id AND e.user_id = w.user_id
    ) THEN
        RAISE EXCEPTION 'webhooks: delivery % would send event % to another user''s endpoint %',
            NEW.id, NEW.event_id, NEW.endpoint_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER webhook_delivery_same_owner
    BEFORE INSERT OR UPDATE OF event_id, endpoint_id ON webhooks_webhookdelivery
    FOR EACH ROW EXECUTE FUNCTION webhook_delivery_same_owner();

CREATE OR REPLACE FUNCTION webhook_attempt_same_endpoint() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM webhooks_webhookdelivery d WHERE d.id = NEW.delivery_id AND d.endpoint_id = NEW.endpoint_id
    ) THEN
        RAISE EXCEPTION 'webhooks: attempt % is not of its delivery''s endpoint', NEW.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER webhook_attempt_same_endpoint
    BEFORE INSERT OR UPDATE OF delivery_id, endpoint_id ON webhooks_webhookattempt
    FOR EACH ROW EXECUTE FUNCTION webhook_attempt_same_endpoint();

CREATE OR REPLACE FUNCTION webhook_endpoint_keep_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.user_id IS DISTINCT FROM OLD.user_id THEN
        RAISE EXCEPTION 'webhooks: endpoint % cannot change owner', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER webhook_endpoint_keep_owner
    BEFORE UPDATE OF user_id ON webhooks_webhookendpoint
    FOR EACH ROW EXECUTE FUNCTION webhook_endpoint_keep_owner();
