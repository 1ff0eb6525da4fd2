//! Rows to records and values to columns on SQLite: the shared readers and writers of
//! [`crate::store::cells`], which handle both backends' column types.

pub(super) use crate::store::cells::{
    app, attempt, endpoint, event_type, message, names_to_json, to_json, StoredSecret,
};
