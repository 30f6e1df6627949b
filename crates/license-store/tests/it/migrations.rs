//! Every migration runs up, down and up again, and the schema comes back identical; both
//! backends end with the same tables and columns. For the environment databases and the control
//! database alike.

use diesel::prelude::*;
use diesel::sql_types::Text;
use license_store::db::{self, DbConn, Schema};

use license_store::testkit::*;

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
struct Item {
    #[diesel(sql_type = Text)]
    name: String,
}

fn sqlite_schema(c: &mut DbConn) -> Vec<String> {
    let DbConn::Sqlite(c) = c else { unreachable!() };
    diesel::sql_query(
        "SELECT type || ' ' || name || ' ' || coalesce(sql, '') AS name FROM sqlite_master \
         WHERE name NOT LIKE 'sqlite_%' AND name <> '__diesel_schema_migrations' ORDER BY name",
    )
    .load::<Item>(c)
    .unwrap()
    .into_iter()
    .map(|i| i.name)
    .collect()
}

fn pg_schema(c: &mut DbConn) -> Vec<String> {
    let DbConn::Pg(c) = c else { unreachable!() };
    let cols = diesel::sql_query(
        "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable AS name \
         FROM information_schema.columns WHERE table_schema = 'public' \
         AND table_name <> '__diesel_schema_migrations' ORDER BY table_name, column_name",
    )
    .load::<Item>(c)
    .unwrap();
    let idx = diesel::sql_query(
        "SELECT indexname || ' ' || indexdef AS name FROM pg_indexes WHERE schemaname = 'public' \
         AND tablename <> '__diesel_schema_migrations' ORDER BY indexname",
    )
    .load::<Item>(c)
    .unwrap();
    cols.into_iter().chain(idx).map(|i| i.name).collect()
}

/// Table and column names, the part both backends must agree on.
fn sqlite_columns(c: &mut DbConn) -> Vec<String> {
    let DbConn::Sqlite(c) = c else { unreachable!() };
    diesel::sql_query(
        "SELECT m.name || '.' || p.name AS name FROM sqlite_master m, pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
         AND m.name <> '__diesel_schema_migrations' ORDER BY m.name, p.name",
    )
    .load::<Item>(c)
    .unwrap()
    .into_iter()
    .map(|i| i.name)
    .collect()
}

fn round_trip(mut c: DbConn, which: Schema, schema: fn(&mut DbConn) -> Vec<String>) -> DbConn {
    db::migrate_schema(&mut c, which).unwrap();
    let first = schema(&mut c);
    assert!(first.len() > 5, "schema looks empty: {first:?}");
    db::revert_all_schema(&mut c, which).unwrap();
    assert!(
        schema(&mut c).is_empty(),
        "down migrations leave nothing behind"
    );
    db::migrate_schema(&mut c, which).unwrap();
    assert_eq!(schema(&mut c), first, "up, down, up gives the same schema");
    c
}

#[test]
fn sqlite_migrations_run_up_down_up() {
    for which in [Schema::Environment, Schema::Control] {
        let dir = tempfile::tempdir().unwrap();
        let conn = diesel::SqliteConnection::establish(&dir.path().join("m.db").to_string_lossy())
            .unwrap();
        round_trip(DbConn::Sqlite(conn), which, sqlite_schema);
    }
}

#[test]
fn postgres_migrations_run_up_down_up_with_the_same_columns_as_sqlite() {
    postgres_matches_sqlite(Schema::Environment);
}

#[test]
fn control_migrations_on_postgres_run_up_down_up_with_the_same_columns_as_sqlite() {
    postgres_matches_sqlite(Schema::Control);
}

fn postgres_matches_sqlite(which: Schema) {
    let Some((admin_url, name)) = fresh_pg_database() else {
        return;
    };
    let url = pg_url_for(&admin_url, &name);
    let pg = round_trip(
        DbConn::Pg(diesel::PgConnection::establish(&url).unwrap()),
        which,
        pg_schema,
    );
    let mut pg = pg;
    let DbConn::Pg(raw) = &mut pg else {
        unreachable!()
    };
    let pg_cols: Vec<String> = diesel::sql_query(
        "SELECT table_name || '.' || column_name AS name FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations' \
         ORDER BY table_name, column_name",
    )
    .load::<Item>(raw)
    .unwrap()
    .into_iter()
    .map(|i| i.name)
    .collect();
    drop(pg);
    let dir = tempfile::tempdir().unwrap();
    let mut lite = DbConn::Sqlite(
        diesel::SqliteConnection::establish(&dir.path().join("m.db").to_string_lossy()).unwrap(),
    );
    db::migrate_schema(&mut lite, which).unwrap();
    assert_eq!(
        pg_cols,
        sqlite_columns(&mut lite),
        "both backends have the same tables and columns"
    );
    if let Ok(mut admin) = diesel::PgConnection::establish(&admin_url) {
        use diesel::connection::SimpleConnection;
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}
