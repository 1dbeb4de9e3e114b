use super::*;
use crate::model::ClaimKind;
use serde_json::json;

fn apply(body: Value) -> Result<EntitySettings, InvalidSetting> {
    apply_with(&OutboundPolicy::default(), body)
}

fn apply_with(outbound: &OutboundPolicy, body: Value) -> Result<EntitySettings, InvalidSetting> {
    SettingsUpdate::parse(&body)?.apply(&EntitySettings::default(), outbound)
}

#[test]
fn thresholds_outside_the_list_are_refused_with_the_list() {
    let err = apply(json!({"version": 0, "max_events_before_sync": 7})).unwrap_err();
    assert_eq!(err.field, "max_events_before_sync");
    assert_eq!(err.allowed, json!(EVENT_THRESHOLDS));
    let ok = apply(json!({"version": 0, "max_events_before_sync": 500})).unwrap();
    assert_eq!(ok.max_events_before_sync, 500);
}

#[test]
fn names_unknown_fields_and_bad_enums() {
    let err = apply(json!({"version": 0, "colour": "red"})).unwrap_err();
    assert_eq!(err.field, "colour");
    let err = apply(json!({"version": 0, "sync_mode": "sometimes"})).unwrap_err();
    assert_eq!(err.allowed, json!(["none", "scheduled", "realtime"]));
    let err = apply(json!({"sync_mode": "none"})).unwrap_err();
    assert_eq!(err.field, "version");
}

#[test]
fn claim_configs_are_checked_field_by_field() {
    let lookup_without_field = json!({"version": 1, "claims": [{"claim": "email", "service": "zuora", "issuer": "zuora", "type": "lookup"}]});
    assert_eq!(
        apply(lookup_without_field).unwrap_err().field,
        "claims[0].account_field"
    );
    let injected = json!({"version": 1, "claims": [{"claim": "email", "service": "zuora", "issuer": "zuora", "type": "lookup", "account_field": "X__c = '1' or Id"}]});
    assert_eq!(
        apply(injected).unwrap_err().field,
        "claims[0].account_field"
    );
    let ok = apply(json!({"version": 1, "claims": [
        {"claim": "custom:zuora_account", "service": "zuora", "issuer": "zuora", "type": "account"},
        {"claim": "email", "service": "zuora", "issuer": "zuora", "type": "lookup", "account_field": "LimioExternalId__c"}
    ]}))
    .unwrap();
    assert_eq!(ok.claims.len(), 2);
    assert_eq!(ok.claims[1].kind, ClaimKind::Lookup);
}

#[test]
fn login_hooks_need_tls_and_distinct_issuers() {
    let hook = |url: &str| json!({"issuer": "https://idp", "jwks_url": url, "audience": "app"});
    assert!(apply(json!({"version": 0, "login_hooks": [hook("https://idp/jwks")]})).is_ok());
    let local = OutboundPolicy {
        allow_loopback: true,
        email_domain: None,
    };
    let loopback = json!({"version": 0, "login_hooks": [hook("http://127.0.0.1:9/jwks")]});
    assert!(apply_with(&local, loopback.clone()).is_ok());
    assert!(
        apply(loopback).is_err(),
        "loopback only in local development"
    );
    let err = apply(json!({"version": 0, "login_hooks": [hook("http://idp/jwks")]})).unwrap_err();
    assert_eq!(err.field, "login_hooks[0].jwks_url");
    let twice = json!({"version": 0, "login_hooks": [hook("https://a/j"), hook("https://b/j")]});
    assert_eq!(apply(twice).unwrap_err().field, "login_hooks[1].issuer");
    let old: EntitySettings = serde_json::from_str(r#"{"sync_mode": "realtime"}"#).unwrap();
    assert_eq!(
        old.max_events_before_sync, 10,
        "missing fields take defaults"
    );
}

#[test]
fn notification_levels_decide_as_designed() {
    use crate::model::NotificationLevel::*;
    let table = [
        // (level, failed, written, notify)
        (None, 1, 5, false),
        (ErrorsOnly, 0, 5, false),
        (ErrorsOnly, 1, 0, true),
        (AllExcludingZero, 0, 0, false),
        (AllExcludingZero, 0, 1, true),
        (AllExcludingZero, 1, 0, true),
        (AllIncludingZero, 0, 0, true),
    ];
    for (level, failed, written, expected) in table {
        assert_eq!(
            level.should_notify(failed, written),
            expected,
            "{level:?} {failed} {written}"
        );
    }
}

/// H10: an entity admin cannot point the product's outbound calls inward, nor send email from
/// another identity of the AWS account.
#[test]
fn webhooks_and_jwks_cannot_point_inward_and_senders_stay_in_the_domain() {
    for url in [
        "https://169.254.169.254/latest/meta-data/iam/",
        "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",
        "https://[::ffff:a9fe:a9fe]/",
        "https://10.0.0.5/hook",
    ] {
        let webhook =
            json!({"version": 0, "notification_channel": {"type": "webhook", "url": url}});
        let err = apply(webhook).unwrap_err();
        assert_eq!(err.field, "notification_channel.url", "{url}");
        let hook = json!({"version": 0, "login_hooks": [{"issuer": "https://idp", "jwks_url": url, "audience": "app"}]});
        assert_eq!(
            apply(hook).unwrap_err().field,
            "login_hooks[0].jwks_url",
            "{url}"
        );
    }
    let domain = OutboundPolicy {
        allow_loopback: false,
        email_domain: Some("billing.example.com".into()),
    };
    let email = |from: &str| json!({"version": 0, "notification_channel": {"type": "email", "from": from, "to": ["ops@example.com"]}});
    assert!(apply_with(&domain, email("sync@billing.example.com")).is_ok());
    let err = apply_with(&domain, email("ceo@example.com")).unwrap_err();
    assert_eq!(err.field, "notification_channel.from");
    assert!(
        err.message.contains("billing.example.com"),
        "{}",
        err.message
    );
}

#[test]
fn salesforce_settings_are_checked_field_by_field_and_children_need_parents() {
    let ok =
        apply(json!({"version": 1, "salesforce": {"enabled": true, "subscription_key": "number"}}))
            .unwrap();
    assert!(ok.salesforce.enabled);
    assert_eq!(
        ok.salesforce.subscription_key,
        crate::model::SubscriptionKeying::Number
    );
    assert_eq!(
        ok.salesforce.objects.len(),
        5,
        "the others keep their values"
    );
    let err = apply(json!({"version": 1, "salesforce": {"max_api_share_percent": 0}})).unwrap_err();
    assert_eq!(err.field, "salesforce.max_api_share_percent");
    assert_eq!(err.allowed, json!({"min": 1, "max": 100}));
    let err = apply(json!({"version": 1, "salesforce": {"objects": ["Account"]}})).unwrap_err();
    assert_eq!(err.field, "salesforce.objects[0]");
    let err = apply(json!({"version": 1, "salesforce": {"objects": ["Zuora__Subscription__c"]}}))
        .unwrap_err();
    assert_eq!(err.field, "salesforce.objects");
    assert!(
        err.message.contains("Zuora__CustomerAccount__c"),
        "{}",
        err.message
    );
    let err = apply(json!({"version": 1, "salesforce": {"colour": 1}})).unwrap_err();
    assert_eq!(err.field, "salesforce.colour");
}
