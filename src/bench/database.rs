//! `--fresh-database`: an empty PostgreSQL database for one run, dropped afterwards.
//!
//! A run on a database that already holds messages would measure a different server (bigger
//! indexes, leftover due deliveries), so the bench can make its own: it connects to the
//! database named in `--database-url` only to `CREATE DATABASE kanca_bench_<random>` on the
//! same server, points the spawned nodes at that one, and drops it (`WITH (FORCE)`) when the
//! run ends or is interrupted.

use anyhow::Context;
use sqlx::Connection;

pub struct FreshDatabase {
    /// The URL of the new database, for the spawned nodes.
    pub url: String,
    admin_url: String,
    name: String,
}

impl FreshDatabase {
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("kanca_bench_{:016x}", rand::random::<u64>());
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .with_context(|| format!("connecting to {} for --fresh-database", redact(admin_url)))?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating database {name}"))?;
        let _ = conn.close().await;
        let mut url = url::Url::parse(admin_url).context("--database-url is not a URL")?;
        url.set_path(&name);
        Ok(Self {
            url: url.to_string(),
            admin_url: admin_url.to_owned(),
            name,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        // Drop cannot await, and may run inside the bench's runtime (on Ctrl-C), so a thread
        // with a runtime of its own does the cleanup. A failure leaves an empty database
        // behind, which is said so it can be dropped by hand.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || -> anyhow::Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await?;
                Ok(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop database {}", self.name);
        }
    }
}

/// A database URL without its password, for messages and the report.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}
