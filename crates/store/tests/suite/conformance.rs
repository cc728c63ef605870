//! The store conformance suite: every rule of the repository API, run on SQLite and PostgreSQL.

use crate::common::new_client;
use palera_core::ids::{ClientId, UserId};
use palera_core::phone::PhoneNumber;
use palera_core::tenant::ClientFields;
use palera_core::user::{Email, Role, VoiceState};
use palera_store::clients::{Scope, SecretInput};
use palera_store::users::NewUser;
use palera_store::{conformance, Store, StoreError};

const SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn settings(name: &str) -> palera_core::tenant::ClientSettings {
    ClientFields {
        name: name.into(),
        account_sid: Some(SID.into()),
        ..Default::default()
    }
    .validate()
    .unwrap()
}

fn n(s: &str) -> PhoneNumber {
    PhoneNumber::parse_e164(s).unwrap()
}

fn new_user(email: &str, role: Role, clients: Vec<ClientId>) -> NewUser {
    NewUser {
        email: Email::parse("email", email).unwrap(),
        name: "Pat".into(),
        role,
        password_hash: "hash".into(),
        voice_enabled: true,
        clients,
    }
}

conformance!(migrations_are_idempotent, |store: Store| async move {
    assert_eq!(store.migrate().await.unwrap(), 0);
});

conformance!(
    auth_tokens_are_stored_only_as_ciphertext,
    |store: Store| async move {
        let secrets = SecretInput {
            auth_token: Some("tok_0123456789abcdefSECRET".into()),
            api_key_secret: Some("keysecretXYZW".into()),
        };
        let c = store
            .create_client(&settings("Acme"), &secrets, &[], 5)
            .await
            .unwrap();
        assert!(c.auth_token.set);
        assert_eq!(c.auth_token.last4.as_deref(), Some("CRET"));
        assert_eq!(c.api_key_secret.last4.as_deref(), Some("XYZW"));
        let shown = serde_json::to_string(&c).unwrap();
        assert!(!shown.contains("tok_0123456789abcdefSECRET"));
        // Read the raw columns back: only sealed text is there.
        let (raw,): (String,) = sqlx::query_as("SELECT auth_token_enc FROM clients WHERE id = $1")
            .bind(c.id.0)
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert!(raw.starts_with("v1:") && !raw.contains("SECRET"));
        let creds = store.client_credentials(c.id).await.unwrap();
        assert_eq!(
            creds.auth_token.as_deref(),
            Some("tok_0123456789abcdefSECRET")
        );
        assert!(!format!("{creds:?}").contains("SECRET"));
    }
);

conformance!(
    secrets_are_kept_when_not_given_and_cleared_when_empty,
    |store: Store| async move {
        let c = store
            .create_client(
                &settings("Acme"),
                &SecretInput {
                    auth_token: Some("abcdef".into()),
                    api_key_secret: None,
                },
                &[],
                5,
            )
            .await
            .unwrap();
        let kept = store
            .update_client(c.id, &settings("Acme 2"), &SecretInput::default())
            .await
            .unwrap();
        assert_eq!(kept.name, "Acme 2");
        assert!(kept.auth_token.set);
        let cleared = store
            .update_client(
                c.id,
                &settings("Acme 2"),
                &SecretInput {
                    auth_token: Some(String::new()),
                    api_key_secret: None,
                },
            )
            .await
            .unwrap();
        assert!(!cleared.auth_token.set);
    }
);

conformance!(
    numbers_are_unique_across_clients,
    |store: Store| async move {
        let a = new_client("A")
            .account_sid(SID)
            .numbers(&["+14155550100"])
            .create(&store)
            .await;
        let b = new_client("B").account_sid(SID).create(&store).await;
        let err = store
            .add_number(b, &n("+14155550100"), "", 2)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict { ref field, .. } if field == "number"));
        assert_eq!(store.client_of_number(&n("+14155550100")).await.unwrap(), a);
    }
);

