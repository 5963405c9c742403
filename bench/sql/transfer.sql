-- sql_ceiling: one transfer as raw SQL, for pgbench -M prepared (as sql_minimal; the service, too, binds
-- parameters on the server and prepares the statements it repeats: DB_PREPARE_THRESHOLD).
-- The same statements the service sends for one POST /api/transactions, in the same order, on the
-- same tables and the same accounts (read off PostgreSQL's statement log of a real request):
-- 8 round trips, the last 5 in one transaction. What the service computes in Python (the new
-- balances, the email text) is computed here by pgbench between statements.
--
-- Variables (-D): users, per_user, accounts, and fingerprint: the service's idempotency fingerprint
-- (transactions.services.idempotency_fingerprint) with %s for the accounts and the amount. bench_pick (made by bench/seed.py) numbers the pool's
-- accounts user by user, so user u owns n = u * per_user .. u * per_user + per_user - 1; its two
-- look-ups ride along in statement 2 and stand in for the client's choice of accounts (which wrk
-- makes in Lua). Amounts of 0.01..0.99 never decline, so the service's decline branch (a FAILED
-- transaction instead of entries) is not taken here either.

\set u random(0, :users - 1)
\set src_n :u * :per_user + random(0, :per_user - 1)
\set dst_n random(0, :accounts - 2)
\set dst_n CASE WHEN :dst_n >= :src_n THEN :dst_n + 1 ELSE :dst_n END
\set amount random(1, 99)

-- 1. The pool's check of the connection it lends (CONN_HEALTH_CHECKS): an empty query in the service, once per request.
SELECT 1;

-- 2. Authentication (authn.services.token_user): the token's user and whether its jti is blacklisted.
SELECT u."password", u.last_login, u.is_superuser, u.id AS uid, u.email AS src_email, u.name AS src_name,
       u.is_system, u.is_staff, u.is_active, u.date_joined,
       EXISTS(SELECT 1 AS a FROM authn_blacklistedtoken b WHERE b.jti = md5(:src_n::text) LIMIT 1) AS token_blacklisted,
       p.account_id AS src, d.account_id AS dst, d.owner_email AS dst_email, d.owner_name AS dst_name
  FROM bench_pick p JOIN authn_user u ON u.id = p.owner_id, bench_pick d
 WHERE p.n = :src_n AND d.n = :dst_n AND u.is_active
 ORDER BY u.id LIMIT 1
\gset

-- 3. Both accounts with their owners' email and name, before any lock (transfer_accounts_resolve: ownership, currency).
SELECT account.*, owner.email AS owner_email, owner.name AS owner_name
  FROM accounts_account AS account JOIN authn_user AS owner ON owner.id = account.owner_id
 WHERE account.id IN (:src::uuid, :dst::uuid);

BEGIN;

-- 4. Claim the idempotency key (the service sends the client's key; a fresh one here).
INSERT INTO transactions_idempotencykey (initiator_id, key, fingerprint, created_at)
VALUES (:uid::uuid, 'pgbench-' || gen_random_uuid(), format(:fingerprint::text, :src::text, :dst::text, :amount::text), now())
ON CONFLICT (initiator_id, key) DO NOTHING
RETURNING id AS claim_id, gen_random_uuid() AS txn_id
\gset

-- 5. Lock both accounts in one query ordered by primary key; read the balances off the locked rows.
SELECT sum(balance) FILTER (WHERE id = :src::uuid) AS src_balance,
       sum(balance) FILTER (WHERE id = :dst::uuid) AS dst_balance
  FROM (SELECT id, owner_id, currency, status, balance, is_system, created_at, updated_at
          FROM accounts_account WHERE id IN (:src::uuid, :dst::uuid) ORDER BY id FOR UPDATE) locked
\gset
\set src_after :src_balance - :amount
\set dst_after :dst_balance + :amount

-- 6. One statement (transactions.services.POST_SQL): the transaction in its final state, its two
--    entries each with the balance after it, both balances, the original's status (a no-op for a
--    transfer) and the outbox rows, an email to each owner as long as the service's.
WITH new_transaction AS (
    INSERT INTO transactions_transaction (id, kind, status, from_account_id, to_account_id, amount, currency,
           failure_reason, initiator_id, idempotency_id, reverses_id, reason, created_at, updated_at)
    VALUES (:txn_id::uuid, 'TRANSFER', 'COMPLETED', :src::uuid, :dst::uuid, :amount, 'INR',
            '', :uid::uuid, :claim_id, NULL, '', now(), now())
), entries AS (
    INSERT INTO transactions_ledgerentry (transaction_id, account_id, type, amount, balance_after, created_at)
    VALUES (:txn_id::uuid, :src::uuid, 'DEBIT', :amount::bigint, :src_after::bigint, now()),
           (:txn_id::uuid, :dst::uuid, 'CREDIT', :amount::bigint, :dst_after::bigint, now())
), balances AS (
    UPDATE accounts_account AS account SET balance = new.balance, updated_at = now()
      FROM (VALUES (:src::uuid, :src_after::bigint), (:dst::uuid, :dst_after::bigint)) AS new (id, balance)
     WHERE account.id = new.id
), reversed_original AS (
    UPDATE transactions_transaction SET status = 'REVERSED', updated_at = now() WHERE id = NULL::uuid
)
INSERT INTO notifications_outboxemail ("to", subject, body, created_at)
SELECT email.recipient, email.subject, email.body, now()
  FROM UNNEST(
  ARRAY[:src_email::varchar, :dst_email::varchar],
  ARRAY['Ledger: ' || :amount::text || ' INR debited from your account',
        'Ledger: ' || :amount::text || ' INR credited to your account']::varchar[],
  ARRAY['Hello ' || :src_name::text || E',\n\n' || :amount::text || ' INR was debited from your account ' || :src::text
        || E' (transfer).\nOther account: ' || :dst::text || E'\nTransaction: ' || :txn_id::text
        || E'\nNew balance: ' || :src_after::text || E' INR\n',
        'Hello ' || :dst_name::text || E',\n\n' || :amount::text || ' INR was credited to your account ' || :dst::text
        || E' (transfer).\nOther account: ' || :src::text || E'\nTransaction: ' || :txn_id::text
        || E'\nNew balance: ' || :dst_after::text || E' INR\n']) AS email (recipient, subject, body);

-- 7. Commit; the deferred trigger checks the transaction is balanced, as for the service.
COMMIT;
