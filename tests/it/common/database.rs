//! Which database the black-box servers run on, and a fresh PostgreSQL database per server
//! when it is PostgreSQL.
//!
//! The backend is chosen at run time, so one compiled test binary serves both runs:
//! `KANCA_TEST_BACKEND` is `sqlite` (the default) or `postgres`, which needs
//! `KANCA_TEST_DATABASE_URL`. On PostgreSQL every server gets a database of its own, created
//! on that URL's server and dropped when the test ends, so tests never see each other's data
//! and can run in parallel. A test that only makes sense on one backend asks [`runs_on`] first
//! and says why it skips; a skip is never silent.

use sqlx::Connection;
use std::io::Write;
use std::sync::OnceLock;

/// The server-side database of a test run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// This run's backend, from `KANCA_TEST_BACKEND`. An unknown value, or PostgreSQL without a
    /// server to run on, stops the run: testing something other than what was asked for would
    /// pass for the wrong reason.
    pub fn of_this_run() -> Backend {
        static BACKEND: OnceLock<Backend> = OnceLock::new();
        *BACKEND.get_or_init(|| {
            let chosen = std::env::var("KANCA_TEST_BACKEND").unwrap_or_default();
            match chosen.as_str() {
                "" | "sqlite" => Backend::Sqlite,
                "postgres" => {
                    assert!(
                        postgres_url().is_some(),
                        "KANCA_TEST_BACKEND=postgres needs KANCA_TEST_DATABASE_URL, a PostgreSQL \
                         server whose user may create databases"
                    );
                    Backend::Postgres
                }
                other => panic!("KANCA_TEST_BACKEND is `sqlite` or `postgres`, not `{other}`"),
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// `KANCA_TEST_DATABASE_URL`, when it names a server.
pub fn postgres_url() -> Option<String> {
    std::env::var("KANCA_TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// Whether a test that only makes sense on `backend` runs in this run. When it does not, says
/// so, with `why`, past the test harness's output capture, so the skip shows in every log.
pub fn runs_on(backend: Backend, why: &str) -> bool {
    let this_run = Backend::of_this_run();
    if this_run != backend {
        skipped(&format!(
            "{why}: it runs only on {} and this run is on {} (KANCA_TEST_BACKEND)",
            backend.name(),
            this_run.name()
        ));
    }
    this_run == backend
}

/// Prints `SKIPPED <test>: <reason>` where a passing test's output is not hidden.
pub fn skipped(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    // Straight to the process's stderr: `eprintln!` is captured and shown only on failure.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
}

pub struct TestDatabase {
    pub url: String,
    pub admin_url: String,
    pub name: String,
}

impl TestDatabase {
    /// A new empty database when this run is on PostgreSQL, `None` on SQLite.
    pub async fn create() -> Option<Self> {
        match Backend::of_this_run() {
            Backend::Sqlite => None,
            Backend::Postgres => Some(Self::create_on_postgres().await),
        }
    }

    /// A new empty database on `KANCA_TEST_DATABASE_URL`'s server, whichever run this is.
    pub async fn create_on_postgres() -> Self {
        Self::create_on_server(false).await
    }

    /// Like [`Self::create_on_postgres`], with a linguistic default collation when the server
    /// has ICU, so that a test can show that the schema's byte-order columns, not the server's
    /// default, decide the order.
    pub async fn create_on_postgres_with_icu_collation() -> Self {
        Self::create_on_server(true).await
    }

    async fn create_on_server(icu: bool) -> Self {
        let admin_url = postgres_url()
            .expect("a PostgreSQL test runs only when KANCA_TEST_DATABASE_URL is set");
        let name = format!("kanca_t_{:016x}", rand::random::<u64>());
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {admin_url}: {e}"));
        let with_icu = format!(
            "CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
        );
        // Without ICU on the server, its default collation is all there is to test against.
        if !icu || sqlx::raw_sql(&with_icu).execute(&mut conn).await.is_err() {
            sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("creating a test database");
        }
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
