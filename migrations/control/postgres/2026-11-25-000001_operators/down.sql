DROP TABLE control_audit;
DROP TABLE one_time_links;
DROP TABLE sessions;
DROP TABLE operator_roles;
DROP TABLE operators;
