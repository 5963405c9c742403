-- Undoes 0011_balance_check_per_statement.sql: the per-row checks at commit of 0002 and 0010.
DROP TRIGGER transaction_balanced_insert ON transactions_transaction;
DROP TRIGGER transaction_balanced_update ON transactions_transaction;
DROP TRIGGER ledger_entry_balanced ON transactions_ledgerentry;
DROP FUNCTION transactions_balanced_statement();
DROP FUNCTION transactions_check_balanced(uuid[]);

CREATE OR REPLACE FUNCTION transaction_check_balanced(txn_id uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    txn transactions_transaction%ROWTYPE;
    debits int;
    credits int;
    others int;
BEGIN
    SELECT * INTO txn FROM transactions_transaction WHERE id = txn_id;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT
        count(*) FILTER (WHERE e.type = 'DEBIT' AND e.account_id = txn.from_account_id
                          AND e.amount = txn.amount AND a.currency = txn.currency),
        count(*) FILTER (WHERE e.type = 'CREDIT' AND e.account_id = txn.to_account_id
                          AND e.amount = txn.amount AND a.currency = txn.currency),
        count(*)
    INTO debits, credits, others
    FROM transactions_ledgerentry e JOIN accounts_account a ON a.id = e.account_id
    WHERE e.transaction_id = txn_id;

    IF txn.status IN ('COMPLETED', 'REVERSED') THEN
        IF debits <> 1 OR credits <> 1 OR others <> 2 THEN
            RAISE EXCEPTION 'ledger: transaction % is not balanced (% matching debits, % matching credits, % entries)',
                txn_id, debits, credits, others USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    ELSIF others <> 0 THEN
        RAISE EXCEPTION 'ledger: % transaction % has entries', txn.status, txn_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
END;
$$;

CREATE OR REPLACE FUNCTION transaction_balanced_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'transactions_ledgerentry' THEN
        IF EXISTS (
            SELECT FROM transactions_transaction
            WHERE id = NEW.transaction_id AND xmin = pg_current_xact_id()::xid
        ) THEN
            RETURN NULL;
        END IF;
        PERFORM transaction_check_balanced(NEW.transaction_id);
    ELSE
        PERFORM transaction_check_balanced(NEW.id);
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER transaction_balanced
    AFTER INSERT OR UPDATE ON transactions_transaction
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION transaction_balanced_trigger();
CREATE CONSTRAINT TRIGGER ledger_entry_balanced
    AFTER INSERT ON transactions_ledgerentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION transaction_balanced_trigger();
