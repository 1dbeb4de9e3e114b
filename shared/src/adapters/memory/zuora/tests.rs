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

#[tokio::test(start_paused = true)]
async fn the_account_list_pages_in_update_order() {
    let z = FakeZuora::new();
    z.set_page_size(2);
    for n in 1..=5 {
        z.put_account(snapshot(n));
        // Account 1 was updated last.
        let minute = if n == 1 { 9 } else { n };
        z.set_updated(&format!("id{n}"), &format!("2026-01-01T00:0{minute}:00Z"));
    }
    let ctx = CallContext::default();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = z
            .accounts_page(None, cursor.as_deref(), &ctx)
            .await
            .unwrap();
        seen.extend(page.accounts.into_iter().map(|a| a.id));
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["id2", "id3", "id4", "id5", "id1"]);
    let after = z
        .accounts_page(Some("2026-01-01T00:04:30Z"), None, &ctx)
        .await
        .unwrap();
    let ids: Vec<&str> = after.accounts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["id5", "id1"]);
    assert_eq!(z.calls_to(ACCOUNTS_PAGE), 4);
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
