//! What supervisors browse: customer names on conversations, search, status filters and
//! counts, and the customer list, all read back from projections ingest wrote.

use billie_dashboard::api::{ConversationFilter, FeedFrame, Status, StatusCounts};
use billie_dashboard::server::feed::Publisher;
use billie_dashboard::server::ingest;
use billie_dashboard::server::projection::Limits;
use futures::StreamExt;

use crate::helpers::{TestEnv, entry, user_input};

fn started(conv: &str, app: &str, customer: &str) -> Vec<(String, String)> {
    entry(&[
        ("conv", conv),
        ("typ", "conversation_started"),
        ("agt", "broker"),
        ("usr", customer),
        ("seq", "1"),
        (
            "payload",
            &format!(r#"{{"application_number":"{app}","customer_id":"{customer}"}}"#),
        ),
    ])
}

fn details(conv: &str, seq: &str, at: &str, customer: &str) -> Vec<(String, String)> {
    entry(&[
        ("conv", conv),
        ("typ", "applicationDetail_changed"),
        ("agt", "broker"),
        ("seq", seq),
        (
            "payload",
            &format!(
                r#"{{"applicationNumber":"APP-{conv}","loanAmount":750,"loanPurpose":"Bills","timestamp":"{at}","customer":{customer}}}"#
            ),
        ),
    ])
}

fn filter(search: Option<&str>, status: Option<&str>) -> ConversationFilter {
    ConversationFilter::parse(search.map(Into::into), status.map(Into::into)).unwrap()
}

#[tokio::test]
async fn the_customer_name_reaches_every_conversation_newest_first() {
    let env = TestEnv::new().await;
    env.append(&[
        started("a", "APP-A", "C1"),
        // The newer name arrives first; the older one must not replace it.
        details(
            "a",
            "5",
            "2026-11-03T10:00:00Z",
            r#"{"customer_id":"C1","first_name":"Saanvi","last_name":"Rao"}"#,
        ),
        details(
            "a",
            "3",
            "2026-11-03T09:00:00Z",
            r#"{"customer_id":"C1","first_name":"Sanvi","last_name":"Rao"}"#,
        ),
        // A later conversation of the same customer knows the name from the start.
        started("b", "APP-B", "C1"),
    ])
    .await;
    let mut consumer = env.consumer("c1").await;
    env.drain(&mut consumer).await;

    for conv in ["a", "b"] {
        let got = env.store.get_conversation(conv).await.unwrap().unwrap();
        assert_eq!(
            got.summary.customer_name.as_deref(),
            Some("Saanvi Rao"),
            "{conv}"
        );
    }
    let a = env.store.get_conversation("a").await.unwrap().unwrap();
    assert_eq!(a.summary.loan_amount, Some(750.0));
    assert_eq!(a.summary.loan_purpose.as_deref(), Some("Bills"));

    // A newer name (from another conversation) is carried to both.
    env.append(&[details(
        "b",
        "9",
        "2026-11-04T10:00:00Z",
        r#"{"customer_id":"C1","last_name":"Rao-Singh"}"#,
    )])
    .await;
    env.drain(&mut consumer).await;
    for conv in ["a", "b"] {
        let got = env.store.get_conversation(conv).await.unwrap().unwrap();
        assert_eq!(
            got.summary.customer_name.as_deref(),
            Some("Saanvi Rao-Singh"),
            "{conv}"
        );
    }

    // Replaying everything changes no name and no version.
    let before = env
        .store
        .get_conversation("a")
        .await
        .unwrap()
        .unwrap()
        .summary
        .version;
    let mut redis = redis::aio::ConnectionManager::new(env.redis.clone())
        .await
        .unwrap();
    let publisher = Publisher::new(redis.clone(), env.channel.clone());
    ingest::replay(
        &mut redis,
        &env.store,
        &publisher,
        &env.stream,
        &Limits::default(),
        50,
    )
    .await
    .unwrap();
    let after = env
        .store
        .get_conversation("a")
        .await
        .unwrap()
        .unwrap()
        .summary;
    assert_eq!(
        after.version, before,
        "a second application changes nothing"
    );
    assert_eq!(after.customer_name.as_deref(), Some("Saanvi Rao-Singh"));

    // Both conversations are found by the new name, and still by the number.
    let found = |search: &str| {
        let store = env.store.clone();
        let filter = filter(Some(search), None);
        async move {
            let page = store.list_conversations(&filter, None, 50).await.unwrap();
            let mut ids: Vec<String> = page.items.into_iter().map(|c| c.id).collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(found("singh saanvi").await, ["a", "b"]);
    assert_eq!(found("app-b").await, ["b"]);
}

#[tokio::test]
async fn a_new_name_is_announced_on_every_conversation_it_reaches() {
    let env = TestEnv::new().await;
    env.append(&[
        started("a", "APP-A", "C7"),
        details(
            "a",
            "2",
            "2026-11-03T09:00:00Z",
            r#"{"customer_id":"C7","first_name":"Mia","last_name":"Wong"}"#,
        ),
        started("b", "APP-B", "C7"),
        // A customer of whom nothing but the id is known: linked, never named.
        started("c", "APP-C", "C8"),
    ])
    .await;
    let mut consumer = env.consumer("c1").await;
    env.drain(&mut consumer).await;
    let customer = env.store.get_customer("C7").await.unwrap().unwrap();
    assert_eq!(customer.conversations, ["a", "b"]);
    assert_eq!(customer.applications, ["APP-a"]);
    let unnamed = env.store.get_customer("C8").await.unwrap().unwrap();
    assert_eq!(
        (unnamed.full_name, unnamed.conversations),
        (None, vec!["c".to_owned()])
    );

    let mut pubsub = env.redis.get_async_pubsub().await.unwrap();
    pubsub.subscribe(&env.channel).await.unwrap();
    // A newer surname, told in conversation b, reaches a too, which no event of the
    // batch touched: both are in the batch's frame, with the name they now show.
    env.append(&[details(
        "b",
        "3",
        "2026-11-04T09:00:00Z",
        r#"{"customer_id":"C7","last_name":"Wong-Tan"}"#,
    )])
    .await;
    env.drain(&mut consumer).await;
    let text: String = pubsub
        .on_message()
        .next()
        .await
        .unwrap()
        .get_payload()
        .unwrap();
    let FeedFrame::Changes { changes } = serde_json::from_str::<FeedFrame>(&text).unwrap() else {
        panic!("unexpected frame {text}");
    };
    let mut shown: Vec<(String, Option<String>)> = changes
        .into_iter()
        .map(|c| (c.conversation.id, c.conversation.customer_name))
        .collect();
    shown.sort();
    let name = Some("Mia Wong-Tan".to_owned());
    assert_eq!(
        shown,
        [("a".to_owned(), name.clone()), ("b".to_owned(), name)]
    );
}

#[tokio::test]
async fn a_name_reaches_a_conversation_whose_batch_holds_an_event_seen_before() {
    let env = TestEnv::new().await;
    env.append(&[
        started("a", "APP-A", "C7"),
        started("b", "APP-B", "C7"),
        details(
            "a",
            "2",
            "2026-11-03T09:00:00Z",
            r#"{"customer_id":"C7","first_name":"Mia","last_name":"Wong"}"#,
        ),
        user_input("a", "3", "2026-11-03T09:01:00Z"),
    ])
    .await;
    let mut consumer = env.consumer("c1").await;
    env.drain(&mut consumer).await;
    // One batch: a message of `a` delivered again beside a new one, and a new surname
    // told in `b`. The write of `a`'s events (with the name riding along) is refused
    // for the old message; each part is then written on its own.
    env.append(&[
        user_input("a", "3", "2026-11-03T09:01:00Z"),
        user_input("a", "4", "2026-11-03T09:02:00Z"),
        details(
            "b",
            "2",
            "2026-11-04T09:00:00Z",
            r#"{"customer_id":"C7","last_name":"Wong-Tan"}"#,
        ),
    ])
    .await;
    env.drain(&mut consumer).await;
    let a = env
        .store
        .get_conversation("a")
        .await
        .unwrap()
        .unwrap()
        .summary;
    assert_eq!(a.customer_name.as_deref(), Some("Mia Wong-Tan"));
    assert_eq!(a.message_count, 2);
    // Four events and two names, each counted once.
    assert_eq!(a.version, 6);
}

#[tokio::test]
async fn a_new_conversation_claimed_by_two_customers_shows_the_newer_name() {
    let env = TestEnv::new().await;
    // One batch creates `x` and names two customers for it; both names are copied to
    // it, and the newer one is what it shows.
    env.append(&[
        details(
            "x",
            "2",
            "2026-11-03T09:00:00Z",
            r#"{"customer_id":"K1","first_name":"Ann","last_name":"Lee"}"#,
        ),
        details(
            "x",
            "3",
            "2026-11-03T10:00:00Z",
            r#"{"customer_id":"K2","first_name":"Bo","last_name":"Kim"}"#,
        ),
    ])
    .await;
    let mut consumer = env.consumer("c1").await;
    env.drain(&mut consumer).await;
    let x = env.store.get_conversation("x").await.unwrap().unwrap();
    assert_eq!(x.summary.customer_name.as_deref(), Some("Bo Kim"));
}

#[tokio::test]
async fn conversations_stored_before_search_words_get_them() {
    let env = TestEnv::new().await;
    let conversations = env
        .db
        .collection::<mongodb::bson::Document>("conversations");
    let now = mongodb::bson::DateTime::now();
    conversations
        .insert_many([
            mongodb::bson::doc! {
                "_id": "old-1", "application_number": "APP-77-Q", "customer_name": "Ana Lima",
                "status": "active", "last_activity_at": now, "version": 1_i64,
            },
            mongodb::bson::doc! {
                "_id": "old-2", "application": { "application_number": "APP-88-R" },
                "status": "active", "last_activity_at": now, "version": 1_i64,
            },
        ])
        .await
        .unwrap();
    let ids = |search: &str| {
        let store = env.store.clone();
        let filter = filter(Some(search), None);
        async move {
            let page = store.list_conversations(&filter, None, 50).await.unwrap();
            page.items.into_iter().map(|c| c.id).collect::<Vec<_>>()
        }
    };
    assert!(ids("lima").await.is_empty(), "not searchable yet");

    assert_eq!(env.store.add_missing_search_words().await.unwrap(), 2);
    assert_eq!(ids("lima ana").await, ["old-1"]);
    assert_eq!(ids("88-r").await, ["old-2"]);
    assert_eq!(
        env.store.add_missing_search_words().await.unwrap(),
        0,
        "a second run finds nothing to do"
    );
}

#[tokio::test]
async fn a_summary_stored_by_an_older_version_moves_to_its_part() {
    let env = TestEnv::new().await;
    let conversations = env
        .db
        .collection::<mongodb::bson::Document>("conversations");
    let now = mongodb::bson::DateTime::now();
    conversations
        .insert_one(mongodb::bson::doc! {
            "_id": "old-1", "status": "active", "last_activity_at": now, "version": 1_i64,
            "summary": { "purpose": "a car", "facts": ["owns a dog"], "order": 3_i64, "at": now },
        })
        .await
        .unwrap();
    let summary = || async {
        let detail = env.store.get_conversation("old-1").await.unwrap().unwrap();
        detail.part::<billie_dashboard::contract::Summary>("summary")
    };
    assert_eq!(summary().await, None, "not where parts live yet");
    for (from, to) in billie_dashboard::server::projection::registers::MOVED {
        assert_eq!(env.store.move_field(from, to).await.unwrap(), 1);
        assert_eq!(env.store.move_field(from, to).await.unwrap(), 0, "once");
    }
    let moved = summary().await.expect("the summary reads as a part");
    assert_eq!(moved.purpose.as_deref(), Some("a car"));
    assert_eq!(moved.facts, ["owns a dog"]);
}

#[tokio::test]
async fn search_status_filter_and_counts_agree() {
    let env = TestEnv::new().await;
    env.append(&[
        started("c1", "APP-1001-X", "K1"),
        details(
            "c1",
            "2",
            "2026-11-03T09:00:00Z",
            r#"{"customer_id":"K1","first_name":"Zoë","last_name":"O'Brien"}"#,
        ),
        started("c2", "APP-2002-Y", "K2"),
        details(
            "c2",
            "2",
            "2026-11-03T09:01:00Z",
            r#"{"customer_id":"K2","first_name":"Omar","last_name":"Haddad"}"#,
        ),
        started("c3", "APP-3003-Z", "K3"),
        user_input("c1", "3", "2026-11-03T09:02:00Z"),
    ])
    .await;
    let mut consumer = env.consumer("c1").await;
    env.drain(&mut consumer).await;
    // c2 is decided; the others stay as they are.
    env.append(&[entry(&[
        ("conv", "c2"),
        ("typ", "final_decision"),
        ("agt", "broker"),
        ("seq", "9"),
        (
            "payload",
            r#"{"decision":"DECLINED","timestamp":"2026-11-03T09:03:00Z"}"#,
        ),
    ])])
    .await;
    env.drain(&mut consumer).await;

    let ids = |page: billie_dashboard::api::ConversationPage| {
        page.items.into_iter().map(|c| c.id).collect::<Vec<_>>()
    };
    let list = |f: ConversationFilter| {
        let store = env.store.clone();
        async move { ids(store.list_conversations(&f, None, 50).await.unwrap()) }
    };
    assert_eq!(
        list(filter(Some("zoË"), None)).await,
        ["c1"],
        "name, any case"
    );
    assert_eq!(list(filter(Some("o'brien"), None)).await, ["c1"]);
    assert_eq!(
        list(filter(Some("2002-y"), None)).await,
        ["c2"],
        "application number"
    );
    assert_eq!(list(filter(Some("app-"), Some("declined"))).await, ["c2"]);
    assert_eq!(
        list(filter(Some("BRIEN (o')"), None)).await,
        ["c1"],
        "words in any order, punctuation aside"
    );
    assert!(
        list(filter(Some("o'bri"), None)).await.is_empty(),
        "whole words only"
    );
    assert!(
        list(filter(Some("zoë haddad"), None)).await.is_empty(),
        "every word"
    );
    assert!(
        ConversationFilter::parse(Some(".*".into()), None)
            .unwrap()
            .search
            .is_none(),
        "a search without a word is no search"
    );
    assert_eq!(list(filter(None, Some("declined"))).await, ["c2"]);

    let counts = env
        .store
        .count_conversations(&filter(None, None))
        .await
        .unwrap();
    assert_eq!(counts.total, 3);
    assert_eq!(counts.of(Status::Declined), 1);
    assert_eq!(counts.of(Status::Active), 2);
    let searched: StatusCounts = env
        .store
        .count_conversations(&filter(Some("haddad"), Some("active")))
        .await
        .unwrap();
    assert_eq!(
        (searched.total, searched.of(Status::Declined)),
        (1, 1),
        "counts ignore the tab"
    );

    assert!(ConversationFilter::parse(None, Some("bogus".into())).is_err());
    assert!(ConversationFilter::parse(Some("x".repeat(101)), None).is_err());
}

#[tokio::test]
async fn customers_are_listed_by_name_and_found_by_name_email_or_id() {
    let env = TestEnv::new().await;
    let mut entries = Vec::new();
    for i in 0..7 {
        let conv = format!("v{i}");
        let customer = format!(
            r#"{{"customer_id":"CU{i}","first_name":"Name{i}","last_name":"Tester","email_address":"person{i}@mail.example"}}"#
        );
        entries.push(details(&conv, "2", "2026-11-03T09:00:00Z", &customer));
    }
    // A customer known only by id, from a conversation start.
    entries.push(started("v9", "APP-9", "CU-NONAME"));
    env.append(&entries).await;
    let mut consumer = env.consumer("c1").await;
    env.drain(&mut consumer).await;

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = env
            .store
            .list_customers(None, after.as_deref(), 3)
            .await
            .unwrap();
        seen.extend(
            page.items
                .iter()
                .map(|c| c.name.clone().unwrap_or_default()),
        );
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut want: Vec<String> = (0..7).map(|i| format!("Name{i} Tester")).collect();
    want.push(String::new());
    assert_eq!(seen, want, "by name, unnamed last, each once");

    let find = |q: &'static str| {
        let store = env.store.clone();
        async move {
            store
                .list_customers(Some(q), None, 50)
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|c| c.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(find("name3 TESTER").await, ["CU3"]);
    assert_eq!(find("PERSON5@").await, ["CU5"]);
    assert_eq!(find("cu-non").await, ["CU-NONAME"]);
    assert!(
        find("0000").await.is_empty(),
        "the stored order prefix is not searchable"
    );
    assert!(
        find("ester").await.is_empty(),
        "words are found by their beginning"
    );
    assert_eq!(find("nam te").await.len(), 7, "each word a prefix");

    let profile = env.store.customer_profile("CU2").await.unwrap().unwrap();
    assert_eq!(
        profile.customer.email_address.as_deref(),
        Some("person2@mail.example")
    );
    assert_eq!(
        profile
            .conversations
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>(),
        ["v2"]
    );
    assert!(
        env.store
            .customer_profile("nobody")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn customers_are_found_as_you_type_by_every_name_and_email_they_have_had() {
    let env = TestEnv::new().await;
    let at = "2026-11-03T09:00:00Z";
    let jane = r#"{"customer_id":"CJ","first_name":"Jane","last_name":"Smith"}"#;
    let chloe = r#"{"customer_id":"CC","first_name":"Chloé","last_name":"Martin"}"#;
    let aroha = r#"{"customer_id":"CT","first_name":"Aroha","last_name":"Tūhoe"}"#;
    // Jane marries: the list shows her new name, and both find her.
    let married = r#"{"customer_id":"CJ","last_name":"Jones","email_address":"jane@new.example"}"#;
    let long = r#"{"customer_id":"CL","last_name":"Wolfeschlegelsteinhausenbergerdorff"}"#;
    env.append(&[
        details("w4", "2", at, long),
        details("w1", "2", at, jane),
        details("w2", "2", at, chloe),
        details("w3", "2", at, aroha),
        details("w1", "3", "2026-11-03T10:00:00Z", married),
    ])
    .await;
    let mut consumer = env.consumer("c1").await;
    env.drain(&mut consumer).await;
    let find = |q: &'static str| {
        let store = env.store.clone();
        async move {
            let page = store.list_customers(Some(q), None, 50).await.unwrap();
            page.items.into_iter().map(|c| c.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(find("smi").await, ["CJ"]);
    assert_eq!(find("jane sm").await, ["CJ"]);
    assert_eq!(find("JANE JON").await, ["CJ"]);
    assert_eq!(find("new.ex").await, ["CJ"]);
    assert_eq!(find("chloe").await, ["CC"]);
    assert_eq!(find("CHLOÉ M").await, ["CC"]);
    assert_eq!(find("tuhoe").await, ["CT"]);
    assert_eq!(find("tūh").await, ["CT"]);
    assert!(
        find("jane martin").await.is_empty(),
        "every word, of one customer"
    );
    assert_eq!(find("wolfeschlegelsteinhausenbergerd").await, ["CL"]);
    assert!(find("wolfeschlegelsteinhausenbergerx").await.is_empty());
    let jane = env
        .store
        .list_customers(Some("smith"), None, 50)
        .await
        .unwrap();
    assert_eq!(jane.items[0].name.as_deref(), Some("Jane Jones"));

    // A customer stored before customers had search words is given them at start-up.
    env.db
        .collection::<mongodb::bson::Document>("customers")
        .insert_one(mongodb::bson::doc! {
            "_id": "OLD-1", "name": "Renée Lima", "sort_name": "renée lima",
            "profile": { "first_name": "0001|Renée", "last_name": "0001|Lima" },
        })
        .await
        .unwrap();
    assert!(find("renee").await.is_empty(), "not searchable yet");
    assert_eq!(env.store.add_missing_customer_words().await.unwrap(), 1);
    assert_eq!(find("renee li").await, ["OLD-1"]);
    assert_eq!(find("old").await, ["OLD-1"]);
    assert_eq!(env.store.add_missing_customer_words().await.unwrap(), 0);
}
