-- sql_minimal: the minimal transfer in raw SQL, for pgbench (-M prepared): 8 round trips on its own
-- tables (bench/sql/minimal_tables.sql). Lock both accounts in id order, insert the transaction,
-- its two entries with the balance after each, the two balance updates. What the database
-- must do for any transfer; bench/sql/transfer.sql is what it does for the service's.
-- Variables (-D): accounts (ids 1..accounts). Amounts of 0.01..0.99 against large balances.

\set src random(1, :accounts)
\set dst random(1, :accounts - 1)
\set dst CASE WHEN :dst >= :src THEN :dst + 1 ELSE :dst END
\set amount random(1, 99)

BEGIN;

SELECT sum(balance) FILTER (WHERE id = :src) AS src_balance, sum(balance) FILTER (WHERE id = :dst) AS dst_balance
  FROM (SELECT id, balance FROM minimal_account WHERE id IN (:src, :dst) ORDER BY id FOR UPDATE) locked
\gset
\set src_after :src_balance - :amount
\set dst_after :dst_balance + :amount

INSERT INTO minimal_transaction (from_account_id, to_account_id, amount, created_at)
VALUES (:src, :dst, :amount, now()) RETURNING id AS txn_id
\gset

INSERT INTO minimal_entry (transaction_id, account_id, amount, balance_after) VALUES (:txn_id, :src, -:amount::bigint, :src_after);
INSERT INTO minimal_entry (transaction_id, account_id, amount, balance_after) VALUES (:txn_id, :dst, :amount, :dst_after);

UPDATE minimal_account SET balance = balance - :amount WHERE id = :src;
UPDATE minimal_account SET balance = balance + :amount WHERE id = :dst;

COMMIT;
