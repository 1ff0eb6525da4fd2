//! Applications, the tenants that own endpoints and messages: their upsert rules, the
//! built-in one that may not go, and the cache every call under `/app/{app}/…` resolves
//! through.

use super::{SendError, Sending};
use crate::domain::{AppId, Application, ApplicationFields, IdOrUid, Metadata, Uid};
use crate::store::{PageRequest, StoreError};

/// An application as given (a create, a full update), not yet checked.
#[derive(Debug, Clone, Default)]
pub struct ApplicationInput {
    pub name: String,
    pub uid: Option<String>,
    pub throttle_rate: Option<u16>,
    pub metadata: Option<Metadata>,
}

impl ApplicationInput {
    fn parse(self) -> Result<ApplicationFields, SendError> {
        Ok(ApplicationFields {
            uid: self
                .uid
                .map(|u| Uid::parse_for(AppId::PREFIX, &u))
                .transpose()?,
            name: parse_name(self.name)?,
            throttle_rate: self.throttle_rate,
            metadata: self.metadata.unwrap_or_default(),
        })
    }
}

/// A partial update: `None` keeps a field, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ApplicationPatch {
    pub name: Option<String>,
    pub uid: Option<Option<String>>,
    pub throttle_rate: Option<Option<u16>>,
    pub metadata: Option<Metadata>,
}

fn parse_name(name: String) -> Result<String, SendError> {
    if name.trim().is_empty() {
        return Err(SendError::Validation("name must not be empty".into()));
    }
    Ok(name)
}

impl Sending {
    /// Finds an application by id or uid. Found applications are remembered for
    /// `AppCache::TTL`: every call under an application starts here.
    pub async fn app(&self, key: &str) -> Result<Application, SendError> {
        if let Some(app) = self.apps.get(key) {
            return Ok(app);
        }
        let found = self.app_fresh(key).await?;
        self.apps.put(key, &found);
        Ok(found)
    }

    /// Finds an application in the store, bypassing the cache.
    pub async fn app_fresh(&self, key: &str) -> Result<Application, SendError> {
        let key = IdOrUid::parse(key).map_err(|_| SendError::not_found("application"))?;
        self.store
            .get_app(&key)
            .await?
            .ok_or_else(|| SendError::not_found("application"))
    }

    pub async fn list_apps(&self, page: &PageRequest) -> Result<Vec<Application>, SendError> {
        Ok(self.store.list_apps(page).await?)
    }

    /// Creates an application; with `get_if_exists`, one that already has the uid is
    /// answered instead. `true` when it was created.
    pub async fn create_app(
        &self,
        input: ApplicationInput,
        get_if_exists: bool,
    ) -> Result<(Application, bool), SendError> {
        let fields = input.parse()?;
        if let (true, Some(uid)) = (get_if_exists, &fields.uid) {
            let key = IdOrUid::parse(uid.as_str())?;
            if let Some(existing) = self.store.get_app(&key).await? {
                return Ok((existing, false));
            }
        }
        Ok((self.store.create_app(fields).await?, true))
    }

    /// A full update, or, as Svix's `upsert` does, a create when nothing has this id or uid
    /// yet: `key` becomes the new application's uid unless the input names one. `true` when
    /// it was created.
    pub async fn put_app(
        &self,
        key: &str,
        mut input: ApplicationInput,
    ) -> Result<(Application, bool), SendError> {
        match self.app(key).await {
            Ok(app) => {
                // Addressed by its uid and given none: keep it, or the next upsert by that uid
                // would create a second application.
                if input.uid.is_none() && app.uid.as_ref().is_some_and(|u| u.as_str() == key) {
                    input.uid = Some(key.to_owned());
                }
                let fields = input.parse()?;
                if fields.uid != app.uid {
                    self.refuse_built_in(&app, "given another uid")?;
                }
                let updated = self.store.update_app(&app.id, fields).await?;
                self.apps.clear();
                Ok((updated, false))
            }
            Err(SendError::NotFound(_)) if Uid::parse_for(AppId::PREFIX, key).is_ok() => {
                input.uid.get_or_insert_with(|| key.to_owned());
                let created = self.store.create_app(input.parse()?).await?;
                self.apps.clear();
                Ok((created, true))
            }
            Err(e) => Err(e),
        }
    }

