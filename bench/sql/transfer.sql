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
       p.account_id AS src, d.account_id AS dst, d.owner_id AS dst_uid, d.owner_email AS dst_email, d.owner_name AS dst_name
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

-- 5. Lock both accounts in one query ordered by primary key; read the balances off the locked rows,
--    and the write's time: never before the rows' last change (_post_completed), so entry times never go back.
SELECT sum(balance) FILTER (WHERE id = :src::uuid) AS src_balance,
       sum(balance) FILTER (WHERE id = :dst::uuid) AS dst_balance,
       greatest(now(), max(updated_at)) AS ts
  FROM (SELECT id, owner_id, currency, status, balance, is_system, created_at, updated_at
          FROM accounts_account WHERE id IN (:src::uuid, :dst::uuid) ORDER BY id FOR UPDATE) locked
\gset
\set src_after :src_balance - :amount
\set dst_after :dst_balance + :amount

-- 6. One statement (transactions.services.POST_SQL): the transaction in its final state, its two
--    entries each with the balance after it, both balances, the original's status (a no-op for a
--    transfer), the events (transaction.completed for each owner, the transaction's JSON as that
--    owner sees it: the other side's balanceAfter null; all of them in one JSON document, as the
--    service sends them: events.services.EVENTS_INSERT_SQL) and the outbox rows, an email to each
--    owner as long as the service's.
WITH new_transaction AS (
    INSERT INTO transactions_transaction (id, kind, status, from_account_id, to_account_id, amount, currency,
           failure_reason, initiator_id, idempotency_id, reverses_id, reason, created_at, updated_at)
    VALUES (:txn_id::uuid, 'TRANSFER', 'COMPLETED', :src::uuid, :dst::uuid, :amount, 'INR',
            '', :uid::uuid, :claim_id, NULL, '', :ts::timestamptz, :ts::timestamptz)
), entries AS (
    INSERT INTO transactions_ledgerentry (transaction_id, account_id, type, amount, balance_after, created_at)
    VALUES (:txn_id::uuid, :src::uuid, 'DEBIT', :amount::bigint, :src_after::bigint, :ts::timestamptz),
           (:txn_id::uuid, :dst::uuid, 'CREDIT', :amount::bigint, :dst_after::bigint, :ts::timestamptz)
), balances AS (
    UPDATE accounts_account AS account SET balance = new.balance, updated_at = :ts::timestamptz
      FROM (VALUES (:src::uuid, :src_after::bigint), (:dst::uuid, :dst_after::bigint)) AS new (id, balance)
     WHERE account.id = new.id
), reversed_original AS (
    UPDATE transactions_transaction SET status = 'REVERSED', updated_at = :ts::timestamptz WHERE id = NULL::uuid
), events AS (
    INSERT INTO events_event (id, user_id, type, data, created_at)
    SELECT gen_random_uuid(), event.user_id, event.type, event.data, :ts::timestamptz
      FROM jsonb_to_recordset((
        '[{"user_id": "' || :uid::text || '", "type": "transaction.completed", "data": ' || ('{"id": "' || :txn_id::text || '", "kind": "TRANSFER", "fromAccount": "' || :src::text
         || '", "toAccount": "' || :dst::text || '", "amount": "' || :amount::text
         || '", "currency": "INR", "status": "COMPLETED", "idempotencyKey": ' || '"pgbench-key"'
         || ', "failureReason": null, "reverses": null, "hold": null, "createdAt": "' || :ts::timestamptz::text
         || '", "updatedAt": "' || :ts::timestamptz::text || '", "entries": [{"account": "' || :src::text
         || '", "type": "DEBIT", "amount": "' || :amount::text || '", "balanceAfter": ' || '"' || :src_after::text || '"'
         || '}, {"account": "' || :dst::text || '", "type": "CREDIT", "amount": "' || :amount::text
         || '", "balanceAfter": ' || 'null' || '}]}')
        || '}, {"user_id": "' || :dst_uid::text || '", "type": "transaction.completed", "data": ' || ('{"id": "' || :txn_id::text || '", "kind": "TRANSFER", "fromAccount": "' || :src::text
         || '", "toAccount": "' || :dst::text || '", "amount": "' || :amount::text
         || '", "currency": "INR", "status": "COMPLETED", "idempotencyKey": ' || 'null'
         || ', "failureReason": null, "reverses": null, "hold": null, "createdAt": "' || :ts::timestamptz::text
         || '", "updatedAt": "' || :ts::timestamptz::text || '", "entries": [{"account": "' || :src::text
         || '", "type": "DEBIT", "amount": "' || :amount::text || '", "balanceAfter": ' || 'null'
         || '}, {"account": "' || :dst::text || '", "type": "CREDIT", "amount": "' || :amount::text
         || '", "balanceAfter": ' || '"' || :dst_after::text || '"' || '}]}')
        || '}]')::jsonb) AS event (user_id uuid, type varchar, data jsonb)
)
INSERT INTO notifications_outboxemail ("to", subject, body, created_at)
SELECT email.recipient, email.subject, email.body, :ts::timestamptz
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
