-- sql_minimal's own scratch tables (bench/run.py makes them in the floor's database): bigint keys,
-- the foreign keys any ledger has, nothing else. run.py then inserts the accounts.
DROP TABLE IF EXISTS minimal_entry, minimal_transaction, minimal_account;
CREATE TABLE minimal_account (id bigint PRIMARY KEY, balance bigint NOT NULL);
CREATE TABLE minimal_transaction (
  id bigserial PRIMARY KEY,
  from_account_id bigint NOT NULL REFERENCES minimal_account,
  to_account_id bigint NOT NULL REFERENCES minimal_account,
  amount bigint NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE TABLE minimal_entry (
  id bigserial PRIMARY KEY,
  transaction_id bigint NOT NULL REFERENCES minimal_transaction,
  account_id bigint NOT NULL REFERENCES minimal_account,
  amount bigint NOT NULL,
  balance_after bigint NOT NULL
);
