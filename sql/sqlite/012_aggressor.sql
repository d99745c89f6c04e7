-- The trade aggressor as a number (0 unknown, 1 buy, 2 sell: the sidecar's tick codes), replacing
-- the text column side ('buy' | 'sell' | NULL): the bar step and the rules compare it per row,
-- which costs a fraction of comparing text, and it writes and reads as two bytes a row.
ALTER TABLE ticks ADD COLUMN aggressor INTEGER NOT NULL DEFAULT 0;   -- 0 unknown, 1 buy, 2 sell
UPDATE ticks SET aggressor = CASE side WHEN 'buy' THEN 1 WHEN 'sell' THEN 2 ELSE 0 END WHERE side IS NOT NULL;
ALTER TABLE ticks DROP COLUMN side;
