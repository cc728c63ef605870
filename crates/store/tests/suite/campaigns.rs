//! Conformance of the campaign store on SQLite and PostgreSQL: campaigns scoped by client, the
//! disposition set, enrolment, and the atomic claim that keeps one contact to one dial at a time.

use crate::common::new_client;
use palera_core::campaign::{CampaignSettings, ContactStatus, Disposition};
use palera_core::contact::ContactData;
use palera_core::ids::{CampaignId, ClientId, ContactId, ListId};
use palera_core::phone::PhoneNumber;
use palera_store::calls::{Claim, Enrolment};
use palera_store::campaigns::{CampaignInput, CampaignStatus, EffectKind, NewDisposition};
use palera_store::contacts::Actor;
use palera_store::{conformance, Store, StoreError};

fn input(name: &str, lists: Vec<ListId>) -> CampaignInput {
    CampaignInput {
        name: name.into(),
        settings: CampaignSettings::default(),
        caller_id: "+14155550100".into(),
        voicemail_url: Some("https://x.test/vm.mp3".into()),
        hold_music_url: None,
        recording: true,
        transcription: false,
        lists,
        agents: vec![],
    }
}

async fn lists(store: &Store, c: ClientId, names: &[&str]) -> Vec<ListId> {
    let mut out = Vec::new();
    for n in names {
        out.push(store.create_list(c, n, 1).await.unwrap().id);
    }
    out
}

/// A contact in `list`; returns its id.
pub(crate) async fn contact(store: &Store, c: ClientId, list: ListId, phone: &str) -> ContactId {
    let data = ContactData {
        phone: PhoneNumber::parse_e164(phone).unwrap(),
        first_name: "Ann".into(),
        last_name: String::new(),
        email: None,
        time_zone: Some(chrono_tz::America::New_York),
        properties: Default::default(),
    };
    store
        .create_contact(c, Some(list), &data, &Actor::system("test"), 1)
        .await
        .unwrap()
        .id
}

async fn campaign_with_contact(store: &Store) -> (ClientId, CampaignId, ContactId) {
    let c = new_client("Acme")
        .numbers(&["+14155550100"])
        .create(store)
        .await;
    let l = lists(store, c, &["Leads"]).await;
    let who = contact(store, c, l[0], "+14155550111").await;
    let camp = store
        .create_campaign(c, &input("Spring", l), 10)
        .await
        .unwrap();
    store
        .enrol_contacts(
            camp.id,
            c,
            &[Enrolment {
                contact_id: who,
                phone: "+14155550111".into(),
                time_zone: Some("America/New_York".into()),
                name: "Ann".into(),
            }],
            10,
        )
        .await
        .unwrap();
    (c, camp.id, who)
}

fn claim(c: ClientId, camp: CampaignId, who: ContactId, now_ms: i64) -> Claim {
    Claim {
        campaign: camp,
        client: c,
        contact: who,
        agent: None,
        phone: "+14155550111".into(),
        max_attempts: 2,
        now_ms,
        cycle: "2026-03-02".into(),
    }
}

conformance!(
    campaigns_are_scoped_to_their_client,
    |store: Store| async move {
        let a = new_client("A")
            .numbers(&["+14155550100"])
            .create(&store)
            .await;
        let b = new_client("B")
            .numbers(&["+14155550101"])
            .create(&store)
            .await;
        let l = lists(&store, a, &["One", "Two", "Three"]).await;
        let camp = store
            .create_campaign(a, &input("Spring", l[..2].to_vec()), 10)
            .await
            .unwrap();
        assert_eq!(camp.status, CampaignStatus::Draft);
        assert_eq!(camp.lists, l[..2].to_vec());
        assert!(camp.recording && !camp.transcription);
        assert!(matches!(
            store.campaign(b, camp.id).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store
                .set_campaign_status(b, camp.id, CampaignStatus::Running, 11)
                .await,
            Err(StoreError::NotFound)
        ));
        let changed = input("Summer", vec![l[2]]);
        let up = store
            .update_campaign(a, camp.id, &changed, 12)
            .await
            .unwrap();
        assert_eq!((up.name.as_str(), up.lists.clone()), ("Summer", vec![l[2]]));
        store
            .set_campaign_status(a, camp.id, CampaignStatus::Running, 13)
            .await
            .unwrap();
        assert_eq!(store.running_campaigns().await.unwrap(), vec![camp.id]);
        assert!(store.campaigns(b).await.unwrap().is_empty());
    }
);

