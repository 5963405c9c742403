-- A transaction's balance is checked when the statement that writes it or its entries ends, once
-- for all the rows that statement wrote (statement-level triggers reading their transition
-- tables), no longer once per row at commit (0002, 0010).
--
-- At commit, the per-row form ran a PL/pgSQL call and two queries for every transaction and an
-- EXISTS for every entry while the accounts stayed locked: about 3 ms of the 27 a 100-transfer
-- batch held its locks. Every writer of the service writes a transaction and its entries in one
-- statement (the transfer's POST_SQL, the batch's BATCH_POST_SQL), so the check can run when that
-- statement ends. It refuses all that the check at commit refused, and more: a transaction left
-- unbalanced between two statements (its entries to come in a later one), an entry of a
-- transaction that does not exist or on an account that does not (which is why the entries need
-- no foreign-key constraints of their own: migration 0011 drops them; the transaction's foreign
-- keys hold its accounts, and transactions are never deleted). Triggers do not fire under
-- session_replication_role = replica (bench/sql/seed_big_ledger.sql); verify_ledger checks every
-- transaction's entries, and looks for orphan entries, regardless.

-- One generic plan, kept: left to choose, PL/pgSQL planned this query anew for every call (0.22 ms
-- for a transfer's one transaction, against 0.04 with the kept plan).
CREATE OR REPLACE FUNCTION transactions_check_balanced(txn_ids uuid[]) RETURNS void LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    bad record;
BEGIN
    SELECT checked.id, txn.status, found.debits, found.credits, found.entries INTO bad
    FROM unnest(txn_ids) AS checked (id)
    LEFT JOIN transactions_transaction AS txn ON txn.id = checked.id
    CROSS JOIN LATERAL (
        SELECT
            count(*) FILTER (WHERE e.type = 'DEBIT' AND e.account_id = txn.from_account_id
                             AND e.amount = txn.amount AND a.currency = txn.currency) AS debits,
            count(*) FILTER (WHERE e.type = 'CREDIT' AND e.account_id = txn.to_account_id
                             AND e.amount = txn.amount AND a.currency = txn.currency) AS credits,
            count(*) AS entries
        FROM transactions_ledgerentry AS e LEFT JOIN accounts_account AS a ON a.id = e.account_id
        WHERE e.transaction_id = checked.id
    ) AS found
    WHERE CASE WHEN txn.status IN ('COMPLETED', 'REVERSED') THEN (found.debits, found.credits, found.entries) <> (1, 1, 2)
               ELSE found.entries <> 0 END
    LIMIT 1;
    IF NOT FOUND THEN
        RETURN;
    ELSIF bad.status IS NULL THEN
        RAISE EXCEPTION 'ledger: entries name transaction %, which does not exist', bad.id
            USING ERRCODE = 'integrity_constraint_violation';
    ELSIF bad.status IN ('COMPLETED', 'REVERSED') THEN
        RAISE EXCEPTION 'ledger: transaction % is not balanced (% matching debits, % matching credits, % entries)',
            bad.id, bad.debits, bad.credits, bad.entries USING ERRCODE = 'integrity_constraint_violation';
    ELSE
        RAISE EXCEPTION 'ledger: % transaction % has entries', bad.status, bad.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
END;
$$;

CREATE OR REPLACE FUNCTION transactions_balanced_statement() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    txn_ids uuid[];
BEGIN
    IF TG_TABLE_NAME = 'transactions_ledgerentry' THEN
        txn_ids := ARRAY(SELECT DISTINCT transaction_id FROM written);
    ELSE
        txn_ids := ARRAY(SELECT id FROM written);
    END IF;
    -- A statement-level trigger fires for a statement that wrote no row too (the transfer's
    -- reversed_original, when it reverses nothing).
    IF cardinality(txn_ids) > 0 THEN
        PERFORM transactions_check_balanced(txn_ids);
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER transaction_balanced ON transactions_transaction;
DROP TRIGGER ledger_entry_balanced ON transactions_ledgerentry;
DROP FUNCTION transaction_balanced_trigger();
DROP FUNCTION transaction_check_balanced(uuid);

CREATE TRIGGER transaction_balanced_insert
    AFTER INSERT ON transactions_transaction REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION transactions_balanced_statement();
CREATE TRIGGER transaction_balanced_update
    AFTER UPDATE ON transactions_transaction REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION transactions_balanced_statement();
CREATE TRIGGER ledger_entry_balanced
    AFTER INSERT ON transactions_ledgerentry REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION transactions_balanced_statement();
