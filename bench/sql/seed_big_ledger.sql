-- The big account, in bulk (bench/seed.py: big_ledger_load).
--
-- `count` TRANSFER transactions of 1.00 between big and partner, alternating (odd i: big -> partner,
-- even i: partner -> big), each with its idempotency key, its COMPLETED transaction and its DEBIT and
-- CREDIT entries with the right balance_after, in id order (both stored balances are set by big_ledger_load afterwards). Ids come
-- from ranges taken from the sequences, so entry ids follow i (statements page by id). The
-- ledger's triggers (append-only, the deferred balanced-transaction check, and foreign keys) are
-- off for this one session (session_replication_role = replica: we connect as a superuser), which
-- is why ledger_verify() must pass afterwards: it checks every invariant the triggers would have.
--
-- Run by bench/seed.py's big_ledger_load with psycopg parameters (hence %% for SQL's modulo),
-- statement by statement: no semicolon in these comments.
INSERT INTO transactions_idempotencykey (id, initiator_id, key, fingerprint, created_at)
SELECT %(key_base)s + i, %(initiator)s::uuid, 'bench-big-' || i,
       format(%(fingerprint)s, CASE WHEN i %% 2 = 1 THEN %(big)s ELSE %(partner)s END,
              CASE WHEN i %% 2 = 1 THEN %(partner)s ELSE %(big)s END, %(amount)s),
       %(t0)s + i * interval '1 microsecond'
FROM generate_series(1, %(count)s) AS i;

INSERT INTO transactions_transaction (id, kind, status, from_account_id, to_account_id, amount, currency,
    failure_reason, initiator_id, idempotency_id, reverses_id, reason, created_at, updated_at)
SELECT md5('bench-big-' || i)::uuid, 'TRANSFER', 'COMPLETED',
       CASE WHEN i %% 2 = 1 THEN %(big)s::uuid ELSE %(partner)s::uuid END,
       CASE WHEN i %% 2 = 1 THEN %(partner)s::uuid ELSE %(big)s::uuid END,
       %(amount)s, 'INR', '', %(initiator)s::uuid, %(key_base)s + i, NULL, '',
       %(t0)s + i * interval '1 microsecond', %(t0)s + i * interval '1 microsecond'
FROM generate_series(1, %(count)s) AS i;

-- side 0 is the DEBIT (the from-account), side 1 the CREDIT. Big's balance is big0 - amount after
-- an odd i and big0 after an even one, and the partner's mirrors it.
INSERT INTO transactions_ledgerentry (id, transaction_id, account_id, type, amount, balance_after, created_at)
SELECT %(entry_base)s + 2 * i + side, md5('bench-big-' || i)::uuid,
       CASE WHEN is_big THEN %(big)s::uuid ELSE %(partner)s::uuid END,
       CASE WHEN side = 0 THEN 'DEBIT' ELSE 'CREDIT' END,
       %(amount)s,
       CASE WHEN is_big THEN %(big0)s - (i %% 2) * %(amount)s ELSE %(partner0)s + (i %% 2) * %(amount)s END,
       %(t0)s + i * interval '1 microsecond'
FROM generate_series(1, %(count)s) AS i
CROSS JOIN (VALUES (0), (1)) AS s(side)
CROSS JOIN LATERAL (SELECT (side = 0) = (i %% 2 = 1) AS is_big) AS b
ORDER BY i, side;

-- Each transfer's transaction.completed event (events.services): the reader owns both sides and
-- initiated them, so one event each, as the service writes it (the JSON without its entries, which
-- verify_ledger does not read). Not pending for webhooks: nobody subscribed while seeding.
INSERT INTO events_event (id, user_id, type, data, created_at, webhooks_pending)
SELECT gen_random_uuid(), %(initiator)s::uuid, 'transaction.completed',
       jsonb_build_object(
           'id', md5('bench-big-' || i)::uuid, 'kind', 'TRANSFER',
           'fromAccount', CASE WHEN i %% 2 = 1 THEN %(big)s::text ELSE %(partner)s::text END,
           'toAccount', CASE WHEN i %% 2 = 1 THEN %(partner)s::text ELSE %(big)s::text END,
           'amount', (%(amount)s::bigint / 100.0)::numeric(20, 2)::text, 'currency', 'INR', 'status', 'COMPLETED',
           'idempotencyKey', 'bench-big-' || i, 'failureReason', NULL, 'reverses', NULL, 'hold', NULL,
           'createdAt', %(t0)s::timestamptz + i * interval '1 microsecond', 'updatedAt', %(t0)s::timestamptz + i * interval '1 microsecond'),
       %(t0)s + i * interval '1 microsecond', false
FROM generate_series(1, %(count)s) AS i;
