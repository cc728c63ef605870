//! The engine's view of contacts, lists and the do-not-call list: the few questions the dialer
//! asks (which contacts are in these lists, bring a campaign's enrolment up to date with them,
//! is this number on DNC) and the two effects a
//! disposition has outside the campaign (join DNC, move to another list). Behind a trait so the
//! engine depends on these four questions only; [`StoreDirectory`] answers them from the
//! contacts store.

use crate::app::Clock;
use async_trait::async_trait;
use palera_core::ids::{CampaignId, ClientId, ContactId, ListId};
use palera_core::phone::PhoneNumber;
use palera_store::contacts::{Actor, ContactSelection};
use palera_store::{Store, StoreError};
use std::sync::Arc;

/// A contact as the dialer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryContact {
    pub id: ContactId,
    pub list: ListId,
    pub phone: PhoneNumber,
    /// IANA zone name, when known.
    pub time_zone: Option<String>,
    pub name: String,
}

/// Contacts, lists and DNC of every client.
#[async_trait]
pub trait ContactDirectory: Send + Sync {
    /// Contacts of `client` in any of `lists`, by id, after `after`, at most `limit`.
    async fn contacts_in_lists(
        &self,
        client: ClientId,
        lists: &[ListId],
        after: Option<ContactId>,
        limit: usize,
    ) -> Result<Vec<DirectoryContact>, StoreError>;
    /// Brings `campaign`'s enrolment up to date with `lists`: their contacts it lacks join it,
    /// its active contacts that left them (and are not being dialled) are retired. Returns how
    /// many joined and which were retired.
    async fn sync_enrolment(
        &self,
        campaign: CampaignId,
        client: ClientId,
        lists: &[ListId],
        now_ms: i64,
    ) -> Result<(u64, Vec<ContactId>), StoreError>;
    async fn is_on_dnc(&self, client: ClientId, phone: &PhoneNumber) -> Result<bool, StoreError>;
    async fn add_dnc(&self, client: ClientId, phone: &PhoneNumber) -> Result<(), StoreError>;
    /// Moves a contact to `list` (it leaves its current list).
    async fn move_contact(
        &self,
        client: ClientId,
        contact: ContactId,
        list: ListId,
    ) -> Result<(), StoreError>;
}

/// The directory over the contacts store (lists, contacts, DNC of `palera_store`).
pub struct StoreDirectory {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl StoreDirectory {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }
}

#[async_trait]
impl ContactDirectory for StoreDirectory {
    async fn contacts_in_lists(
        &self,
        client: ClientId,
        lists: &[ListId],
        after: Option<ContactId>,
        limit: usize,
    ) -> Result<Vec<DirectoryContact>, StoreError> {
        let rows = self
            .store
            .contacts_in_lists(client, lists, after, limit as i64)
            .await?;
        Ok(rows
            .into_iter()
            .map(|c| DirectoryContact {
                id: c.id,
                list: c.list_id,
                name: format!("{} {}", c.first_name, c.last_name)
                    .trim()
                    .to_string(),
                phone: c.phone,
                time_zone: c.time_zone,
            })
            .collect())
    }

    async fn sync_enrolment(
        &self,
        campaign: CampaignId,
        client: ClientId,
        lists: &[ListId],
        now_ms: i64,
    ) -> Result<(u64, Vec<ContactId>), StoreError> {
        self.store
            .sync_enrolment(campaign, client, lists, now_ms)
            .await
    }

    async fn is_on_dnc(&self, client: ClientId, phone: &PhoneNumber) -> Result<bool, StoreError> {
        self.store.is_on_dnc(client, phone).await
    }

    async fn add_dnc(&self, client: ClientId, phone: &PhoneNumber) -> Result<(), StoreError> {
        self.store
            .add_dnc(client, phone, "disposition", self.now_ms())
            .await
            .map(|_| ())
    }

    async fn move_contact(
        &self,
        client: ClientId,
        contact: ContactId,
        list: ListId,
    ) -> Result<(), StoreError> {
        self.store
            .move_contacts(
                client,
                &ContactSelection::Ids(vec![contact]),
                Some(list),
                &Actor::system("disposition"),
                self.now_ms(),
            )
            .await
            .map(|_| ())
    }
}