conformance!(
    a_client_with_a_taken_number_stores_nothing,
    |store: Store| async move {
        new_client("A")
            .account_sid(SID)
            .numbers(&["+14155550100"])
            .create(&store)
            .await;
        let err = store
            .create_client(
                &settings("B"),
                &SecretInput::default(),
                &[n("+14155550101"), n("+14155550100")],
                3,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict { ref field, .. } if field == "numbers[1]"));
        assert_eq!(store.clients(&Scope::All).await.unwrap().len(), 1);
        assert!(store.client_of_number(&n("+14155550101")).await.is_err());
    }
);

conformance!(
    a_number_of_another_client_cannot_be_removed,
    |store: Store| async move {
        let a = new_client("A")
            .account_sid(SID)
            .numbers(&["+14155550100"])
            .create(&store)
            .await;
        let b = new_client("B").account_sid(SID).create(&store).await;
        let num = store.numbers(a).await.unwrap().remove(0);
        assert!(matches!(
            store.remove_number(b, num.id).await,
            Err(StoreError::NotFound)
        ));
        store.remove_number(a, num.id).await.unwrap();
        assert!(store.numbers(a).await.unwrap().is_empty());
    }
);

conformance!(client_lists_are_scoped, |store: Store| async move {
    let a = new_client("A").account_sid(SID).create(&store).await;
    let _b = new_client("B").account_sid(SID).create(&store).await;
    assert_eq!(store.clients(&Scope::All).await.unwrap().len(), 2);
    let only = store.clients(&Scope::Only(vec![a])).await.unwrap();
    assert_eq!(only.iter().map(|c| c.id).collect::<Vec<_>>(), vec![a]);
});

conformance!(emails_are_unique, |store: Store| async move {
    store
        .create_user(&new_user("a@x.io", Role::Admin, vec![]), 1)
        .await
        .unwrap();
    let err = store
        .create_user(&new_user("A@X.io", Role::Agent, vec![]), 1)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { ref field, .. } if field == "email"));
});

conformance!(
    a_user_with_an_unknown_client_stores_nothing,
    |store: Store| async move {
        let err = store
            .create_user(&new_user("a@x.io", Role::Agent, vec![ClientId(999)]), 1)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict { ref field, .. } if field == "clients"));
        assert!(store.users(None).await.unwrap().is_empty());
    }
);

conformance!(agents_are_assigned_to_clients, |store: Store| async move {
    let a = new_client("A").account_sid(SID).create(&store).await;
    let b = new_client("B").account_sid(SID).create(&store).await;
    let u = store
        .create_user(&new_user("a@x.io", Role::Agent, vec![a, b]), 1)
        .await
        .unwrap();
    assert_eq!(u.clients, vec![a, b]);
    assert_eq!(store.users(Some(a)).await.unwrap().len(), 1);
    let u = store
        .update_user_access(u.id, "Pat", Role::Agent, false, &[b])
        .await
        .unwrap();
    assert_eq!(u.clients, vec![b]);
    assert!(!u.voice_enabled);
    assert!(store.users(Some(a)).await.unwrap().is_empty());
    let (found, hash) = store.user_for_login(" A@X.IO ").await.unwrap();
    assert_eq!(found.id, u.id);
    assert_eq!(hash, "hash");
});

conformance!(
    every_voice_state_change_is_stored_with_its_time,
    |store: Store| async move {
        let u = store
            .create_user(&new_user("a@x.io", Role::Agent, vec![]), 1)
            .await
            .unwrap();
        assert_eq!(u.voice_state, VoiceState::Offline);
        assert!(store
            .set_voice_state(u.id, VoiceState::Ready, "desktop", 10)
            .await
            .unwrap());
        assert!(!store
            .set_voice_state(u.id, VoiceState::Ready, "desktop", 11)
            .await
            .unwrap());
        assert!(store
            .set_voice_state(u.id, VoiceState::Standby, "api", 20)
            .await
            .unwrap());
        let h = store.voice_state_history(u.id).await.unwrap();
        assert_eq!(
            h.iter().map(|c| (c.state, c.at)).collect::<Vec<_>>(),
            vec![(VoiceState::Ready, 10), (VoiceState::Standby, 20)]
        );
        let u = store.user(u.id).await.unwrap();
        assert_eq!(
            (u.voice_state, u.voice_state_since),
            (VoiceState::Standby, 20)
        );
        assert!(matches!(
            store
                .set_voice_state(UserId(999), VoiceState::Ready, "api", 1)
                .await,
            Err(StoreError::NotFound)
        ));
    }
);

