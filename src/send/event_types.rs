//! The event catalog: each type has a description and JSON Schemas with examples ("send test
//! event" delivers one). A full update creates a missing type and a delete archives, as in
//! Svix.

use super::{SendError, Sending};
use crate::domain::{EventType, EventTypeFields, EventTypeName};
use crate::store::PageRequest;
use std::collections::BTreeSet;

/// An event type's fields as given (a create or a full update), not yet checked.
#[derive(Debug, Clone, Default)]
pub struct EventTypeInput {
    pub description: String,
    pub archived: Option<bool>,
    pub deprecated: Option<bool>,
    pub schemas: Option<serde_json::Value>,
    pub group_name: Option<String>,
    pub feature_flags: Option<BTreeSet<String>>,
}

impl EventTypeInput {
    fn parse(self) -> Result<EventTypeFields, SendError> {
        Ok(EventTypeFields {
            description: self.description,
            archived: self.archived.unwrap_or(false),
            deprecated: self.deprecated.unwrap_or(false),
            schemas: check_schemas(self.schemas)?,
            group_name: self.group_name,
            feature_flags: self.feature_flags,
        })
    }
}

/// A partial update: `None` keeps a field, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct EventTypePatch {
    pub description: Option<String>,
    pub archived: Option<bool>,
    pub deprecated: Option<bool>,
    pub schemas: Option<Option<serde_json::Value>>,
    pub group_name: Option<Option<String>>,
    pub feature_flags: Option<Option<BTreeSet<String>>>,
}

/// `schemas` maps a version ("1", "2" …) to a JSON Schema object.
fn check_schemas(s: Option<serde_json::Value>) -> Result<Option<serde_json::Value>, SendError> {
    match s {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Object(map)) => {
            if let Some((version, _)) = map.iter().find(|(_, v)| !v.is_object()) {
                return Err(SendError::Validation(format!(
                    "schemas[\"{version}\"] must be a JSON Schema object"
                )));
            }
            Ok(Some(serde_json::Value::Object(map)))
        }
        Some(_) => Err(SendError::Validation(
            "schemas must be an object mapping versions to JSON Schemas".into(),
        )),
    }
}

impl Sending {
    /// The event type of this name.
    pub async fn event_type(&self, name: &str) -> Result<EventType, SendError> {
        let name = EventTypeName::parse(name).map_err(|_| SendError::not_found("event type"))?;
        self.store
            .get_event_type(&name)
            .await?
            .ok_or_else(|| SendError::not_found("event type"))
    }

    pub async fn list_event_types(
        &self,
        page: &PageRequest,
        include_archived: bool,
    ) -> Result<Vec<EventType>, SendError> {
        Ok(self.store.list_event_types(page, include_archived).await?)
    }

    pub async fn create_event_type(
        &self,
        name: &str,
        input: EventTypeInput,
    ) -> Result<EventType, SendError> {
        let name = EventTypeName::parse(name)?;
        Ok(self.store.create_event_type(&name, input.parse()?).await?)
    }

    /// A full update, or a create when the type does not exist yet (`true`).
    pub async fn put_event_type(
        &self,
        name: &str,
        input: EventTypeInput,
    ) -> Result<(EventType, bool), SendError> {
        let name = EventTypeName::parse(name)?;
        let fields = input.parse()?;
        Ok(match self.store.get_event_type(&name).await? {
            Some(_) => (self.store.update_event_type(&name, fields).await?, false),
            None => (self.store.create_event_type(&name, fields).await?, true),
        })
    }

    pub async fn patch_event_type(
        &self,
        name: &str,
        patch: EventTypePatch,
    ) -> Result<EventType, SendError> {
        let et = self.event_type(name).await?;
        let fields = EventTypeFields {
            description: patch.description.unwrap_or(et.description),
            archived: patch.archived.unwrap_or(et.archived),
            deprecated: patch.deprecated.unwrap_or(et.deprecated),
            schemas: match patch.schemas {
                Some(s) => check_schemas(s)?,
                None => et.schemas,
            },
            group_name: patch.group_name.unwrap_or(et.group_name),
            feature_flags: patch.feature_flags.unwrap_or(et.feature_flags),
        };
        Ok(self.store.update_event_type(&et.name, fields).await?)
    }

    /// Archives the event type (it stays in the catalog, hidden from lists by default), or
    /// with `expunge` removes it.
    pub async fn delete_event_type(&self, name: &str, expunge: bool) -> Result<(), SendError> {
        let et = self.event_type(name).await?;
        if expunge {
            self.store.delete_event_type(&et.name).await?;
        } else {
            let fields = EventTypeFields {
                description: et.description,
                archived: true,
                deprecated: et.deprecated,
                schemas: et.schemas,
                group_name: et.group_name,
                feature_flags: et.feature_flags,
            };
            self.store.update_event_type(&et.name, fields).await?;
        }
        Ok(())
    }
}
