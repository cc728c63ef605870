//! Conformance rules of contacts, lists, history and DNC, on SQLite and PostgreSQL.

use crate::common::client;
use palera_core::contact::{ContactFields, PropertyFields, PropertySchema};
use palera_core::phone::PhoneNumber;
use palera_store::contacts::{Actor, ContactFilter, ContactSelection};
use palera_store::{conformance, Store, StoreError};

fn n(s: &str) -> PhoneNumber {
    PhoneNumber::parse_e164(s).unwrap()
}

fn data(phone: &str, first: &str) -> palera_core::contact::ContactData {
    ContactFields {
        phone: phone.into(),
        first_name: Some(first.into()),
        ..Default::default()
    }
    .validate(&PropertySchema::default(), None)
    .unwrap()
}

fn actor() -> Actor {
    Actor::system("test")
}

conformance!(
    a_number_is_unique_per_client_but_not_across_clients,
    |store: Store| async move {
        let a = client(&store, "A").await;
        let b = client(&store, "B").await;
        store
            .create_contact(a, None, &data("+14155550100", "Ann"), &actor(), 1)
            .await
            .unwrap();
        let again = store
            .create_contact(a, None, &data("+14155550100", "Bob"), &actor(), 2)
            .await
            .unwrap_err();
        assert!(matches!(again, StoreError::Conflict { ref field, .. } if field == "phone"));
        store
            .create_contact(b, None, &data("+14155550100", "Bea"), &actor(), 3)
            .await
            .unwrap();
    }
);

conformance!(
    list_names_are_unique_per_client_and_lists_keep_pipeline_order,
    |store: Store| async move {
        let a = client(&store, "A").await;
        let b = client(&store, "B").await;
        let new = store.create_list(a, "New leads", 1).await.unwrap();
        let follow = store.create_list(a, "Follow-ups", 2).await.unwrap();
        assert!(matches!(
            store.create_list(a, "New leads", 3).await.unwrap_err(),
            StoreError::Conflict { ref field, .. } if field == "name"
        ));
        store.create_list(b, "New leads", 3).await.unwrap();
        let names: Vec<_> = store
            .lists(a)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert_eq!(names, ["New leads", "Follow-ups"]);
        store.reorder_lists(a, &[follow.id, new.id]).await.unwrap();
        let names: Vec<_> = store
            .lists(a)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert_eq!(names, ["Follow-ups", "New leads"]);
        assert!(store.reorder_lists(a, &[follow.id]).await.is_err());
    }
);

conformance!(
    another_clients_list_and_contact_are_not_found,
    |store: Store| async move {
        let a = client(&store, "A").await;
        let b = client(&store, "B").await;
        let la = store.create_list(a, "L", 1).await.unwrap();
        assert!(matches!(
            store.list(b, la.id).await,
            Err(StoreError::NotFound)
        ));
        let c = store
            .create_contact(a, Some(la.id), &data("+14155550100", "Ann"), &actor(), 1)
            .await
            .unwrap();
        assert!(matches!(
            store.contact(b, c.id).await,
            Err(StoreError::NotFound)
        ));
        // A contact of B cannot be put in A's list.
        assert!(matches!(
            store
                .create_contact(b, Some(la.id), &data("+14155550101", "X"), &actor(), 1)
                .await,
            Err(StoreError::NotFound)
        ));
        let lb = store.create_list(b, "L", 1).await.unwrap();
        let moved = store
            .move_contacts(
                b,
                &ContactSelection::Ids(vec![c.id]),
                Some(lb.id),
                &actor(),
                2,
            )
            .await
            .unwrap();
        assert_eq!(moved, 0);
        assert!(store
            .contacts_in_lists(b, &[la.id], None, 10)
            .await
            .unwrap()
            .is_empty());
    }
);

conformance!(
    moving_a_contact_removes_it_from_its_old_list_and_records_the_move,
    |store: Store| async move {
        let a = client(&store, "A").await;
        let new = store.create_list(a, "New", 1).await.unwrap();
        let follow = store.create_list(a, "Follow", 1).await.unwrap();
        let mut ids = Vec::new();
        for i in 0..5 {
            let c = store
                .create_contact(
                    a,
                    Some(new.id),
                    &data(&format!("+1415555010{i}"), "P"),
                    &actor(),
                    1,
                )
                .await
                .unwrap();
            ids.push(c.id);
        }
        let moved = store
            .move_contacts(
                a,
                &ContactSelection::Ids(vec![ids[0], ids[1]]),
                Some(follow.id),
                &actor(),
                5,
            )
            .await
            .unwrap();
        assert_eq!(moved, 2);
        let filter = ContactFilter {
            list: Some(new.id),
            ..Default::default()
        };
        let moved = store
            .move_contacts(
                a,
                &ContactSelection::Filter(filter),
                Some(follow.id),
                &actor(),
                6,
            )
            .await
            .unwrap();
        assert_eq!(moved, 3);
        let counts = store.list_counts(a).await.unwrap();
        assert_eq!(
            counts.iter().map(|c| c.contacts).collect::<Vec<_>>(),
            [0, 5]
        );
        let h = store.contact_history(a, ids[0]).await.unwrap();
        let moves: Vec<_> = h
            .iter()
            .filter(|c| c.field == "list")
            .map(|c| (c.old_value.clone(), c.new_value.clone()))
            .collect();
        assert_eq!(
            moves,
            [
                (None, Some(new.id.0.to_string())),
                (Some(new.id.0.to_string()), Some(follow.id.0.to_string()))
            ]
        );
        let page = store
            .contacts_in_lists(a, &[new.id, follow.id], None, 3)
            .await
            .unwrap();
        assert_eq!(page.iter().map(|c| c.id).collect::<Vec<_>>(), ids[..3]);
        let rest = store
            .contacts_in_lists(a, &[follow.id], Some(page[2].id), 10)
            .await
            .unwrap();
        assert_eq!(rest.iter().map(|c| c.id).collect::<Vec<_>>(), ids[3..]);
        assert!(rest.iter().all(|c| c.list_id == follow.id));
    }
);

