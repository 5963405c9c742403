-- sql_batch: one batch of :size transfers as raw SQL, for pgbench -M prepared (as sql_ceiling): the ceiling of
-- POST /api/transactions/batch, set-based as the service would do it at best. The same round trips
-- as the service's batch, 9 (pool check, token user, the accounts with their owners, BEGIN,
-- claim the key, its lock wait, lock every account once in primary key order, ONE statement that
-- writes the batch, its transactions, entries with their running balances, the balances, the events
-- and one summary email per owner (its body written when sent), COMMIT); what the service judges
-- in Python (the running balances) is done in SQL here.
--
-- Variables (-D): users, per_user, accounts, size. The items are drawn from :seed with hashint4,
-- so every statement below derives the same :size (source, destination, amount) rows: user u's
-- accounts (bench_pick numbers them u * per_user ..) to any other account of the pool, 0.01..0.99
-- (never declined, as in the batch scenario).

-- The batch's sender from the pool's first half: the second has every limit set (transfer_limited),
-- whose usage rows this script does not keep (the service's batch does).
\set u random(0, :users / 2 - 1)
\set seed random(0, 1000000)

-- 1. The pool's check of the connection it lends.
SELECT 1;

-- 2. Authentication (authn.services.token_user), as in transfer.sql.
SELECT u.id AS uid, EXISTS(SELECT 1 FROM authn_blacklistedtoken b WHERE b.jti = md5(:u::text) LIMIT 1) AS token_blacklisted
  FROM bench_pick p JOIN authn_user u ON u.id = p.owner_id
 WHERE p.n = :u::int * :per_user::int AND u.is_active
\gset

-- 3. Every account of the batch with its owner, before any lock (ownership, currency).
SELECT a.id, a.owner_id, a.currency, a.status, a.balance, a.held, a.is_system, u.id, u.email
  FROM accounts_account a JOIN authn_user u ON a.owner_id = u.id
 WHERE a.id IN (
    SELECT p.account_id FROM generate_series(1, :size::int) AS i
    CROSS JOIN LATERAL (SELECT :u::int * :per_user::int + abs(hashint4(:seed::int + i)) % :per_user::int AS src_n,
                               abs(hashint4(:seed::int + 7919 * i)) % (:accounts::int - 1) AS dst_r) r
    JOIN bench_pick p ON p.n IN (r.src_n, CASE WHEN r.dst_r >= r.src_n THEN r.dst_r + 1 ELSE r.dst_r END));

BEGIN;

-- 4. Claim the batch's idempotency key.
INSERT INTO transactions_idempotencykey (initiator_id, key, fingerprint, created_at)
VALUES (:uid::uuid, 'pgbench-batch-' || gen_random_uuid(), 'BATCH:' || md5(random()::text), now())
ON CONFLICT (initiator_id, key) DO NOTHING
RETURNING id AS claim_id, gen_random_uuid() AS batch_id
\gset

-- 5. The batch's own lock wait (BATCH_LOCK_TIMEOUT_MS).
SELECT set_config('lock_timeout', '4000ms', true);

-- 6. Lock every account of the batch once, in primary key order.
SELECT count(*) FROM (
  SELECT a.id FROM accounts_account a
   WHERE a.id IN (
      SELECT p.account_id FROM generate_series(1, :size::int) AS i
      CROSS JOIN LATERAL (SELECT :u::int * :per_user::int + abs(hashint4(:seed::int + i)) % :per_user::int AS src_n,
                                 abs(hashint4(:seed::int + 7919 * i)) % (:accounts::int - 1) AS dst_r) r
      JOIN bench_pick p ON p.n IN (r.src_n, CASE WHEN r.dst_r >= r.src_n THEN r.dst_r + 1 ELSE r.dst_r END))
   ORDER BY a.id FOR UPDATE) locked;

-- 7. One statement: the batch (with its answer), the transactions, the entries with each
--    account's running balance in item order, every balance once, one email per owner. Stamped
--    with the statement's start, after the locks (as the service stamps after them): now() is the
--    transaction's start, and a batch that waited for locks would write entries older than the
--    ones before them on the same account (verify_ledger refuses that).
WITH items AS MATERIALIZED (
    SELECT i AS n, s.account_id AS src, d.account_id AS dst, d.owner_id AS dst_owner, r.amount, gen_random_uuid() AS id
      FROM generate_series(1, :size::int) AS i
      CROSS JOIN LATERAL (SELECT :u::int * :per_user::int + abs(hashint4(:seed::int + i)) % :per_user::int AS src_n,
                                 abs(hashint4(:seed::int + 7919 * i)) % (:accounts::int - 1) AS dst_r,
                                 1 + abs(hashint4(:seed::int + 104729 * i)) % 99 AS amount) r
      JOIN bench_pick s ON s.n = r.src_n
      JOIN bench_pick d ON d.n = CASE WHEN r.dst_r >= r.src_n THEN r.dst_r + 1 ELSE r.dst_r END
), moves AS MATERIALIZED (
    SELECT m.*, a.balance + SUM(m.delta) OVER (PARTITION BY m.account ORDER BY m.n, m.side) AS balance_after,
           row_number() OVER (PARTITION BY m.account ORDER BY m.n DESC, m.side DESC) AS from_end
      FROM (SELECT n, 0 AS side, src AS account, -amount AS delta, id, amount FROM items
            UNION ALL SELECT n, 1, dst, amount, id, amount FROM items) m
      JOIN accounts_account a ON a.id = m.account
), new_batch AS (
    INSERT INTO transactions_batch (id, initiator_id, idempotency_id, atomic, status, count, response_status,
           response, created_at)
    SELECT :batch_id::uuid, :uid::uuid, :claim_id::bigint, true, 'COMPLETED', :size::int, 201,
           jsonb_build_object('message', 'Batch completed successfully', 'batch', jsonb_build_object(
               'id', :batch_id::text, 'transactions', jsonb_agg(jsonb_build_object(
                   'id', id, 'kind', 'TRANSFER', 'fromAccount', src, 'toAccount', dst,
                   'amount', (amount / 100.0)::text, 'currency', 'INR', 'status', 'COMPLETED') ORDER BY n))),
           statement_timestamp()
      FROM items
), new_transactions AS (
    INSERT INTO transactions_transaction (id, kind, status, from_account_id, to_account_id, amount, currency,
           failure_reason, initiator_id, idempotency_id, batch_id, reverses_id, hold_id, reason, created_at, updated_at)
    SELECT id, 'TRANSFER', 'COMPLETED', src, dst, amount, 'INR', '', :uid::uuid, NULL, :batch_id::uuid,
           NULL, NULL, '', statement_timestamp(), statement_timestamp()
      FROM items
), entries AS (
    INSERT INTO transactions_ledgerentry (transaction_id, account_id, type, amount, balance_after, created_at)
    SELECT id, account, CASE side WHEN 0 THEN 'DEBIT' ELSE 'CREDIT' END, amount, balance_after, statement_timestamp()
      FROM moves ORDER BY n, side
), balances AS (
    UPDATE accounts_account AS account SET balance = moves.balance_after, updated_at = statement_timestamp()
      FROM moves WHERE moves.from_end = 1 AND account.id = moves.account
), events AS (
    -- Each item's transaction.completed for the sender and the destination's owner (once if the
    -- same), and batch.completed for the sender: the rows the service writes (its `data` is the
    -- full transaction JSON, larger than this).
    INSERT INTO events_event (id, user_id, type, data, created_at)
    SELECT gen_random_uuid(), event.user_id, event.type, event.data, statement_timestamp()
      FROM (SELECT DISTINCT ON (w.viewer, items.id) w.viewer AS user_id, 'transaction.completed' AS type,
                   jsonb_build_object('id', items.id, 'kind', 'TRANSFER', 'fromAccount', src, 'toAccount', dst,
                       'amount', (amount / 100.0)::text, 'currency', 'INR', 'status', 'COMPLETED',
                       'batch', :batch_id::text) AS data
              FROM items CROSS JOIN LATERAL (VALUES (:uid::uuid), (items.dst_owner)) AS w (viewer)
            UNION ALL
            SELECT :uid::uuid, 'batch.completed', jsonb_build_object('id', :batch_id::text, 'atomic', true,
                   'status', 'COMPLETED', 'count', :size::int)) AS event
)
-- One summary per owner, as the service writes it: its subject, and its batch and owner for the
-- body, which the worker writes from the batch's entries when it sends the email.
INSERT INTO notifications_outboxemail ("to", subject, body, batch_id, owner_id, created_at)
SELECT p.owner_email, 'Ledger: ' || count(DISTINCT m.id) || ' transfers of a batch on your accounts', '',
       :batch_id::uuid, p.owner_id, statement_timestamp()
  FROM moves m JOIN bench_pick p ON p.account_id = m.account
 GROUP BY p.owner_email, p.owner_id;

COMMIT;