conformance!(
    disposition_sets_are_replaced_whole,
    |store: Store| async move {
        let a = new_client("A")
            .numbers(&["+14155550100"])
            .create(&store)
            .await;
        let l = lists(&store, a, &["Leads", "Later"]).await;
        let camp = store
            .create_campaign(a, &input("Spring", vec![l[0]]), 10)
            .await
            .unwrap();
        let set = vec![
            NewDisposition {
                label: "Sale".into(),
                effect: EffectKind::Final,
                target_list: None,
            },
            NewDisposition {
                label: "Follow up".into(),
                effect: EffectKind::MoveToList,
                target_list: Some(l[1]),
            },
        ];
        let stored = store.replace_dispositions(a, camp.id, &set).await.unwrap();
        assert_eq!(stored.len(), 2);
        assert_eq!(stored[1].target_list, Some(l[1]));
        let stored = store
            .replace_dispositions(a, camp.id, &set[..1])
            .await
            .unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].label, "Sale");
    }
);

conformance!(
    a_contact_is_claimed_by_one_dial_at_a_time,
    |store: Store| async move {
        let (c, camp, who) = campaign_with_contact(&store).await;
        // Many concurrent claims: exactly one wins, and only one call row exists.
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                s.claim_contact(&claim(c, camp, who, 20)).await
            }));
        }
        let mut won = 0;
        for t in tasks {
            if t.await.unwrap().unwrap().is_some() {
                won += 1;
            }
        }
        assert_eq!(won, 1);
        assert_eq!(store.campaign_calls(camp).await.unwrap().len(), 1);
        let cc = store.campaign_contact(camp, who).await.unwrap();
        assert!(cc.in_flight.is_some());
        assert_eq!(cc.attempts.attempts, 1);
        assert!(store
            .due_contacts(c, camp, 30, 2, 10)
            .await
            .unwrap()
            .is_empty());
    }
);

conformance!(
    released_claims_follow_the_cadence_and_max_attempts,
    |store: Store| async move {
        let (c, camp, who) = campaign_with_contact(&store).await;
        let settings = CampaignSettings {
            max_attempts: 2,
            retry_after: palera_core::campaign::RetryAfter::Hours(1),
            ..Default::default()
        };
        let tz = chrono_tz::America::New_York;
        let mut now = 1_772_463_600_000; // 2026-03-02T15:00Z
        for _ in 0..2 {
            let call = store
                .claim_contact(&claim(c, camp, who, now))
                .await
                .unwrap();
            assert!(call.is_some());
            let mut cc = store.campaign_contact(camp, who).await.unwrap();
            cc.attempts.complete(
                &Disposition::system_retry(),
                &settings,
                tz,
                palera_store::from_millis(now),
            );
            store
                .save_attempts(camp, who, &cc.attempts, now)
                .await
                .unwrap();
            assert!(store
                .claim_contact(&claim(c, camp, who, now))
                .await
                .unwrap()
                .is_none());
            now += 3_600_000;
        }
        let cc = store.campaign_contact(camp, who).await.unwrap();
        assert_eq!(cc.attempts.status, ContactStatus::Exhausted);
        assert_eq!(cc.attempts.attempts, 2);
        assert!(store
            .claim_contact(&claim(c, camp, who, now))
            .await
            .unwrap()
            .is_none());
    }
);

conformance!(an_unplaced_claim_is_given_back, |store: Store| async move {
    let (c, camp, who) = campaign_with_contact(&store).await;
    let call = store
        .claim_contact(&claim(c, camp, who, 20))
        .await
        .unwrap()
        .unwrap();
    store.unclaim(camp, who, call.id).await.unwrap();
    let cc = store.campaign_contact(camp, who).await.unwrap();
    assert_eq!((cc.attempts.attempts, cc.in_flight), (0, None));
    assert!(store.campaign_calls(camp).await.unwrap().is_empty());
});