conformance!(
    every_property_change_is_recorded_with_who_when_old_and_new,
    |store: Store| async move {
        let a = client(&store, "A").await;
        let plan = PropertyFields {
            name: "plan".into(),
            kind: "choice".into(),
            choices: vec!["Gold".into(), "Silver".into()],
            ..Default::default()
        }
        .validate()
        .unwrap();
        store.define_property(a, &plan, 1).await.unwrap();
        let schema = store.property_schema(a).await.unwrap();
        assert_eq!(schema.properties, [plan]);
        let mut fields = ContactFields {
            phone: "+14155550100".into(),
            first_name: Some("Ann".into()),
            ..Default::default()
        };
        fields.properties.insert("plan".into(), "gold".into());
        let c = store
            .create_contact(
                a,
                None,
                &fields.validate(&schema, None).unwrap(),
                &actor(),
                1,
            )
            .await
            .unwrap();
        assert_eq!(c.properties["plan"], "Gold");
        fields.properties.insert("plan".into(), "Silver".into());
        fields.first_name = Some("Anna".into());
        let who = Actor {
            user: None,
            source: "api".into(),
        };
        let c2 = store
            .update_contact(a, c.id, &fields.validate(&schema, None).unwrap(), &who, 9)
            .await
            .unwrap();
        assert_eq!(c2.first_name, "Anna");
        let h = store.contact_history(a, c.id).await.unwrap();
        let got: Vec<_> = h
            .iter()
            .map(|c| {
                (
                    c.field.as_str(),
                    c.old_value.as_deref(),
                    c.new_value.as_deref(),
                    c.source.as_str(),
                    c.at,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("first_name", Some("Ann"), Some("Anna"), "api", 9),
                ("properties.plan", Some("Gold"), Some("Silver"), "api", 9)
            ]
        );
        // Saving the same data again records nothing.
        store
            .update_contact(a, c.id, &fields.validate(&schema, None).unwrap(), &who, 10)
            .await
            .unwrap();
        assert_eq!(store.contact_history(a, c.id).await.unwrap().len(), 2);
    }
);

conformance!(
    dnc_is_per_client_and_keeps_the_first_source,
    |store: Store| async move {
        let a = client(&store, "A").await;
        let b = client(&store, "B").await;
        let num = n("+14155550100");
        assert!(!store.is_on_dnc(a, &num).await.unwrap());
        let e = store.add_dnc(a, &num, "api", 5).await.unwrap();
        let again = store.add_dnc(a, &num, "csv", 6).await.unwrap();
        assert_eq!(
            (again.id, again.source.as_str(), again.created_at),
            (e.id, "api", 5)
        );
        assert!(store.is_on_dnc(a, &num).await.unwrap());
        assert!(!store.is_on_dnc(b, &num).await.unwrap());
        assert!(matches!(
            store.remove_dnc(b, &num).await,
            Err(StoreError::NotFound)
        ));
        store.remove_dnc(a, &num).await.unwrap();
        assert!(!store.is_on_dnc(a, &num).await.unwrap());
    }
);

conformance!(
    filters_select_by_search_zone_and_property_on_both_backends,
    |store: Store| async move {
        let a = client(&store, "A").await;
        let tier = PropertyFields {
            name: "tier".into(),
            kind: "number".into(),
            ..Default::default()
        }
        .validate()
        .unwrap();
        store.define_property(a, &tier, 1).await.unwrap();
        let schema = store.property_schema(a).await.unwrap();
        for (phone, name, t) in [
            ("+12125550100", "Zoë", 3),
            ("+14155550101", "zack", 35),
            ("+14155550102", "Amy_x", 3),
        ] {
            let mut f = ContactFields {
                phone: phone.into(),
                first_name: Some(name.into()),
                ..Default::default()
            };
            f.properties.insert("tier".into(), t.into());
            store
                .create_contact(a, None, &f.validate(&schema, None).unwrap(), &actor(), 1)
                .await
                .unwrap();
        }
        let count = |f: ContactFilter| {
            let store = store.clone();
            async move { store.count_contacts(a, &f).await.unwrap() }
        };
        let search = |s: &str| ContactFilter {
            search: Some(s.into()),
            ..Default::default()
        };
        assert_eq!(count(search("za")).await, 1);
        assert_eq!(count(search("1415")).await, 2);
        assert_eq!(count(search("amy_")).await, 1);
        assert_eq!(count(search("am%")).await, 0);
        let zone = ContactFilter {
            time_zone: Some("America/New_York".into()),
            ..Default::default()
        };
        assert_eq!(count(zone).await, 1);
        let prop = ContactFilter {
            property: Some(("tier".into(), "3".into())),
            ..Default::default()
        };
        assert_eq!(count(prop.clone()).await, 2);
        let page = store.search_contacts(a, &prop, None, 1).await.unwrap();
        assert_eq!(page.len(), 1);
        let next = store
            .search_contacts(a, &prop, Some(page[0].id), 10)
            .await
            .unwrap();
        assert_eq!(next.len(), 1);
        assert!(next[0].id > page[0].id);
    }
);
