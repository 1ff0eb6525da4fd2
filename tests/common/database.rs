//! A fresh PostgreSQL database per test server, for the suite's PostgreSQL run.
//!
//! `tests/postgres_suite.rs` compiles every black-box test file again (only when
//! `KANCA_TEST_DATABASE_URL` is set; see `build.rs`). In that binary the harness gives each
//! server its own database, created from the URL's server and dropped when the test ends, so
//! tests never see each other's data and can run in parallel.

use sqlx::Connection;

/// Whether this code was compiled into the PostgreSQL run of the suite.
pub fn postgres_suite() -> bool {
    module_path!().starts_with("postgres_suite")
}

pub struct TestDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// A new empty database in the PostgreSQL run, `None` in the SQLite run.
    pub async fn create() -> Option<Self> {
        if !postgres_suite() {
            return None;
        }
        Some(Self::create_on_postgres().await)
    }

    /// A new empty database on `KANCA_TEST_DATABASE_URL`'s server, whichever run this is.
    pub async fn create_on_postgres() -> Self {
        let admin_url = std::env::var("KANCA_TEST_DATABASE_URL")
            .expect("the PostgreSQL suite runs only when KANCA_TEST_DATABASE_URL is set");
        let name = format!("kanca_t_{:016x}", rand::random::<u64>());
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {admin_url}: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("creating a test database");
        let mut url = url::Url::parse(&admin_url).expect("KANCA_TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        Self {
            url: url.to_string(),
            admin_url,
            name,
        }
    }
}

impl TestDatabase {
    /// An outage for this database only: with `true`, PostgreSQL refuses new connections to it
    /// and ends the open ones (as a restart or a network cut would); `false` ends the outage.
    pub async fn refuse_connections(&self, refuse: bool) {
        let mut conn = sqlx::PgConnection::connect(&self.admin_url)
            .await
            .expect("connecting as the admin");
        sqlx::query(&format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS {}",
            self.name, !refuse
        ))
        .execute(&mut conn)
        .await
        .expect("changing ALLOW_CONNECTIONS");
        if refuse {
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            )
            .bind(&self.name)
            .execute(&mut conn)
            .await
            .expect("ending the database's connections");
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs outside any async context we can use, so a small runtime of its own does
        // the cleanup; a failure only leaves an empty database behind.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}