conformance!(
    one_node_leads_a_campaign_at_a_time,
    |store: Store| async move {
        let (_, camp, _) = campaign_with_contact(&store).await;
        let first = store.try_lead_campaign(camp).await.unwrap();
        assert!(first.is_some());
        let second = store.try_lead_campaign(camp).await.unwrap();
        match store.backend() {
            // Single-node: every engine may lead.
            palera_store::Backend::Sqlite => assert!(second.is_some()),
            palera_store::Backend::Postgres => {
                assert!(second.is_none(), "two leaders");
                drop(first);
                // The lock goes with the leader's session.
                let mut again = None;
                for _ in 0..50 {
                    again = store.try_lead_campaign(camp).await.unwrap();
                    if again.is_some() {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                assert!(again.is_some(), "leadership was not released");
            }
        }
    }
);

/// A stored campaign call, written as the engine leaves it.
struct Past {
    campaign: CampaignId,
    outcome: &'static str,
    answered_by: Option<&'static str>,
    placed: &'static str,
    /// Seconds after `placed`.
    answered: Option<i64>,
    connected: Option<i64>,
    ended: Option<i64>,
    sid: bool,
}

fn ms(at: &str) -> i64 {
    at.parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap()
        .timestamp_millis()
}

async fn past(store: &Store, client: ClientId, p: Past) {
    let placed = ms(p.placed);
    let at = |s: Option<i64>| s.map(|s| placed + s * 1000);
    sqlx::query("INSERT INTO calls (client_id, campaign_id, direction, phone, carrier_sid, status, outcome, answered_by, placed_at, answered_at, connected_at, ended_at, notes) VALUES ($1,$2,'outbound','+14155550111',$3,'abandoned',$4,$5,$6,$7,$8,$9,'')")
        .bind(client.0)
        .bind(p.campaign.0)
        .bind(p.sid.then(|| "CA-past".to_string()))
        .bind(p.outcome)
        .bind(p.answered_by)
        .bind(placed)
        .bind(at(p.answered))
        .bind(at(p.connected))
        .bind(at(p.ended))
        .execute(store.pool())
        .await
        .unwrap();
}

conformance!(
    pacing_history_counts_each_day_of_the_stored_calls,
    |store: Store| async move {
        let (c, camp, _) = campaign_with_contact(&store).await;
        let l = lists(&store, c, &["Other"]).await;
        let other = store
            .create_campaign(c, &input("Other", l), 10)
            .await
            .unwrap()
            .id;
        let call = |outcome, by, placed, answered, connected, ended| Past {
            campaign: camp,
            outcome,
            answered_by: by,
            placed,
            answered,
            connected,
            ended,
            sid: true,
        };
        let h = Some("human");
        // 10 February: one person served by an agent.
        past(
            &store,
            c,
            call(
                "completed",
                h,
                "2026-02-10T12:00:00Z",
                Some(8),
                Some(9),
                Some(69),
            ),
        )
        .await;
        // 11 February: 3 served, 2 abandoned, 1 voicemail dropped by an agent.
        for i in 0..3 {
            let t = [
                "2026-02-11T09:00:00Z",
                "2026-02-11T10:00:00Z",
                "2026-02-11T11:00:00Z",
            ][i];
            past(
                &store,
                c,
                call("completed", h, t, Some(5), Some(6), Some(36)),
            )
            .await;
        }
        for t in ["2026-02-11T12:00:00Z", "2026-02-11T13:00:00Z"] {
            past(
                &store,
                c,
                call("abandoned_no_agent", h, t, Some(4), None, Some(10)),
            )
            .await;
        }
        past(
            &store,
            c,
            call(
                "voicemail_dropped",
                h,
                "2026-02-11T14:00:00Z",
                Some(3),
                Some(4),
                Some(40),
            ),
        )
        .await;
        // Placed late on the 11th, answered on the 12th: it counts on the day of the answer.
        past(
            &store,
            c,
            call(
                "abandoned_no_agent",
                h,
                "2026-02-11T23:59:58Z",
                Some(7),
                None,
                Some(20),
            ),
        )
        .await;
        // Not live answers: a machine, no answer, ended while classifying, still talking.
        past(
            &store,
            c,
            call(
                "machine",
                Some("machine"),
                "2026-02-11T15:00:00Z",
                Some(9),
                None,
                Some(30),
            ),
        )
        .await;
        past(
            &store,
            c,
            call(
                "no_answer",
                None,
                "2026-02-11T16:00:00Z",
                None,
                None,
                Some(30),
            ),
        )
        .await;
        past(
            &store,
            c,
            call(
                "abandoned_no_agent",
                None,
                "2026-02-11T17:00:00Z",
                Some(2),
                None,
                Some(3),
            ),
        )
        .await;
        past(
            &store,
            c,
            call(
                "in_progress",
                h,
                "2026-02-11T18:00:00Z",
                Some(2),
                Some(3),
                None,
            ),
        )
        .await;
        // Another campaign's abandoned call.
        past(
            &store,
            c,
            Past {
                campaign: other,
                ..call(
                    "abandoned_no_agent",
                    h,
                    "2026-02-11T19:00:00Z",
                    Some(2),
                    None,
                    Some(5),
                )
            },
        )
        .await;

        let got = store.pacing_history(camp, 400).await.unwrap();
        let day = |d: &str| d.parse::<chrono::NaiveDate>().unwrap();
        let days: Vec<_> = got
            .days
            .iter()
            .map(|d| (d.day, d.live_answered, d.abandoned))
            .collect();
        assert_eq!(
            days,
            vec![
                (day("2026-02-10"), 1, 0),
                (day("2026-02-11"), 6, 2),
                (day("2026-02-12"), 1, 1),
            ]
        );
        // Every ended dial that reached the carrier but the one still classifying, oldest first.
        assert_eq!(got.recent.len(), 10, "{:?}", got.recent);
        let first = &got.recent[0];
        assert!(first.human);
        assert_eq!(first.ring_seconds, Some(8.0));
        assert_eq!(first.talk_seconds, Some(60.0));
        let machine = &got.recent[8];
        assert!(!machine.human && machine.ring_seconds.is_none() && machine.talk_seconds.is_none());
        // Only the newest `recent` are kept.
        let last = store.pacing_history(camp, 2).await.unwrap().recent;
        assert_eq!(last.len(), 2);
        assert!(!last[0].human && !last[1].human, "{last:?}"); // the machine, then no answer
                                                               // A campaign without calls has no history.
        let l2 = lists(&store, c, &["Empty"]).await;
        let empty = store
            .create_campaign(c, &input("Empty", l2), 10)
            .await
            .unwrap()
            .id;
        assert_eq!(
            store.pacing_history(empty, 400).await.unwrap(),
            Default::default()
        );
    }
);

conformance!(
    a_new_client_has_its_own_default_dispositions_and_they_can_be_replaced,
    |store: Store| async move {
        let a = new_client("A")
            .numbers(&["+14155550100"])
            .create(&store)
            .await;
        let b = new_client("B")
            .numbers(&["+14155550101"])
            .create(&store)
            .await;
        let set = store.client_dispositions(a).await.unwrap();
        let labels: Vec<_> = set.iter().map(|d| (d.label.as_str(), d.effect)).collect();
        assert_eq!(
            labels,
            vec![
                ("Completed", EffectKind::Final),
                ("Call back", EffectKind::Callback),
                ("No answer", EffectKind::Retry),
                ("Do not call", EffectKind::Dnc),
            ]
        );
        let list = lists(&store, a, &["Won"]).await[0];
        let replaced = store
            .replace_client_dispositions(
                a,
                &[NewDisposition {
                    label: " Sold ".into(),
                    effect: EffectKind::MoveToList,
                    target_list: Some(list),
                }],
            )
            .await
            .unwrap();
        assert_eq!(replaced.len(), 1);
        assert_eq!(replaced[0].label, "Sold");
        assert_eq!(replaced[0].target_list, Some(list));
        // The other client's set is its own and untouched.
        assert_eq!(store.client_dispositions(b).await.unwrap().len(), 4);
    }
);

conformance!(
    enrolment_follows_the_lists_in_one_pass_and_never_touches_a_contact_in_flight,
    |store: Store| async move {
        let c = new_client("Acme")
            .numbers(&["+14155550100"])
            .create(&store)
            .await;
        let l = lists(&store, c, &["Leads", "Elsewhere"]).await;
        let ann = contact(&store, c, l[0], "+14155550111").await;
        let bob = contact(&store, c, l[0], "+14155550112").await;
        let cyd = contact(&store, c, l[0], "+14155550113").await;
        contact(&store, c, l[1], "+14155550114").await;
        let camp = store
            .create_campaign(c, &input("Spring", vec![l[0]]), 10)
            .await
            .unwrap()
            .id;
        let (added, retired) = store.sync_enrolment(camp, c, &[l[0]], 20).await.unwrap();
        assert_eq!((added, retired.len()), (3, 0));
        let cc = store.campaign_contact(camp, ann).await.unwrap();
        assert_eq!(cc.attempts.status, ContactStatus::Active);
        // Again: nothing new, nothing retired.
        assert_eq!(
            store.sync_enrolment(camp, c, &[l[0]], 30).await.unwrap(),
            (0, vec![])
        );
        // Bob is being dialled; Bob and Cyd leave the list: Cyd is retired, Bob is left alone.
        let call = store
            .claim_contact(&claim(c, camp, bob, 40))
            .await
            .unwrap()
            .expect("claimed");
        store
            .move_contacts(
                c,
                &palera_store::contacts::ContactSelection::Ids(vec![bob, cyd]),
                Some(l[1]),
                &Actor::system("test"),
                50,
            )
            .await
            .unwrap();
        let (added, retired) = store.sync_enrolment(camp, c, &[l[0]], 60).await.unwrap();
        assert_eq!((added, retired), (0, vec![cyd]));
        let cyd_cc = store.campaign_contact(camp, cyd).await.unwrap();
        assert_eq!(cyd_cc.attempts.status, ContactStatus::Moved);
        let bob_cc = store.campaign_contact(camp, bob).await.unwrap();
        assert_eq!(bob_cc.attempts.status, ContactStatus::Active);
        assert_eq!(bob_cc.in_flight, Some(call.id));
        // Another client's contacts never join.
        let other = new_client("Other")
            .numbers(&["+14155550101"])
            .create(&store)
            .await;
        let theirs = lists(&store, other, &["Theirs"]).await;
        contact(&store, other, theirs[0], "+14155550115").await;
        assert_eq!(
            store
                .sync_enrolment(camp, c, &[l[0], theirs[0]], 70)
                .await
                .unwrap(),
            (0, vec![])
        );
    }
);
