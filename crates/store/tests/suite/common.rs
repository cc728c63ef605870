//! Helpers every area of the store's suite shares: the client that owns what a test creates.

use palera_core::ids::ClientId;
use palera_core::phone::PhoneNumber;
use palera_core::tenant::ClientFields;
use palera_store::clients::SecretInput;
use palera_store::Store;

/// A client to create: a name, and optionally caller-ID numbers, a default country and a Twilio
/// account. `new_client("A").numbers(&["+14155550100"]).create(&store)`.
pub struct NewClient {
    fields: ClientFields,
    numbers: Vec<PhoneNumber>,
}

/// A client named `name`, with no numbers, no default country and no Twilio account yet.
pub fn new_client(name: &str) -> NewClient {
    NewClient {
        fields: ClientFields {
            name: name.into(),
            ..Default::default()
        },
        numbers: Vec::new(),
    }
}

impl NewClient {
    /// Its caller-ID numbers, in E.164.
    pub fn numbers(mut self, numbers: &[&str]) -> Self {
        self.numbers = numbers
            .iter()
            .map(|n| PhoneNumber::parse_e164(n).expect("test numbers are E.164"))
            .collect();
        self
    }

    /// The country its contacts' numbers default to.
    pub fn country(mut self, country: &str) -> Self {
        self.fields.default_country = Some(country.into());
        self
    }

    /// Its Twilio account SID.
    pub fn account_sid(mut self, sid: &str) -> Self {
        self.fields.account_sid = Some(sid.into());
        self
    }

    /// Creates it (one agent seat) and returns its id.
    pub async fn create(self, store: &Store) -> ClientId {
        let settings = self.fields.validate().expect("valid test client");
        store
            .create_client(&settings, &SecretInput::default(), &self.numbers, 1)
            .await
            .expect("create the test client")
            .id
    }
}

/// A client named `name` with no numbers, no default country and no Twilio account.
pub async fn client(store: &Store, name: &str) -> ClientId {
    new_client(name).create(store).await
}
