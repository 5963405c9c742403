-- A transaction's balance is checked once at commit, not once per row that names it.
--
-- Inserting a transaction and its two entries queued three deferred checks of the same
-- transaction: two of every three checks at commit were repeats (a 100-item batch ran 300;
-- without the repeats its COMMIT took 26 ms instead of 36). An entry now skips its check when the
-- transaction row it belongs to was written by this same database transaction: writing that row
-- (INSERT or UPDATE) queued the transaction's own check (transaction_balanced), which runs at
-- commit after every entry is in. An entry added to a transaction written earlier (or in a
-- savepoint: its row carries the subtransaction's xid) is still checked on its own. The one order
-- this misses is an operator's `SET CONSTRAINTS transaction_balanced IMMEDIATE`, then entries in
-- a later statement; verify_ledger checks every transaction's entries regardless.
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
