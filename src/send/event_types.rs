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

/// An event type as an OpenAPI document describes it (Svix's `EventTypeFromOpenApi`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeFromSpec {
    pub name: String,
    pub description: String,
    pub schemas: Option<serde_json::Value>,
    pub deprecated: bool,
    pub group_name: Option<String>,
    pub feature_flags: Option<BTreeSet<String>>,
}

/// How deep `$ref`s are followed when a schema is inlined; a cycle stops here instead of
/// looping.
const MAX_REF_DEPTH: usize = 32;

/// The event types of an OpenAPI document, read as Svix's importer reads them: each entry of
/// `webhooks` (OpenAPI 3.1) or `x-webhooks` (3.0) is an event type named by its key, described
/// by its operation's `description` (or `summary`), with the operation's JSON request body
/// schema (its `$ref`s to `#/components/schemas` inlined) as schema version "1".
pub fn event_types_from_openapi(
    spec: &serde_json::Value,
) -> Result<Vec<EventTypeFromSpec>, SendError> {
    let hooks = spec
        .get("webhooks")
        .or_else(|| spec.get("x-webhooks"))
        .and_then(|w| w.as_object())
        .ok_or_else(|| {
            SendError::Validation(
                "spec: the document has no `webhooks` (or `x-webhooks`) object".into(),
            )
        })?;
    let mut out = Vec::with_capacity(hooks.len());
    for (name, item) in hooks {
        EventTypeName::parse(name)
            .map_err(|e| SendError::Validation(format!("webhooks[\"{name}\"]: {}", e.0)))?;
        let op = item
            .get("post")
            .or_else(|| {
                item.as_object()
                    .and_then(|m| m.values().find(|v| v.is_object()))
            })
            .ok_or_else(|| SendError::Validation(format!("webhooks[\"{name}\"]: no operation")))?;
        let text = |k: &str| op.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let schema = op
            .pointer("/requestBody/content/application~1json/schema")
            .map(|s| inline_refs(spec, s, 0))
            .transpose()?;
        out.push(EventTypeFromSpec {
            name: name.clone(),
            description: text("description")
                .or_else(|| text("summary"))
                .unwrap_or_default(),
            schemas: schema.map(|s| serde_json::json!({ "1": s })),
            deprecated: op
                .get("deprecated")
                .and_then(|d| d.as_bool())
                .unwrap_or(false),
            group_name: text("x-svix-group-name"),
            feature_flags: op
                .get("x-svix-feature-flags")
                .and_then(|f| serde_json::from_value(f.clone()).ok()),
        });
    }
    Ok(out)
}

/// `schema` with every local `$ref` (`#/…`) replaced by what it points to.
fn inline_refs(
    spec: &serde_json::Value,
    schema: &serde_json::Value,
    depth: usize,
) -> Result<serde_json::Value, SendError> {
    use serde_json::Value;
    if depth > MAX_REF_DEPTH {
        return Err(SendError::Validation(
            "spec: `$ref`s nest too deep (or form a cycle)".into(),
        ));
    }
    Ok(match schema {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                let target = r
                    .strip_prefix('#')
                    .and_then(|p| spec.pointer(p))
                    .ok_or_else(|| {
                        SendError::Validation(format!("spec: `$ref` {r} points to nothing"))
                    })?;
                return inline_refs(spec, target, depth + 1);
            }
            let mut out = serde_json::Map::with_capacity(map.len());
            for (k, v) in map {
                out.insert(k.clone(), inline_refs(spec, v, depth + 1)?);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| inline_refs(spec, v, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

impl Sending {
    /// Creates or updates the event types an OpenAPI document describes (Svix's
    /// `import_openapi`); with `replace_all`, archives the ones it does not name. A dry run
    /// changes nothing and answers what would change.
    pub async fn import_openapi(
        &self,
        spec: &serde_json::Value,
        dry_run: bool,
        replace_all: bool,
    ) -> Result<(Vec<String>, Vec<EventTypeFromSpec>), SendError> {
        let found = event_types_from_openapi(spec)?;
        if dry_run {
            return Ok((Vec::new(), found));
        }
        let mut modified = Vec::with_capacity(found.len());
        for et in &found {
            let input = EventTypeInput {
                description: et.description.clone(),
                archived: Some(false),
                deprecated: Some(et.deprecated),
                schemas: et.schemas.clone(),
                group_name: et.group_name.clone(),
                feature_flags: et.feature_flags.clone(),
            };
            self.put_event_type(&et.name, input).await?;
            modified.push(et.name.clone());
        }
        if replace_all {
            let named: BTreeSet<&str> = found.iter().map(|e| e.name.as_str()).collect();
            let mut page = PageRequest {
                limit: 250,
                iterator: None,
                ascending: true,
            };
            loop {
                let batch = self.store.list_event_types(&page, false).await?;
                for et in &batch {
                    if !named.contains(et.name.as_str()) {
                        self.delete_event_type(et.name.as_str(), false).await?;
                    }
                }
                match batch.last() {
                    Some(last) if batch.len() == page.limit as usize => {
                        page.iterator = Some(last.name.as_str().to_owned());
                    }
                    _ => break,
                }
            }
        }
        Ok((modified, Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn webhooks_become_event_types_with_their_schemas_inlined() {
        let spec = json!({
            "openapi": "3.1.0",
            "webhooks": {
                "invoice.paid": {"post": {
                    "summary": "An invoice was paid",
                    "requestBody": {"content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Invoice"}}}}
                }},
                "invoice.voided": {"post": {"description": "Voided", "deprecated": true}}
            },
            "components": {"schemas": {
                "Invoice": {"type": "object", "properties": {"amount": {"$ref": "#/components/schemas/Cents"}}},
                "Cents": {"type": "integer", "examples": [100]}
            }}
        });
        let found = event_types_from_openapi(&spec).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].name, "invoice.paid");
        assert_eq!(found[0].description, "An invoice was paid");
        assert_eq!(
            found[0].schemas,
            Some(
                json!({"1": {"type": "object", "properties": {"amount": {"type": "integer", "examples": [100]}}}})
            )
        );
        assert!(found[1].deprecated && found[1].schemas.is_none());
    }

    #[test]
    fn a_document_without_webhooks_or_with_a_bad_ref_or_a_cycle_is_refused() {
        assert!(event_types_from_openapi(&json!({"openapi": "3.1.0"})).is_err());
        let dangling = json!({"webhooks": {"a.b": {"post": {"requestBody": {"content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Nope"}}}}}}}});
        assert!(event_types_from_openapi(&dangling).is_err());
        let cycle = json!({"webhooks": {"a.b": {"post": {"requestBody": {"content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/A"}}}}}}},
            "components": {"schemas": {"A": {"$ref": "#/components/schemas/A"}}}});
        assert!(event_types_from_openapi(&cycle).is_err());
        let bad_name = json!({"webhooks": {"not valid!": {"post": {}}}});
        assert!(event_types_from_openapi(&bad_name).is_err());
    }
}
