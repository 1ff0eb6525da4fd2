//! What can go wrong when sending, in the service's own words. The API answers each variant
//! with the status and body Svix gives (`crate::error`), the console with a page of the same
//! status (`crate::web::error`).

use crate::domain::ParseError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// A value is not acceptable; the text says which and why.
    #[error("{0}")]
    Validation(String),
    /// What was asked for does not exist; the text names it (`application not found`).
    #[error("{0}")]
    NotFound(String),
    /// It conflicts with what is stored (a taken uid or `eventId`, the built-in application).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SendError {
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }
}

impl From<ParseError> for SendError {
    fn from(e: ParseError) -> Self {
        Self::Validation(e.0)
    }
}
