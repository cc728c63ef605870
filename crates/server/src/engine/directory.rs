//! The engine's view of contacts, lists and the do-not-call list: the few questions the dialer
//! asks (which contacts are in these lists, is this number on DNC) and the two effects a
//! disposition has outside the campaign (join DNC, move to another list). Behind a trait so the
//! engine does not depend on how contacts are stored; [`MemoryDirectory`] is the in-process
//! implementation used until the contacts store is merged (and by the tests).

use async_trait::async_trait;
use palera_core::ids::{ClientId, ContactId, ListId};
use palera_core::phone::PhoneNumber;
use palera_store::StoreError;
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

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

#[derive(Default)]
struct Book {
    contacts: BTreeMap<(ClientId, ContactId), DirectoryContact>,
    dnc: HashSet<(ClientId, PhoneNumber)>,
    next_id: i64,
}

/// An in-process directory.
#[derive(Default)]
pub struct MemoryDirectory {
    book: Mutex<Book>,
}

impl MemoryDirectory {
    pub fn new() -> Self {
        Self::default()
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a contact to `list`; returns its id.
    pub fn add(
        &self,
        client: ClientId,
        list: ListId,
        phone: PhoneNumber,
        time_zone: Option<&str>,
        name: &str,
    ) -> ContactId {
        let mut b = self.book();
        b.next_id += 1;
        let id = ContactId(b.next_id);
        b.contacts.insert(
            (client, id),
            DirectoryContact {
                id,
                list,
                phone,
                time_zone: time_zone.map(str::to_string),
                name: name.to_string(),
            },
        );
        id
    }

    /// The list a contact is in.
    pub fn list_of(&self, client: ClientId, contact: ContactId) -> Option<ListId> {
        self.book().contacts.get(&(client, contact)).map(|c| c.list)
    }
}

#[async_trait]
impl ContactDirectory for MemoryDirectory {
    async fn contacts_in_lists(
        &self,
        client: ClientId,
        lists: &[ListId],
        after: Option<ContactId>,
        limit: usize,
    ) -> Result<Vec<DirectoryContact>, StoreError> {
        let b = self.book();
        let from = (client, ContactId(after.map_or(i64::MIN, |a| a.0 + 1)));
        Ok(b.contacts
            .range(from..=(client, ContactId(i64::MAX)))
            .map(|(_, c)| c)
            .filter(|c| lists.contains(&c.list))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn is_on_dnc(&self, client: ClientId, phone: &PhoneNumber) -> Result<bool, StoreError> {
        Ok(self.book().dnc.contains(&(client, phone.clone())))
    }

    async fn add_dnc(&self, client: ClientId, phone: &PhoneNumber) -> Result<(), StoreError> {
        self.book().dnc.insert((client, phone.clone()));
        Ok(())
    }

    async fn move_contact(
        &self,
        client: ClientId,
        contact: ContactId,
        list: ListId,
    ) -> Result<(), StoreError> {
        match self.book().contacts.get_mut(&(client, contact)) {
            Some(c) => {
                c.list = list;
                Ok(())
            }
            None => Err(StoreError::NotFound),
        }
    }
}
