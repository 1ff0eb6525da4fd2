//! Rows to records and values to columns on PostgreSQL: the shared readers and writers of
//! [`crate::store::cells`], which handle both backends' column types, and a reader for the
//! `SMALLINT` status and trigger columns that queries read directly.

use sqlx::postgres::PgRow;
use sqlx::Row;

pub(super) use crate::store::cells::{
    app, attempt, endpoint, event_type, message, names_to_json, to_json, StoredSecret,
};

/// A `SMALLINT` status or trigger column, in the `i64` the domain's decoders take.
pub(super) fn small(row: &PgRow, col: &str) -> i64 {
    i64::from(row.get::<i16, _>(col))
}
