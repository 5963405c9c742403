-- The ledger's invariants, kept by PostgreSQL itself so that writes which bypass the service
-- (raw SQL, QuerySet.update(), a buggy migration) cannot corrupt it. Loaded by migration
-- transactions/0002; ledger_guards_drop.sql undoes it.

-- 1. Ledger entries are append-only: no UPDATE, DELETE or TRUNCATE, ever.
--    Tests and deliberate maintenance may truncate inside a transaction that first runs
--    SET LOCAL ledger.allow_truncate = 'on' (the test suite's flush does; nothing else should).
CREATE OR REPLACE FUNCTION ledger_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('ledger.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'ledger: % on % is not allowed (the ledger is append-only)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE TRIGGER ledger_entry_append_only
    BEFORE UPDATE OR DELETE ON transactions_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_entry_no_truncate
    BEFORE TRUNCATE ON transactions_ledgerentry
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER transaction_no_delete
    BEFORE DELETE ON transactions_transaction
    FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER transaction_no_truncate
    BEFORE TRUNCATE ON transactions_transaction
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change();

-- 2. What a transaction moved never changes once written; only its status (a reversal marks
--    the original REVERSED) and updated_at may.
CREATE OR REPLACE FUNCTION transaction_reject_money_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.amount IS DISTINCT FROM OLD.amount
       OR NEW.from_account_id IS DISTINCT FROM OLD.from_account_id
       OR NEW.to_account_id IS DISTINCT FROM OLD.to_account_id
       OR NEW.currency IS DISTINCT FROM OLD.currency
       OR NEW.kind IS DISTINCT FROM OLD.kind
       OR NEW.initiator_id IS DISTINCT FROM OLD.initiator_id THEN
        RAISE EXCEPTION 'ledger: transaction % cannot change its amount, accounts, currency, kind or initiator', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER transaction_money_immutable
    BEFORE UPDATE ON transactions_transaction
    FOR EACH ROW EXECUTE FUNCTION transaction_reject_money_change();

-- 3. At commit: a COMPLETED (or later REVERSED) transaction has exactly one DEBIT on its
--    from-account and one CREDIT on its to-account, both of its amount, on accounts of its
--    currency; any other transaction has no entries. Deferred, because the service writes the
--    transaction and its entries in separate statements of one database transaction.
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
