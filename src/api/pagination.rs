//! Keyset pagination in Svix's shape: `?limit=&iterator=` →
//! `{"data":[…],"iterator":…,"prevIterator":…,"done":bool}`.
//!
//! The iterator is the id (or name) of the last row returned; the next page starts after it.
//! Keyset paging stays fast however deep a client pages, unlike an offset.

use crate::error::ApiError;
use crate::store::PageRequest;
use serde::{Deserialize, Serialize};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 250;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    Ascending,
    Descending,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub limit: Option<u32>,
    pub iterator: Option<String>,
    pub order: Option<Order>,
}

impl ListQuery {
    /// The store request: one row more than asked, to know whether the list is done.
    pub fn page(&self, ascending_by_default: bool) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::Validation(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        Ok(PageRequest {
            limit: limit + 1,
            iterator: self.iterator.clone().filter(|i| !i.is_empty()),
            ascending: match self.order {
                Some(Order::Ascending) => true,
                Some(Order::Descending) => false,
                None => ascending_by_default,
            },
        })
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    pub data: Vec<T>,
    pub iterator: Option<String>,
    pub prev_iterator: Option<String>,
    pub done: bool,
}

impl<T> ListResponse<T> {
    /// Builds a page from `rows` fetched with [`ListQuery::page`] (one extra row at most).
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        page: &PageRequest,
        key: impl Fn(&R) -> String,
        render: impl Fn(R) -> T,
    ) -> Self {
        let wanted = (page.limit - 1) as usize;
        let done = rows.len() <= wanted;
        rows.truncate(wanted);
        let iterator = rows.last().map(&key);
        let prev_iterator = rows.first().map(&key);
        Self {
            data: rows.into_iter().map(render).collect(),
            iterator,
            prev_iterator,
            done,
        }
    }
}