conformance!(sessions_expire, |store: Store| async move {
    let u = store
        .create_user(&new_user("a@x.io", Role::Agent, vec![]), 1)
        .await
        .unwrap();
    store
        .create_session("h1", u.id, "csrf", 0, 100)
        .await
        .unwrap();
    assert_eq!(
        store.session("h1", 50).await.unwrap().unwrap().user_id,
        u.id
    );
    assert!(store.session("h1", 100).await.unwrap().is_none());
    assert_eq!(store.purge_sessions(100).await.unwrap(), 1);
    store
        .create_session("h2", u.id, "csrf", 0, 100)
        .await
        .unwrap();
    store.delete_session("h2").await.unwrap();
    assert!(store.session("h2", 1).await.unwrap().is_none());
});

conformance!(
    every_write_to_users_moves_the_users_generation_and_nothing_else_does,
    |store: Store| async move {
        let c = crate::common::client(&store, "Acme").await;
        let g0 = store.users_generation();
        let u = store
            .create_user(&new_user("pat@x.io", Role::Agent, vec![c]), 1)
            .await
            .unwrap();
        let g1 = store.users_generation();
        assert!(g1 > g0, "create");
        assert!(store
            .set_voice_state(u.id, VoiceState::Ready, "api", 2)
            .await
            .unwrap());
        let g2 = store.users_generation();
        assert!(g2 > g1, "a voice state change");
        // The same state again changes nothing, and reading changes nothing.
        assert!(!store
            .set_voice_state(u.id, VoiceState::Ready, "api", 3)
            .await
            .unwrap());
        store.users(None).await.unwrap();
        assert_eq!(store.users_generation(), g2);
        store
            .update_user_access(u.id, "Pat", Role::Agent, false, &[c])
            .await
            .unwrap();
        assert!(store.users_generation() > g2, "access and voice switch");
        // Clones of the store share the count.
        assert_eq!(store.clone().users_generation(), store.users_generation());
    }
);

conformance!(
    users_changed_since_returns_each_change_and_never_sorts_one_before_the_latest,
    |store: Store| async move {
        let a = new_client("A").account_sid(SID).create(&store).await;
        let pat = store
            .create_user(&new_user("pat@x.io", Role::Agent, vec![a]), 1_000)
            .await
            .unwrap();
        let sam = store
            .create_user(&new_user("sam@x.io", Role::Agent, vec![]), 2_000)
            .await
            .unwrap();
        let (all, mark) = store.users_changed_since(i64::MIN).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(mark, 2_000, "the latest change read");
        let (none, same) = store.users_changed_since(mark + 1).await.unwrap();
        assert!(none.is_empty());
        assert_eq!(same, mark + 1);
        // A writer whose clock is behind the latest change still sorts after it.
        store
            .set_voice_state(pat.id, VoiceState::Ready, "desktop", 500)
            .await
            .unwrap();
        let (changed, next) = store.users_changed_since(mark + 1).await.unwrap();
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].id, pat.id);
        assert_eq!(changed[0].voice_state, VoiceState::Ready);
        assert_eq!(changed[0].clients, vec![a], "with its clients");
        assert!(next > mark);
        // Access changes count too.
        store
            .update_user_access(sam.id, "Sam", Role::Agent, true, &[a])
            .await
            .unwrap();
        let (changed, _) = store.users_changed_since(next + 1).await.unwrap();
        assert_eq!(
            changed.iter().map(|u| u.id).collect::<Vec<_>>(),
            vec![sam.id]
        );
        assert_eq!(changed[0].clients, vec![a]);
    }
);
