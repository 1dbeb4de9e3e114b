//! Zuora's Describe API (`GET /v1/describe/{object}`): the bulk export reads the account's
//! description to find the custom fields it may select. Only fields in the `export` context
//! are allowed in a `zoqlexport` query (some are SOAP-only), and a field Zuora refuses aborts
//! the whole query.

use super::client::ZuoraClient;
use crate::model::CallContext;
use crate::ports::ZuoraError;
use roxmltree::Node;
use std::collections::BTreeSet;

/// The names of the custom fields (`Name__c`, or marked `<custom>true</custom>`) that have the
/// `export` context, sorted and without duplicates. Names that could not be written into a
/// ZOQL query as they are (`^[A-Za-z][A-Za-z0-9_]*$`) are skipped with a warning.
pub fn export_custom_fields(xml: &str) -> Result<Vec<String>, String> {
    let document = roxmltree::Document::parse(xml)
        .map_err(|e| format!("the Describe answer is not well-formed XML: {e}"))?;
    let root = document.root_element();
    // Anything else (a proxy's HTML page, say) would otherwise read as "no custom fields".
    if !root.has_tag_name("object") {
        return Err(format!(
            "the Describe answer is <{}>, not <object>",
            root.tag_name().name()
        ));
    }
    let mut names = BTreeSet::new();
    let fields = children(root, "fields").flat_map(|fields| children(fields, "field"));
    for field in fields {
        let name = text_of(field, "name").unwrap_or_default();
        let custom = name.ends_with("__c") || text_of(field, "custom") == Some("true");
        let exportable = children(field, "contexts")
            .flat_map(|contexts| children(contexts, "context"))
            .any(|context| context.text().map(str::trim) == Some("export"));
        if !custom || !exportable {
            continue;
        }
        if !is_zoql_name(name) {
            tracing::warn!(
                field = name,
                "skipping a custom field whose name cannot go into a ZOQL query"
            );
            continue;
        }
        names.insert(name.to_string());
    }
    Ok(names.into_iter().collect())
}

fn children<'a, 'input>(
    node: Node<'a, 'input>,
    tag: &'static str,
) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children().filter(move |child| child.has_tag_name(tag))
}

/// The trimmed text of the first `tag` child.
fn text_of<'a>(node: Node<'a, '_>, tag: &'static str) -> Option<&'a str> {
    children(node, tag).next()?.text().map(str::trim)
}

/// The names go into the query unquoted, so anything beyond a plain identifier is refused.
fn is_zoql_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl ZuoraClient {
    /// The account's custom fields a bulk export may select (its `custom_fields`).
    pub async fn account_export_fields(
        &self,
        ctx: &CallContext,
    ) -> Result<Vec<String>, ZuoraError> {
        let url = self.url("/v1/describe/Account");
        // The answer is XML, not JSON: `get_raw` makes the same request with retries and auth
        // and hands back the raw body.
        let bytes = self.get_raw(url, "Account description", ctx).await?;
        let bad = |detail: String| ZuoraError::BadResponse {
            detail,
            attempts: 1,
        };
        let xml = std::str::from_utf8(&bytes)
            .map_err(|e| bad(format!("the Describe answer is not UTF-8: {e}")))?;
        export_custom_fields(xml).map_err(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, custom: bool, contexts: &[&str]) -> String {
        let contexts: String = contexts
            .iter()
            .map(|context| format!("<context>{context}</context>"))
            .collect();
        format!(
            "<field><name>{name}</name><label>{name}</label><type>text</type>\
             <custom>{custom}</custom><contexts>{contexts}</contexts></field>"
        )
    }

    fn describe(fields: &[String]) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<object><name>Account</name>\
             <label>Account</label><fields>{}</fields><related-objects/></object>",
            fields.concat()
        )
    }

    #[test]
    fn only_exportable_custom_fields_with_plain_names_are_kept() {
        let xml = describe(&[
            field("AccountNumber", false, &["soap", "export"]),
            field("Region__c", true, &["soap", "export"]),
            field("LimioExternalId__c", true, &["soap", "export"]),
            // `__c` alone makes a field custom, whatever `<custom>` says.
            field("Tier__c", false, &["export"]),
            field("Legacy__c", true, &["soap"]),
            field("Bad-Name__c", true, &["soap", "export"]),
            field("Region__c", true, &["soap", "export"]),
            field("Netsuite__NS", true, &["soap", "export"]),
            field("Quote__QT", true, &["soap"]),
        ]);
        assert_eq!(
            export_custom_fields(&xml).unwrap(),
            ["LimioExternalId__c", "Netsuite__NS", "Region__c", "Tier__c"]
        );
    }

    #[test]
    fn an_object_without_custom_fields_has_none() {
        let xml = describe(&[field("Name", false, &["soap", "export"])]);
        assert_eq!(export_custom_fields(&xml).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn names_for_zoql_are_plain_identifiers() {
        for good in ["A", "Region__c", "x1_y__c"] {
            assert!(is_zoql_name(good), "{good}");
        }
        for bad in [
            "",
            "_x__c",
            "1x__c",
            "a b__c",
            "a,b__c",
            "Région__c",
            "a'--__c",
        ] {
            assert!(!is_zoql_name(bad), "{bad}");
        }
    }

    #[test]
    fn malformed_or_foreign_documents_are_errors() {
        let truncated = describe(&[field("Region__c", true, &["export"])]);
        let error = export_custom_fields(&truncated[..truncated.len() / 2]).unwrap_err();
        assert!(error.contains("not well-formed XML"), "{error}");
        let error = export_custom_fields("<html><body>Login</body></html>").unwrap_err();
        assert!(error.contains("<html>"), "{error}");
        assert!(export_custom_fields(r#"{"success": false}"#).is_err());
    }
}