    pub async fn patch_app(
        &self,
        key: &str,
        patch: ApplicationPatch,
    ) -> Result<Application, SendError> {
        let app = self.app(key).await?;
        let built_in = self.refuse_built_in(&app, "given another uid");
        let old_uid = app.uid.clone();
        let fields = ApplicationFields {
            uid: match patch.uid {
                None => app.uid,
                Some(None) => None,
                Some(Some(u)) => Some(Uid::parse_for(AppId::PREFIX, &u)?),
            },
            name: match patch.name {
                Some(n) => parse_name(n)?,
                None => app.name,
            },
            throttle_rate: patch.throttle_rate.unwrap_or(app.throttle_rate),
            metadata: patch.metadata.unwrap_or(app.metadata),
        };
        if fields.uid != old_uid {
            built_in?;
        }
        let updated = self.store.update_app(&app.id, fields).await?;
        self.apps.clear();
        Ok(updated)
    }

    pub async fn delete_app(&self, key: &str) -> Result<(), SendError> {
        let app = self.app(key).await?;
        self.refuse_built_in(&app, "deleted")?;
        self.store.delete_app(&app.id).await?;
        self.apps.clear();
        Ok(())
    }

    /// Creates the application a message names in its `application` field (Svix's "create
    /// the application with the first message"); `key`, the path segment, becomes its uid.
    pub async fn create_app_for_message(
        &self,
        key: &str,
        mut input: ApplicationInput,
    ) -> Result<Application, SendError> {
        if input.uid.is_none() {
            input.uid = Some(key.to_owned());
        }
        match self.store.create_app(input.parse()?).await {
            Ok(app) => Ok(app),
            // Another request created it meanwhile.
            Err(StoreError::Conflict(_)) => self.app(key).await,
            Err(e) => Err(e.into()),
        }
    }

    /// The built-in `workspace` application receives the workspace's events (every channel
    /// message is published into it, in the same transaction): deleting it would break every
    /// channel and hook, and changing its uid would make the next start create another one.
    fn refuse_built_in(&self, app: &Application, what: &str) -> Result<(), SendError> {
        if app.id == self.built_in_app {
            return Err(SendError::Conflict(format!(
                "the built-in `{}` application cannot be {what}: the workspace publishes its events into it",
                crate::workspace::events::APP_UID
            )));
        }
        Ok(())
    }
}

/// Recently resolved applications, by the id or uid they were asked for.
///
/// Publishing resolves the application on every message, and a database read per message
/// costs more than the rest of the request. Entries live one second: a change made on this
/// node clears them at once; one made on another node shows within the second. A message
/// for an application deleted meanwhile still fails cleanly (404): its insert breaks the
/// foreign key.
#[derive(Default)]
pub(super) struct AppCache {
    entries: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, Application)>>,
}

impl AppCache {
    const TTL: std::time::Duration = std::time::Duration::from_secs(1);
    /// Bounds memory: past this many keys the cache starts over.
    const MAX_ENTRIES: usize = 10_000;

    fn get(&self, key: &str) -> Option<Application> {
        let entries = self.entries.lock().expect("app cache lock");
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < Self::TTL)
            .map(|(_, app)| app.clone())
    }

    fn put(&self, key: &str, app: &Application) {
        let mut entries = self.entries.lock().expect("app cache lock");
        if entries.len() >= Self::MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key.to_owned(), (std::time::Instant::now(), app.clone()));
    }

    /// Forgets everything: applications changed (rare, so precision is not worth it).
    fn clear(&self) {
        self.entries.lock().expect("app cache lock").clear();
    }
}
