//! Comparison semantics shared by object-query filters and ZOQL `where` clauses, and the list of
//! account fields both accept.

use std::cmp::Ordering;

use serde_json::Value;

use crate::time::parse_instant;

/// Standard Account fields (object-query spelling); custom fields are added from the data.
pub const ACCOUNT_FIELDS: &[&str] = &[
    "id",
    "accountNumber",
    "name",
    "status",
    "crmId",
    "currency",
    "batch",
    "billCycleDay",
    "paymentTerm",
    "paymentGateway",
    "autoPay",
    "balance",
    "creditBalance",
    "totalInvoiceBalance",
    "unappliedBalance",
    "mrr",
    "createdDate",
    "createdById",
    "updatedDate",
    "updatedById",
    "billToId",
    "soldToId",
    "shipToId",
    "defaultPaymentMethodId",
    "notes",
    "parentId",
    "salesRepName",
    "purchaseOrderNumber",
    "invoiceDeliveryPrefsEmail",
    "invoiceDeliveryPrefsPrint",
    "additionalEmailAddresses",
    "lastInvoiceDate",
    "communicationProfileId",
    "invoiceTemplateId",
    "taxExemptStatus",
    "allowInvoiceEdit",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    StartsWith,
}

impl Op {
    fn accepts(self, ordering: Ordering) -> bool {
        match self {
            Op::Eq | Op::StartsWith => ordering == Ordering::Equal,
            Op::Ne => ordering != Ordering::Equal,
            Op::Lt => ordering == Ordering::Less,
            Op::Gt => ordering == Ordering::Greater,
            Op::Le => ordering != Ordering::Greater,
            Op::Ge => ordering != Ordering::Less,
        }
    }
}

/// A value to compare a field with. Object-query filter values arrive as text and are coerced
/// to the field's type; ZOQL literals are typed by their syntax.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
}

/// Evaluates `field <op> literal`. A missing field is null; null only equals the `null` literal.
/// Strings compare case-insensitively (inferred from Zuora's case-insensitive filters), and two
/// timestamps compare as instants, whatever their offsets.
pub fn matches(field: Option<&Value>, op: Op, literal: &Literal) -> bool {
    let field = field.filter(|value| !value.is_null());
    match (field, literal) {
        (None, Literal::Null) => op == Op::Eq,
        (Some(_), Literal::Null) => op == Op::Ne,
        (None, _) => false,
        (Some(Value::String(text)), Literal::Text(prefix)) if op == Op::StartsWith => {
            text.to_lowercase().starts_with(&prefix.to_lowercase())
        }
        (Some(value), literal) => match ordering(value, literal) {
            Some(ordering) => op.accepts(ordering),
            None => op == Op::Ne,
        },
    }
}

fn ordering(value: &Value, literal: &Literal) -> Option<Ordering> {
    match (value, literal) {
        (Value::Number(number), _) => number.as_f64()?.partial_cmp(&literal_number(literal)?),
        (Value::Bool(flag), _) => Some(flag.cmp(&literal_bool(literal)?)),
        (Value::String(text), Literal::Text(other)) => Some(compare_text(text, other)),
        (Value::String(text), Literal::Number(number)) => {
            text.parse::<f64>().ok()?.partial_cmp(number)
        }
        _ => None,
    }
}

/// Orders two field values for `sort[]`, missing and null values first.
pub fn compare_values(left: Option<&Value>, right: Option<&Value>) -> Ordering {
    let left = left.filter(|value| !value.is_null());
    let right = right.filter(|value| !value.is_null());
    match (left, right) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(left), Some(right)) => ordering(left, &to_literal(right)).unwrap_or(Ordering::Equal),
    }
}

fn to_literal(value: &Value) -> Literal {
    match value {
        Value::Bool(flag) => Literal::Bool(*flag),
        Value::Number(number) => number.as_f64().map_or(Literal::Null, Literal::Number),
        Value::String(text) => Literal::Text(text.clone()),
        _ => Literal::Null,
    }
}

fn literal_number(literal: &Literal) -> Option<f64> {
    match literal {
        Literal::Number(number) => Some(*number),
        Literal::Text(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn literal_bool(literal: &Literal) -> Option<bool> {
    match literal {
        Literal::Bool(flag) => Some(*flag),
        Literal::Text(text) => text.to_ascii_lowercase().parse().ok(),
        _ => None,
    }
}

fn compare_text(left: &str, right: &str) -> Ordering {
    match (parse_instant(left), parse_instant(right)) {
        (Some(left), Some(right)) => left.cmp(&right),
        _ => left.to_lowercase().cmp(&right.to_lowercase()),
    }
}

/// Resolves a case-insensitive field name to its canonical spelling: a standard account field
/// or one of the field names present in the data (see `render::oq_account_field_names`).
pub fn resolve_field<'a>(
    requested: &str,
    present: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    ACCOUNT_FIELDS
        .iter()
        .copied()
        .chain(present)
        .find(|field| field.eq_ignore_ascii_case(requested))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(value: &str) -> Literal {
        Literal::Text(value.to_string())
    }

    #[test]
    fn nulls() {
        assert!(matches(None, Op::Eq, &Literal::Null));
        assert!(!matches(None, Op::Eq, &text("x")));
        assert!(matches(Some(&json!("x")), Op::Ne, &Literal::Null));
        assert!(!matches(Some(&json!("x")), Op::Eq, &Literal::Null));
    }

    #[test]
    fn typed_comparisons() {
        assert!(matches(Some(&json!(5)), Op::Gt, &text("4.5")));
        assert!(matches(Some(&json!(true)), Op::Eq, &text("TRUE")));
        assert!(matches(Some(&json!("Active")), Op::Eq, &text("active")));
        assert!(matches(Some(&json!("Acme")), Op::StartsWith, &text("ac")));
        assert!(matches(
            Some(&json!("2025-03-21T03:24:15-07:00")),
            Op::Gt,
            &text("2025-03-21T10:00:00Z")
        ));
        assert!(!matches(Some(&json!(5)), Op::Eq, &text("five")));
        assert!(matches(Some(&json!(5)), Op::Ne, &text("five")));
    }

    #[test]
    fn field_resolution() {
        let accounts = ["LimioExternalId__c"];
        assert_eq!(
            resolve_field("ACCOUNTNUMBER", accounts).as_deref(),
            Some("accountNumber")
        );
        assert_eq!(
            resolve_field("limioexternalid__c", accounts).as_deref(),
            Some("LimioExternalId__c")
        );
        assert_eq!(resolve_field("nope", accounts), None);
    }
}
