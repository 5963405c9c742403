-- bench_pick: the pool numbered for pgbench (bench/seed.py's pick_table_create), n from 0, user by user.
DROP TABLE IF EXISTS bench_pick;
CREATE TABLE bench_pick AS
SELECT (row_number() OVER (ORDER BY u.email, a.id) - 1)::int AS n,
       a.id AS account_id, u.id AS owner_id, u.email AS owner_email, u.name AS owner_name
  FROM accounts_account a JOIN authn_user u ON u.id = a.owner_id
 WHERE u.email LIKE 'bench-user-%' AND NOT a.is_system;
ALTER TABLE bench_pick ADD PRIMARY KEY (n);
ANALYZE bench_pick;
