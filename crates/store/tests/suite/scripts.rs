//! Conformance of the script store on SQLite and PostgreSQL (issue 14): versions, publishing,
//! the campaign's script, a call's run with the version it ran, and client scope.

use crate::common::new_client;
use palera_core::contact::{ContactData, PropertyKind};
use palera_core::ids::{ClientId, UserId};
use palera_core::phone::PhoneNumber;
use palera_core::script::{Run, ScriptBody, ScriptField, Step};
use palera_core::user::{Email, Role};
use palera_store::contacts::Actor;
use palera_store::users::NewUser;
use palera_store::{conformance, Store, StoreError};

pub(crate) async fn author(store: &Store, c: ClientId) -> UserId {
    let u = NewUser {
        email: Email::parse("email", &format!("s{}@x.io", c.0)).unwrap(),
        name: "Sam".into(),
        role: Role::Supervisor,
        password_hash: "hash".into(),
        voice_enabled: true,
        clients: vec![c],
    };
    store.create_user(&u, 1).await.unwrap().id
}

fn body(text: &str) -> ScriptBody {
    ScriptBody {
        steps: vec![Step {
            key: "one".into(),
            title: "One".into(),
            text: text.into(),
            fields: vec![ScriptField {
                key: "seats".into(),
                label: "Seats".into(),
                kind: PropertyKind::Number,
                choices: vec![],
                required: true,
                property: None,
            }],
            ..Default::default()
        }],
    }
}

conformance!(
    a_published_script_version_never_changes_and_edits_make_a_new_draft,
    |store: Store| async move {
        let c = new_client("A")
            .numbers(&["+14155550100"])
            .create(&store)
            .await;
        let by = author(&store, c).await;
        let s = store
            .create_script(c, "Sales", &body("v1"), by, 10)
            .await
            .unwrap();
        assert_eq!((s.latest.version, s.published.is_none()), (1, true));
        // Drafts are edited in place.
        let s = store
            .save_script_draft(c, s.id, "Sales", &body("v1b"), by, 11)
            .await
            .unwrap();
        assert_eq!(
            (s.latest.version, s.latest.body.steps[0].text.as_str()),
            (1, "v1b")
        );
        let s = store.publish_script(c, s.id, 12).await.unwrap();
        let published = s.published.clone().unwrap();
        assert_eq!(published.version, 1);
        // An edit after publishing is a new draft; version 1 stays as published.
        let s = store
            .save_script_draft(c, s.id, "Sales 2", &body("v2"), by, 13)
            .await
            .unwrap();
        assert_eq!((s.latest.version, s.name.as_str()), (2, "Sales 2"));
        assert_eq!(s.published.as_ref(), Some(&published));
        assert_eq!(
            store.script_version(c, published.id).await.unwrap().body,
            body("v1b")
        );
        let s = store.publish_script(c, s.id, 14).await.unwrap();
        assert_eq!(s.published.unwrap().version, 2);
    }
);

conformance!(
    a_calls_run_keeps_the_version_it_ran_and_scripts_are_scoped_to_their_client,
    |store: Store| async move {
        let c = new_client("A")
            .numbers(&["+14155550100"])
            .create(&store)
            .await;
        let other = new_client("B")
            .numbers(&["+14155550101"])
            .create(&store)
            .await;
        let by = author(&store, c).await;
        let s = store
            .create_script(c, "Sales", &body("v1"), by, 10)
            .await
            .unwrap();
        let s = store.publish_script(c, s.id, 11).await.unwrap();
        let v1 = s.published.unwrap();
        assert!(matches!(
            store.script(other, s.id).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store
                .save_script_draft(other, s.id, "X", &body("x"), by, 12)
                .await,
            Err(StoreError::NotFound)
        ));
        let data = ContactData {
            phone: PhoneNumber::parse_e164("+12125550100").unwrap(),
            first_name: "Ann".into(),
            last_name: String::new(),
            email: None,
            time_zone: None,
            properties: Default::default(),
        };
        let contact = store
            .create_contact(c, None, &data, &Actor::system("t"), 1)
            .await
            .unwrap();
        let call = store
            .create_manual_call(c, contact.id, by, "+12125550100", 1)
            .await;
        let call = match call {
            Ok(call) => call,
            Err(e) => panic!("{e}"),
        };
        let mut run = Run::start(&v1.body);
        run.answer(&v1.body, "seats", &serde_json::json!(3), None)
            .unwrap();
        store
            .save_script_run(c, call.id, v1.id, &run, 20)
            .await
            .unwrap();
        // Editing and publishing again does not change what the call ran.
        store
            .save_script_draft(c, s.id, "Sales", &body("v2"), by, 21)
            .await
            .unwrap();
        store.publish_script(c, s.id, 22).await.unwrap();
        let stored = store.script_run(c, call.id).await.unwrap().unwrap();
        assert_eq!(stored.version.id, v1.id);
        assert_eq!(stored.version.body, body("v1"));
        assert_eq!(stored.run, run);
        // A script that calls ran is kept for their record.
        assert!(matches!(
            store.delete_script(c, s.id).await,
            Err(StoreError::Conflict { .. })
        ));
    }
);
