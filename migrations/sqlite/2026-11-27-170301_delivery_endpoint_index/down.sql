DROP INDEX deliveries_endpoint_due;
