-- Sorting the license list by customer or product name at a million licenses: the names, kept
-- on each license (the store updates them on assignment and on rename), with an index each.
ALTER TABLE licenses ADD COLUMN customer_sort TEXT NOT NULL DEFAULT '';
ALTER TABLE licenses ADD COLUMN product_sort TEXT NOT NULL DEFAULT '';
UPDATE licenses SET
    customer_sort = COALESCE((SELECT name FROM customers WHERE customers.id = licenses.customer_id), ''),
    product_sort = COALESCE((SELECT name FROM products WHERE products.id = licenses.product_id), '');
CREATE INDEX licenses_customer_sort ON licenses(customer_sort, id);
CREATE INDEX licenses_product_sort ON licenses(product_sort, id);
