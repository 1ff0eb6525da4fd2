//! `kanca migrate`: brings the schema up to date without serving.

use crate::config::DatabaseArgs;

pub async fn run(args: DatabaseArgs) -> anyhow::Result<()> {
    let (data_dir, url) = crate::config::database_url(&args)?;
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&data_dir)?;
    }
    crate::store::migrate(&url).await?;
    println!("database is up to date");
    Ok(())
}
