//! Just enough SOQL for a sink to find record ids by External ID:
//! `SELECT Id[, Field…] FROM Obj [WHERE F = 'v' | F IN ('a','b') [AND …]] [LIMIT n]`.
//! Keywords, object and field names are case-insensitive; text comparisons are too (as in
//! SOQL). String literals take Salesforce's escapes (`\'`, `\\`, `\"`, `\n`, `\r`, `\t`, `\b`,
//! `\f`).

use serde_json::{Map, Value, json};

use crate::errors::ApiError;
use crate::ids;
use crate::store::{SfRecord, Store, key_of};

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Comma,
    Open,
    Close,
    Equals,
}

#[derive(Debug, PartialEq)]
pub struct Query {
    pub fields: Vec<String>,
    pub object: String,
    /// Conjunction of `field IN values` (`=` is a one-value IN).
    pub conditions: Vec<(String, Vec<String>)>,
    pub limit: Option<usize>,
}

fn tokenize(text: &str) -> Result<Vec<Token>, ApiError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&ch) = chars.peek() {
        match ch {
            c if c.is_whitespace() => {
                chars.next();
            }
            ',' | '(' | ')' | '=' => {
                chars.next();
                tokens.push(match ch {
                    ',' => Token::Comma,
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::Equals,
                });
            }
            '\'' => {
                chars.next();
                tokens.push(Token::Text(string_literal(&mut chars)?));
            }
            c if c.is_alphanumeric() || c == '_' || c == '.' => {
                let mut word = String::new();
                while let Some(&c) = chars
                    .peek()
                    .filter(|c| c.is_alphanumeric() || **c == '_' || **c == '.')
                {
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
            other => {
                return Err(ApiError::malformed_query(format!(
                    "unexpected token: '{other}'"
                )));
            }
        }
    }
    Ok(tokens)
}

/// The rest of a `'…'` literal, after the opening quote.
fn string_literal(chars: &mut std::iter::Peekable<std::str::Chars>) -> Result<String, ApiError> {
    let mut value = String::new();
    loop {
        match chars.next() {
            None => return Err(ApiError::malformed_query("unexpected token: <EOF>")),
            Some('\'') => return Ok(value),
            Some('\\') => {
                let escaped = chars.next().unwrap_or(' ');
                value.push(match escaped {
                    '\'' | '\\' | '"' => escaped,
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    other => {
                        return Err(ApiError::malformed_query(format!(
                            "Invalid string literal '{value}'. Illegal character sequence '\\{other}' in string literal."
                        )));
                    }
                });
            }
            Some(other) => value.push(other),
        }
    }
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<(), ApiError> {
        match self.next() {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword) => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    fn expect(&mut self, wanted: Token) -> Result<(), ApiError> {
        match self.next() {
            Some(token) if token == wanted => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    fn name(&mut self) -> Result<String, ApiError> {
        match self.next() {
            Some(Token::Word(word)) if !is_keyword(&word) => Ok(word),
            other => Err(unexpected(other)),
        }
    }

    fn text(&mut self) -> Result<String, ApiError> {
        match self.next() {
            Some(Token::Text(text)) => Ok(text),
            other => Err(unexpected(other)),
        }
    }
}

fn is_keyword(word: &str) -> bool {
    ["select", "from", "where", "and", "or", "in", "limit", "not"]
        .iter()
        .any(|keyword| word.eq_ignore_ascii_case(keyword))
}

fn unexpected(token: Option<Token>) -> ApiError {
    let shown = match token {
        None => "<EOF>".to_string(),
        Some(Token::Word(word)) => word,
        Some(Token::Text(text)) => format!("'{text}'"),
        Some(Token::Comma) => ",".into(),
        Some(Token::Open) => "(".into(),
        Some(Token::Close) => ")".into(),
        Some(Token::Equals) => "=".into(),
    };
    ApiError::malformed_query(format!("unexpected token: '{shown}'"))
}

pub fn parse(text: &str) -> Result<Query, ApiError> {
    let mut parser = Parser {
        tokens: tokenize(text)?,
        at: 0,
    };
    parser.expect_keyword("select")?;
    let mut fields = vec![parser.name()?];
    while parser.tokens.get(parser.at) == Some(&Token::Comma) {
        parser.at += 1;
        fields.push(parser.name()?);
    }
    parser.expect_keyword("from")?;
    let object = parser.name()?;
    let mut conditions = Vec::new();
    if parser.peek_keyword("where") {
        parser.at += 1;
        conditions.push(condition(&mut parser)?);
        while parser.peek_keyword("and") {
            parser.at += 1;
            conditions.push(condition(&mut parser)?);
        }
    }
    let mut limit = None;
    if parser.peek_keyword("limit") {
        parser.at += 1;
        limit = Some(match parser.next() {
            Some(Token::Word(n)) => n.parse().map_err(|_| unexpected(Some(Token::Word(n))))?,
            other => return Err(unexpected(other)),
        });
    }
    if parser.at < parser.tokens.len() {
        return Err(unexpected(parser.next()));
    }
    Ok(Query {
        fields,
        object,
        conditions,
        limit,
    })
}

fn condition(parser: &mut Parser) -> Result<(String, Vec<String>), ApiError> {
    let field = parser.name()?;
    match parser.next() {
        Some(Token::Equals) => Ok((field, vec![parser.text()?])),
        Some(Token::Word(word)) if word.eq_ignore_ascii_case("in") => {
            parser.expect(Token::Open)?;
            let mut values = vec![parser.text()?];
            while parser.tokens.get(parser.at) == Some(&Token::Comma) {
                parser.at += 1;
                values.push(parser.text()?);
            }
            parser.expect(Token::Close)?;
            Ok((field, values))
        }
        other => Err(unexpected(other)),
    }
}

/// Runs a query against the store; `version` is the `vN.N` of the request, used in the
/// records' `attributes.url`.
pub fn execute(store: &Store, query: &Query, version: &str) -> Result<Value, ApiError> {
    let spec = store.object_ignoring_case(&query.object).ok_or_else(|| {
        ApiError::bad_request(
            "INVALID_TYPE",
            format!(
                "sObject type '{}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.",
                query.object
            ),
        )
    })?;
    let fields = query
        .fields
        .iter()
        .chain(query.conditions.iter().map(|(f, _)| f));
    for field in fields {
        check_field(field, &spec.name)?;
    }
    let mut records: Vec<Value> = store
        .records(&spec.name)
        .iter()
        .filter(|record| query.conditions.iter().all(|cond| matches(record, cond)))
        .map(|record| render(record, &query.fields, version))
        .collect();
    if let Some(limit) = query.limit {
        records.truncate(limit);
    }
    Ok(json!({"totalSize": records.len(), "done": true, "records": records}))
}

/// Fields the simulated objects have: `Id`, `Name` and any custom field. Relationship paths
/// (`Parent__r.Field`) are not simulated.
fn check_field(field: &str, object: &str) -> Result<(), ApiError> {
    let known = !field.contains('.')
        && (field.eq_ignore_ascii_case("Id")
            || field.eq_ignore_ascii_case("Name")
            || field.to_ascii_lowercase().ends_with("__c"));
    if known {
        return Ok(());
    }
    Err(ApiError::bad_request(
        "INVALID_FIELD",
        format!(
            "No such column '{field}' on entity '{object}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
        ),
    ))
}

/// The stored field name and value for a case-insensitive field name.
fn field_of<'a>(record: &'a SfRecord, field: &str) -> Option<(&'a String, &'a Value)> {
    record
        .fields
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(field))
}

fn matches(record: &SfRecord, (field, values): &(String, Vec<String>)) -> bool {
    if field.eq_ignore_ascii_case("Id") {
        return values
            .iter()
            .any(|value| ids::normalize(value).as_deref() == Some(record.id.as_str()));
    }
    let Some(actual) = field_of(record, field).and_then(|(_, value)| key_of(value)) else {
        return false;
    };
    values
        .iter()
        .any(|value| value.to_lowercase() == actual.to_lowercase())
}

fn render(record: &SfRecord, fields: &[String], version: &str) -> Value {
    let mut out = Map::new();
    let url = format!(
        "/services/data/{version}/sobjects/{}/{}",
        record.object, record.id
    );
    out.insert(
        "attributes".into(),
        json!({"type": record.object, "url": url}),
    );
    for field in fields {
        if field.eq_ignore_ascii_case("Id") {
            out.insert("Id".into(), Value::String(record.id.clone()));
            continue;
        }
        match field_of(record, field) {
            Some((name, value)) => out.insert(name.clone(), value.clone()),
            None => out.insert(field.clone(), Value::Null),
        };
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_in_and_equals_with_escapes() {
        let query = parse(
            r"select Id, Name FROM Obj__c where Ext__c IN ('a', 'o\'brien\\x') and Name = 'n'",
        )
        .unwrap();
        assert_eq!(query.fields, ["Id", "Name"]);
        assert_eq!(query.object, "Obj__c");
        assert_eq!(
            query.conditions,
            [
                (
                    "Ext__c".to_string(),
                    vec!["a".to_string(), r"o'brien\x".to_string()]
                ),
                ("Name".to_string(), vec!["n".to_string()]),
            ]
        );
        assert_eq!(parse("SELECT Id FROM X LIMIT 5").unwrap().limit, Some(5));
    }

    #[test]
    fn rejects_what_it_cannot_parse() {
        for bad in [
            "",
            "SELECT FROM X",
            "SELECT Id FROM X WHERE A = 'unterminated",
            "SELECT Id FROM X WHERE A = 'x' OR B = 'y'",
            "SELECT Id FROM X WHERE A IN ('x',)",
            r"SELECT Id FROM X WHERE A = 'bad\q'",
            "SELECT Id FROM X WHERE A > 'x'",
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.code, "MALFORMED_QUERY", "{bad}");
        }
    }
}
