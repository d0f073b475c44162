-- After-market orders: an order's variety (Kite's word), 'regular' or 'amo'. Orders stored before it are regular.

ALTER TABLE orders ADD COLUMN variety TEXT DEFAULT 'regular';
