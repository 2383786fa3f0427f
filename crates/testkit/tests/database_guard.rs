//! A test's database is gone once its guard is: after a normal end, with connections still
//! open, and after a panic.

use sqlx::{Connection, PgConnection};
use testkit::{postgres_admin_url, TestDatabase};

/// How many of `names` exist on the server.
async fn existing(admin: &mut PgConnection, names: &[String]) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = ANY($1)")
        .bind(names)
        .fetch_one(admin)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_databases_are_dropped_when_their_guard_is() {
    let admin_url = postgres_admin_url();
    let mut admin = match PgConnection::connect(&admin_url).await {
        Ok(conn) => conn,
        Err(e) => return testkit::unavailable(format!("PostgreSQL at {admin_url}: {e}")),
    };
    let first = TestDatabase::create(&admin_url, "ordersys_test")
        .await
        .unwrap();
    let second = TestDatabase::create(&admin_url, "ordersys_test")
        .await
        .unwrap();
    let names = vec![first.name().to_owned(), second.name().to_owned()];
    assert_eq!(existing(&mut admin, &names).await, 2, "both created");

    // A connection still open (a service that was not stopped) does not keep it.
    let mut open = PgConnection::connect(second.url()).await.unwrap();
    sqlx::query("CREATE TABLE t (x int)")
        .execute(&mut open)
        .await
        .unwrap();
    drop(first);
    assert_eq!(existing(&mut admin, &names).await, 1, "the first is gone");
    drop(second);
    assert_eq!(
        existing(&mut admin, &names).await,
        0,
        "the second is gone too"
    );

    // A test that panics drops its database while unwinding.
    let url = admin_url.clone();
    let panicked = tokio::spawn(async move {
        let db = TestDatabase::create(&url, "ordersys_test").await.unwrap();
        panic!("{}", db.name());
    })
    .await
    .unwrap_err()
    .into_panic();
    let name = panicked.downcast_ref::<String>().unwrap().clone();
    assert_eq!(
        existing(&mut admin, &[name]).await,
        0,
        "dropped while unwinding"
    );
}
