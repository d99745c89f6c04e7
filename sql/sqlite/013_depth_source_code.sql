-- SQLite: same column as sql/postgres/013_depth_source_code.sql.
-- depth_events from feeds whose event codes are not Sierra Chart's (the ProjectX market hub):
-- `command` is the book operation in Sierra Chart's codes (0 none, 1 clear book, 2/3 add
-- bid/ask, 4/5 modify, 6/7 delete), derived where the feed's event is one, so the book replay
-- runs on every origin; `source_code` keeps the feed's own code as sent (ProjectX
-- GatewayDepth.type: 0 Unknown, 1 Ask, 2 Bid, 3 BestAsk, 4 BestBid, 5 Trade, 6 Reset, 7 Low,
-- 8 High, 9 NewBestBid, 10 NewBestAsk, 11 Fill). NULL where `command` is the feed's own code (sierra).
ALTER TABLE depth_events ADD COLUMN source_code INTEGER;
