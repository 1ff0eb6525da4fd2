//! `sqlx::migrate!` embeds the migrations when the crate compiles, but cargo only sees the
//! files it has read, not the directory: a new migration would be left out of the binary
//! until something else changed. Watching the directories makes it part of the next build.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
