DROP INDEX licenses_product_sort;
DROP INDEX licenses_customer_sort;
ALTER TABLE licenses DROP COLUMN product_sort;
ALTER TABLE licenses DROP COLUMN customer_sort;
