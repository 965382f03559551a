//! [`SessionStore`] for [`Store`]: each method as one [`Op`] through the engine's one async path.

use super::decide::{no_id, not_found};
use super::ops::{new_id_for, Op};
use super::sync::check_plain;
use super::{check_key, Backend, Store};
use crate::error::StoreError;
use crate::event::{StoreEvent, Subscription};
use crate::id::SessionId;
use crate::record::{SaveEntry, SessionRecord, State, Ttl};
use crate::store::{check_positive, SessionStore};
use std::num::NonZeroUsize;

impl<B: Backend> SessionStore for Store<B> {
    fn name(&self) -> &str {
        self.options.get_name()
    }

    fn subscribe(&self, callback: impl Fn(&StoreEvent) + 'static) -> Subscription {
        self.subscribers.subscribe(callback)
    }

    async fn create(&self, state: State, ttl: Ttl) -> Result<SessionRecord, StoreError> {
        self.create_with_id(&SessionId::generate()?, state, ttl)
            .await
    }

    async fn create_with_id(
        &self,
        id: &SessionId,
        state: State,
        ttl: Ttl,
    ) -> Result<SessionRecord, StoreError> {
        check_plain(&state)?;
        let ttl_ms = self.resolve_ttl(ttl)?;
        let out = self.run(&[id], Op::Create(state, ttl_ms)).await?;
        out.into_record().ok_or_else(no_id)
    }

    async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.run(&[id], Op::Read).await?.into_record())
    }

    async fn load_many(&self, ids: &[SessionId]) -> Result<Vec<Option<SessionRecord>>, StoreError> {
        let ids: Vec<&SessionId> = ids.iter().collect();
        Ok(self.run(&ids, Op::Read).await?.into_records())
    }

    async fn save_many(
        &self,
        entries: Vec<SaveEntry>,
    ) -> Result<Vec<Result<u64, StoreError>>, StoreError> {
        for entry in &entries {
            check_plain(&entry.state)?;
        }
        let ids: Vec<SessionId> = entries.iter().map(|e| e.id.clone()).collect();
        let ids: Vec<&SessionId> = ids.iter().collect();
        Ok(self
            .run(&ids, Op::Put(entries, false))
            .await?
            .into_versions())
    }

    async fn save(&self, id: &SessionId, state: State) -> Result<u64, StoreError> {
        self.put(id, state, None).await
    }

    async fn save_if_version(
        &self,
        id: &SessionId,
        state: State,
        expected: u64,
    ) -> Result<u64, StoreError> {
        self.put(id, state, Some(expected)).await
    }

    async fn update_ttl(&self, id: &SessionId, ttl_ms: Option<u64>) -> Result<(), StoreError> {
        check_positive("ttlMs", ttl_ms)?;
        self.run(&[id], Op::UpdateTtl(ttl_ms)).await?;
        Ok(())
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        Ok(self.run(&[id], Op::Delete).await?.count() == 1)
    }

    async fn change_id(
        &self,
        old_id: &SessionId,
        new_id: Option<&SessionId>,
    ) -> Result<SessionId, StoreError> {
        let new_id = new_id_for(old_id, new_id)?;
        self.run(&[old_id, &new_id], Op::ChangeId).await?;
        Ok(new_id)
    }

    async fn delete_expired(&self, batch_size: Option<NonZeroUsize>) -> Result<usize, StoreError> {
        let limit = batch_size.map(NonZeroUsize::get);
        Ok(self.run(&[], Op::DeleteExpired(limit)).await?.count())
    }

    async fn ids(&self) -> Result<Vec<SessionId>, StoreError> {
        Ok(self.run(&[], Op::Ids).await?.into_ids())
    }

    async fn get_json(&self, id: &SessionId, key: &str) -> Result<Option<String>, StoreError> {
        check_key(key)?;
        let record = self.run(&[id], Op::Read).await?.into_record();
        Ok(record
            .ok_or_else(|| not_found(id))?
            .state
            .get_json(key)
            .map(str::to_owned))
    }

    async fn set_json(&self, id: &SessionId, key: &str, value: &str) -> Result<u64, StoreError> {
        let op = Op::set(key, value)?;
        self.run(&[id], op).await?.version()
    }

    async fn remove(&self, id: &SessionId, key: &str) -> Result<u64, StoreError> {
        let op = Op::remove(key)?;
        self.run(&[id], op).await?.version()
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.run(&[], Op::Clear).await?;
        Ok(())
    }
}

impl<B: Backend> Store<B> {
    /// save and saveIfVersion: one whole-state write.
    async fn put(
        &self,
        id: &SessionId,
        state: State,
        expected: Option<u64>,
    ) -> Result<u64, StoreError> {
        check_plain(&state)?;
        let entry = SaveEntry {
            id: id.clone(),
            state,
            expected,
        };
        self.run(&[id], Op::Put(vec![entry], true)).await?.version()
    }
}
