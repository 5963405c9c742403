DROP TRIGGER IF EXISTS hold_terms_immutable ON transactions_hold;
DROP FUNCTION IF EXISTS hold_reject_change();
