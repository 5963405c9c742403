-- A hold's terms never change once written, and it leaves PENDING once, for good: the hold
-- services are the only writers, and this keeps data that bypasses them (raw SQL, a buggy
-- migration) from capturing a hold twice or rewriting what it reserved. Loaded by migration
-- transactions/0006; 0006_hold_guards.reverse.sql undoes it.
CREATE OR REPLACE FUNCTION hold_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'ledger: hold % cannot be deleted', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.amount IS DISTINCT FROM OLD.amount
       OR NEW.from_account_id IS DISTINCT FROM OLD.from_account_id
       OR NEW.to_account_id IS DISTINCT FROM OLD.to_account_id
       OR NEW.currency IS DISTINCT FROM OLD.currency
       OR NEW.initiator_id IS DISTINCT FROM OLD.initiator_id
       OR NEW.expires_at IS DISTINCT FROM OLD.expires_at THEN
        RAISE EXCEPTION 'ledger: hold % cannot change its amount, accounts, currency, initiator or expiry', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status AND OLD.status <> 'PENDING' THEN
        RAISE EXCEPTION 'ledger: hold % is % and cannot become %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER hold_terms_immutable
    BEFORE UPDATE OR DELETE ON transactions_hold
    FOR EACH ROW EXECUTE FUNCTION hold_reject_change();
