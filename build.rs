//! Compiles the PostgreSQL run of the black-box suite (`tests/postgres_suite.rs`) only when
//! `KANCA_TEST_DATABASE_URL` names a database to run it against.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(kanca_pg_suite)");
    println!("cargo::rerun-if-env-changed=KANCA_TEST_DATABASE_URL");
    if std::env::var_os("KANCA_TEST_DATABASE_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=kanca_pg_suite");
    }
}
