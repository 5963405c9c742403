CREATE OR REPLACE FUNCTION transaction_balanced_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'transactions_ledgerentry' THEN
        PERFORM transaction_check_balanced(NEW.transaction_id);
    ELSE
        PERFORM transaction_check_balanced(NEW.id);
    END IF;
    RETURN NULL;
END;
$$;
