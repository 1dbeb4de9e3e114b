use super::*;
use crate::model::zoql_literal;

#[test]
fn lookups_read_back_any_escaped_literal() {
    for value in [
        "plain",
        "it's",
        r"back\slash",
        r"\'",
        "' or 1=1 --",
        "a = b",
    ] {
        let zoql = format!(
            "select Id, AccountNumber from Account where Login__c = {}",
            zoql_literal(value)
        );
        assert_eq!(
            parse_lookup(&zoql),
            Some(("Login__c".to_string(), value.to_string())),
            "{zoql}"
        );
    }
}

#[test]
fn unescaped_or_unclosed_literals_are_refused() {
    for literal in ["'a'b'", r"'abc\'", "abc", r"'a\b'"] {
        assert_eq!(unquote(literal), None, "{literal}");
    }
    let other = "select Id from Account where Login__c = 'x'";
    assert_eq!(parse_lookup(other), None);
}

fn snapshot(n: u32) -> AccountSnapshot {
    let json = serde_json::json!({
        "account": {
            "id": format!("id{n}"), "account_number": format!("A{n}"), "name": "x",
            "status": "Active", "currency": null, "crm_id": null, "bill_cycle_day": null,
            "payment_term": null, "default_payment_method_id": null,
            "custom_fields": {"Login__c": format!("user{}", n % 2)},
        },
        "bill_to": null, "sold_to": null, "payment_methods": [], "subscriptions": [],
    });
    serde_json::from_value(json).unwrap()
}

async fn read_all(z: &FakeZuora, list: ChangeList, query: ChangeQuery) -> Vec<String> {
    let ctx = CallContext::default();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = z
            .changes_page(list, &query, cursor.as_deref(), &ctx)
            .await
            .unwrap();
        seen.extend(
            page.records
                .into_iter()
                .map(|r| format!("{}@{}", r.id, r.account.unwrap_or_default())),
        );
        cursor = page.next;
        if cursor.is_none() {
            return seen;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn change_lists_page_in_update_order_and_ties_by_id() {
    let z = FakeZuora::new();
    z.set_page_size(2);
    for n in 1..=5 {
        z.put_account(snapshot(n));
        // Account 1 was updated last; 4 and 5 at the same time.
        let minute = match n {
            1 => 9,
            5 => 4,
            n => n,
        };
        z.set_updated(&format!("id{n}"), &format!("2026-01-01T00:0{minute}:00Z"));
    }
    let after = |at: &str| ChangeQuery::After { at: at.into() };
    let all = read_all(&z, ChangeList::Accounts, after("2000-01-01T00:00:00Z")).await;
    // Equal times in no promised order (the fake reverses their ids).
    assert_eq!(all, ["id2@A2", "id3@A3", "id5@A5", "id4@A4", "id1@A1"]);
    let later = read_all(&z, ChangeList::Accounts, after("2026-01-01T00:04:00Z")).await;
    assert_eq!(later, ["id1@A1"], "after, not at");
    let ties = ChangeQuery::Ties {
        at: "2026-01-01T00:04:00Z".into(),
        after_id: Some("id4".into()),
    };
    assert_eq!(read_all(&z, ChangeList::Accounts, ties).await, ["id5@A5"]);
    assert_eq!(z.calls_to(CHANGES_PAGE), 5);
}

#[tokio::test(start_paused = true)]
async fn a_child_edit_lists_the_child_not_the_account() {
    let z = FakeZuora::new();
    let mut with_card = snapshot(1);
    with_card.payment_methods = vec![
        serde_json::from_value(serde_json::json!({
            "id": "pm1", "method_type": "CreditCard", "is_default": true,
        }))
        .unwrap(),
    ];
    z.put_account(with_card);
    z.set_updated("id1", "2026-01-01T00:01:00Z");
    z.touch(ChangeList::PaymentMethods, "pm1", "2026-01-01T00:05:00Z");
    let since = ChangeQuery::After {
        at: "2026-01-01T00:02:00Z".into(),
    };
    assert!(
        read_all(&z, ChangeList::Accounts, since.clone())
            .await
            .is_empty()
    );
    assert_eq!(
        read_all(&z, ChangeList::PaymentMethods, since).await,
        ["pm1@id1"]
    );
}

#[tokio::test(start_paused = true)]
async fn lookups_unknown_keys_failures_and_delays() {
    let z = FakeZuora::new();
    z.put_account(snapshot(1));
    z.put_account(snapshot(3));
    let ctx = CallContext::default();
    let zoql = format!(
        "select Id, AccountNumber from Account where Login__c = {}",
        zoql_literal("user1")
    );
    assert_eq!(z.query(&zoql, &ctx).await.unwrap().len(), 2);
    let by_number = z
        .account_snapshot(&AccountKey::parse("A3").unwrap(), &ctx)
        .await;
    assert_eq!(by_number.unwrap().account.id, "id3");
    let unknown = z
        .account_snapshot(&AccountKey::parse("A2").unwrap(), &ctx)
        .await;
    assert!(matches!(unknown, Err(ZuoraError::NotFound { .. })));

    let down = ZuoraError::Timeout { attempts: 3 };
    z.fail_next(1, down.clone());
    z.set_delay(Duration::from_secs(2));
    let started = tokio::time::Instant::now();
    assert_eq!(z.catalog(&ctx).await, Err(down));
    assert_eq!(z.catalog(&ctx).await, Ok(vec![]));
    assert_eq!(started.elapsed(), Duration::from_secs(4));
    assert_eq!((z.calls(), z.calls_to(CATALOG)), (5, 2));
}
