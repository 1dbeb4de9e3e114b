//! `GET /v1/describe/{object}`: Zuora's Describe API, an XML list of an object's fields. The
//! bulk export reads it to find the account's custom fields it may select: only fields whose
//! `<contexts>` include `export` are allowed in a `zoqlexport` query.
//!
//! The objects are those the AQuA export knows (`export.rs`), with the standard fields it
//! accepts and the custom fields (`X__c`, `X__NS`, `X__QT`) present on any stored record, all in
//! the `soap` and `export` contexts, plus a few SOAP-only fields (`SOAP_ONLY`). Every field is
//! typed `text`: clients here only read names, `custom` and contexts.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::errors::ApiError;
use crate::export;
use crate::state::SimState;

/// Fields the SOAP API has but an export cannot select, so a client that puts every described
/// field in its query would be refused. Picked as plausible: SOAP names an account's contacts
/// `BillToId`/`SoldToId` (the export `BillToContactId`/`SoldToContactId`), and a charge's
/// `RolloverBalance` is not in the export's RatePlanCharge.
const SOAP_ONLY: [(&str, &str); 3] = [
    ("Account", "BillToId"),
    ("Account", "SoldToId"),
    ("RatePlanCharge", "RolloverBalance"),
];

/// `GET /v1/describe/{object}`.
pub async fn describe(
    State(state): State<Arc<SimState>>,
    Path(object): Path<String>,
) -> Result<Response, ApiError> {
    let described = export::describe(&object, &state.store())
        .ok_or_else(|| ApiError::not_found(&object, StatusCode::NOT_FOUND))?;
    let xml = render(&described);
    Ok(([(header::CONTENT_TYPE, "text/xml")], xml).into_response())
}

fn render(described: &export::Described) -> String {
    let name = described.name;
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<object>\n  <name>{name}</name>\n  <label>{}</label>\n  <fields>\n",
        label(name)
    );
    for field in described.standard {
        xml.push_str(&field_xml(field, false, true));
    }
    for (_, field) in SOAP_ONLY.iter().filter(|(object, _)| *object == name) {
        xml.push_str(&field_xml(field, false, false));
    }
    for field in &described.custom {
        xml.push_str(&field_xml(field, true, true));
    }
    xml.push_str("  </fields>\n  <related-objects/>\n</object>\n");
    xml
}

fn field_xml(name: &str, custom: bool, export: bool) -> String {
    // Zuora sets these itself: they can be read, never written.
    let system = name == "Id" || name.starts_with("Created") || name.starts_with("Updated");
    let writable = !system;
    let contexts = if export {
        "<context>soap</context><context>export</context>"
    } else {
        "<context>soap</context>"
    };
    format!(
        "    <field>\n      <name>{}</name>\n      <label>{}</label>\n      <type>text</type>\n      <selectable>true</selectable>\n      <createable>{writable}</createable>\n      <updateable>{writable}</updateable>\n      <filterable>true</filterable>\n      <custom>{custom}</custom>\n      <required>false</required>\n      <contexts>{contexts}</contexts>\n    </field>\n",
        escape(name),
        escape(&label(name)),
    )
}

/// `AccountNumber` → `Account Number`, `IPAddress` → `IP Address`; a custom field's suffix
/// is dropped (`LimioExternalId__c` → `Limio External Id`).
fn label(name: &str) -> String {
    let base = name.split("__").next().unwrap_or(name);
    let chars: Vec<char> = base.chars().collect();
    let mut out = String::new();
    for (index, &c) in chars.iter().enumerate() {
        let after_lower = index > 0 && !chars[index - 1].is_uppercase();
        let ends_acronym = index > 0
            && chars[index - 1].is_uppercase()
            && chars.get(index + 1).is_some_and(|next| next.is_lowercase());
        if c.is_uppercase() && (after_lower || ends_acronym) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// Custom field names come from the data, so they may hold any character.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_split_words_and_acronyms() {
        assert_eq!(label("AccountNumber"), "Account Number");
        assert_eq!(label("IPAddress"), "IP Address");
        assert_eq!(label("MRR"), "MRR");
        assert_eq!(label("LimioExternalId__c"), "Limio External Id");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
    }
}
