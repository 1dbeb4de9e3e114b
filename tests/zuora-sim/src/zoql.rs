//! A small but real ZOQL engine for `POST /v1/action/query` on the Account object:
//! `select <fields> from Account [where <field> <op> <literal> [and|or ...]]`.
//!
//! Rules enforced as Zuora documents them: keywords in lower case, string literals in single
//! quotes with `\'` and `\\` escapes, no `*`, no parentheses; `and` binds tighter than `or`.
//! A literal is data only — its content can never change the query's structure.

use serde_json::{Map, Value};

use crate::errors::ApiError;
use crate::query::{Literal, Op, matches, resolve_field};
use crate::render::{oq_account_field, oq_account_field_names};
use crate::time::to_zoql_datetime;

const KEYWORDS: [&str; 5] = ["select", "from", "where", "and", "or"];
const SYNTAX_ERROR: &str = "You have an error in your ZOQL syntax";

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Comma,
    Star,
    Op(Op),
    Text(String),
    Number(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub field: String,
    pub op: Op,
    pub literal: Literal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub fields: Vec<String>,
    pub object: String,
    /// Disjunction of conjunctions: `a and b or c` is `[[a, b], [c]]`. Empty means no `where`.
    pub filter: Vec<Vec<Condition>>,
}

fn syntax_error() -> ApiError {
    ApiError::malformed_query(SYNTAX_ERROR)
}

/// Splits a query into tokens; `dotted` lets names hold dots (`Account.Name`, export ZOQL).
fn tokenize(text: &str, dotted: bool) -> Result<Vec<Token>, ApiError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            ',' => {
                chars.next();
                tokens.push(Token::Comma);
            }
            '*' => {
                chars.next();
                tokens.push(Token::Star);
            }
            '\'' => {
                chars.next();
                tokens.push(Token::Text(string_literal(&mut chars)?));
            }
            '=' | '!' | '<' | '>' => tokens.push(Token::Op(operator(&mut chars)?)),
            c if c.is_ascii_digit() || c == '-' => tokens.push(Token::Number(number(&mut chars)?)),
            c if c.is_alphabetic() || c == '_' => {
                let word = take_while(&mut chars, |c| {
                    c.is_alphanumeric() || c == '_' || (dotted && c == '.')
                });
                tokens.push(Token::Word(word));
            }
            _ => return Err(syntax_error()),
        }
    }
    Ok(tokens)
}

fn take_while(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    keep: impl Fn(char) -> bool,
) -> String {
    let mut out = String::new();
    while let Some(&c) = chars.peek().filter(|c| keep(**c)) {
        out.push(c);
        chars.next();
    }
    out
}

/// Reads the rest of a single-quoted literal (the opening quote is consumed).
fn string_literal(chars: &mut impl Iterator<Item = char>) -> Result<String, ApiError> {
    let mut out = String::new();
    loop {
        match chars.next() {
            None => return Err(syntax_error()),
            Some('\'') => return Ok(out),
            Some('\\') => match chars.next() {
                Some(escaped @ ('\'' | '\\' | '"')) => out.push(escaped),
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                _ => return Err(syntax_error()),
            },
            Some(c) => out.push(c),
        }
    }
}

fn operator(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Op, ApiError> {
    let first = chars.next().ok_or_else(syntax_error)?;
    let second = chars.next_if(|c| matches!(c, '=' | '>'));
    let op = match (first, second) {
        ('=', None) => Op::Eq,
        ('!', Some('=')) | ('<', Some('>')) => Op::Ne,
        ('<', None) => Op::Lt,
        ('<', Some('=')) => Op::Le,
        ('>', None) => Op::Gt,
        ('>', Some('=')) => Op::Ge,
        _ => return Err(syntax_error()),
    };
    Ok(op)
}

fn number(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<f64, ApiError> {
    let mut text = String::new();
    if let Some(minus) = chars.next_if_eq(&'-') {
        text.push(minus);
    }
    text.push_str(&take_while(chars, |c| c.is_ascii_digit() || c == '.'));
    text.parse().map_err(|_| syntax_error())
}

/// Parses a ZOQL query string.
pub fn parse(text: &str) -> Result<Query, ApiError> {
    parse_tokens(tokenize(text, false)?)
}

/// Parses an export ZOQL query (AQuA `zoqlexport`), whose field names may be qualified by an
/// object: `select Account.Name, Id from Subscription`.
pub fn parse_export(text: &str) -> Result<Query, ApiError> {
    parse_tokens(tokenize(text, true)?)
}

fn parse_tokens(tokens: Vec<Token>) -> Result<Query, ApiError> {
    let mut parser = Parser { tokens, pos: 0 };
    parser.keyword("select")?;
    let fields = parser.field_list()?;
    parser.keyword("from")?;
    let object = parser.identifier()?;
    let filter = if parser.at_end() {
        Vec::new()
    } else {
        parser.keyword("where")?;
        parser.disjunction()?
    };
    if !parser.at_end() {
        return Err(syntax_error());
    }
    Ok(Query {
        fields,
        object,
        filter,
    })
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    /// Consumes `keyword` if it is next; ZOQL keywords must be lower case.
    fn eat_keyword(&mut self, keyword: &str) -> bool {
        match self.tokens.get(self.pos) {
            Some(Token::Word(word)) if word == keyword => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    fn keyword(&mut self, keyword: &str) -> Result<(), ApiError> {
        if self.eat_keyword(keyword) {
            Ok(())
        } else {
            Err(syntax_error())
        }
    }

    /// A field or object name: a word that is not a keyword in any letter case.
    fn identifier(&mut self) -> Result<String, ApiError> {
        match self.next() {
            Some(Token::Word(word))
                if !KEYWORDS.iter().any(|kw| kw.eq_ignore_ascii_case(&word)) =>
            {
                Ok(word)
            }
            _ => Err(syntax_error()),
        }
    }

    fn field_list(&mut self) -> Result<Vec<String>, ApiError> {
        let mut fields = vec![self.identifier()?];
        while self.tokens.get(self.pos) == Some(&Token::Comma) {
            self.pos += 1;
            fields.push(self.identifier()?);
        }
        Ok(fields)
    }

    fn disjunction(&mut self) -> Result<Vec<Vec<Condition>>, ApiError> {
        let mut any = vec![self.conjunction()?];
        while self.eat_keyword("or") {
            any.push(self.conjunction()?);
        }
        Ok(any)
    }

    fn conjunction(&mut self) -> Result<Vec<Condition>, ApiError> {
        let mut all = vec![self.condition()?];
        while self.eat_keyword("and") {
            all.push(self.condition()?);
        }
        Ok(all)
    }

    fn condition(&mut self) -> Result<Condition, ApiError> {
        let field = self.identifier()?;
        let Some(Token::Op(op)) = self.next() else {
            return Err(syntax_error());
        };
        let literal = match self.next() {
            Some(Token::Text(text)) => Literal::Text(text),
            Some(Token::Number(number)) => Literal::Number(number),
            Some(Token::Word(word)) if word == "null" => Literal::Null,
            Some(Token::Word(word)) if word == "true" || word == "false" => {
                Literal::Bool(word == "true")
            }
            _ => return Err(syntax_error()),
        };
        Ok(Condition { field, op, literal })
    }
}

fn invalid_field(object: &str, field: &str) -> ApiError {
    ApiError::ActionFault {
        code: "INVALID_FIELD",
        message: format!(
            "invalid field for query: {object}.{}",
            field.to_ascii_lowercase()
        ),
    }
}

/// Runs a parsed query against the canonical accounts and returns the records, PascalCase
/// field names, null fields omitted.
pub fn execute(query: &Query, accounts: &[Value]) -> Result<Vec<Value>, ApiError> {
    if !query.object.eq_ignore_ascii_case("Account") {
        return Err(ApiError::ActionFault {
            code: "INVALID_TYPE",
            message: format!("invalid type for query: {}", query.object),
        });
    }
    let resolve = |name: &str| {
        resolve_field(name, accounts.iter().flat_map(oq_account_field_names))
            .ok_or_else(|| invalid_field("Account", name))
    };
    let mut selected = Vec::new();
    for name in &query.fields {
        let canonical = resolve(name)?;
        if !selected.contains(&canonical) {
            selected.push(canonical);
        }
    }
    let mut filter = Vec::new();
    for all in &query.filter {
        let resolved = all
            .iter()
            .map(|condition| Ok((resolve(&condition.field)?, condition)))
            .collect::<Result<Vec<_>, ApiError>>()?;
        filter.push(resolved);
    }
    let records = accounts
        .iter()
        .filter(|account| {
            filter.is_empty()
                || filter.iter().any(|all| {
                    all.iter().all(|(field, condition)| {
                        let value = oq_account_field(account, field);
                        matches(value, condition.op, &condition.literal)
                    })
                })
        })
        .map(|account| record(account, &selected))
        .collect();
    Ok(records)
}

fn record(account: &Value, selected: &[String]) -> Value {
    let mut out = Map::new();
    for field in selected {
        let Some(value) = oq_account_field(account, field) else {
            continue;
        };
        let value = match (field.as_str(), value) {
            ("createdDate" | "updatedDate", Value::String(iso)) => {
                Value::String(to_zoql_datetime(iso))
            }
            _ => value.clone(),
        };
        out.insert(pascal_case(field), value);
    }
    Value::Object(out)
}

fn pascal_case(field: &str) -> String {
    let mut chars = field.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts() -> Vec<Value> {
        let fixtures: Value = serde_json::from_str(include_str!("../fixtures/demo.json")).unwrap();
        fixtures["accounts"].as_array().unwrap().clone()
    }

    fn run(text: &str) -> Result<Vec<Value>, ApiError> {
        execute(&parse(text)?, &accounts())
    }

    fn numbers(records: &[Value]) -> Vec<&str> {
        records
            .iter()
            .map(|record| record["AccountNumber"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn selects_by_custom_field() {
        let records = run(
            "select Id, AccountNumber from Account where LimioExternalId__c = 'limio-shared-42'",
        )
        .unwrap();
        assert_eq!(numbers(&records), ["A00000002", "A00000003"]);
        assert_eq!(records[0]["Id"], "8a90a1b27c1f4e2d017c2b3c4d5e0002");
    }

    #[test]
    fn escaped_quotes_and_backslashes_match_literally() {
        let records =
            run(r"select AccountNumber from Account where LimioExternalId__c = 'o\'brien\\7'")
                .unwrap();
        assert_eq!(numbers(&records), ["A00000004"]);
        let injected = run(
            r"select AccountNumber from Account where LimioExternalId__c = 'x\' or 1=1 or Name != \'z'",
        )
        .unwrap();
        assert!(injected.is_empty());
    }

    #[test]
    fn unicode_and_precedence() {
        let records =
            run("select AccountNumber from Account where Name = 'Zoë Ærøskøbing ApS'").unwrap();
        assert_eq!(numbers(&records), ["A00000004"]);
        let records = run(
            "select AccountNumber from Account where Status = 'Draft' or Currency = 'EUR' and BillCycleDay = 1",
        )
        .unwrap();
        assert_eq!(numbers(&records), ["A00000003", "A00000004"]);
    }

    #[test]
    fn timestamps_nulls_and_formatting() {
        let records = run(
            "select AccountNumber, UpdatedDate, CrmId from Account where UpdatedDate > '2025-03-02T00:00:00Z'",
        )
        .unwrap();
        assert_eq!(numbers(&records), ["A00000001", "A00000004"]);
        assert_eq!(records[0]["UpdatedDate"], "2025-03-21T03:24:15.000-07:00");
        assert!(records[1].get("CrmId").is_none());
        let no_crm = run("select AccountNumber from Account where CrmId = null").unwrap();
        assert_eq!(numbers(&no_crm), ["A00000003", "A00000004"]);
    }

    #[test]
    fn malformed_queries_are_faults() {
        for text in [
            "SELECT Id FROM Account",
            "select * from Account",
            "select Id from Account where Name = 'unterminated",
            "select Id from Account where (Name = 'x')",
            "select Id from Account where Name = 'x' and",
            "select Id, from Account",
            r"select Id from Account where Name = 'bad \q escape'",
            "select Id from Account where Name = x",
        ] {
            let err = run(text).unwrap_err();
            assert!(
                matches!(
                    err,
                    ApiError::ActionFault {
                        code: "MALFORMED_QUERY",
                        ..
                    }
                ),
                "{text}"
            );
        }
        assert!(matches!(
            run("select Nope from Account").unwrap_err(),
            ApiError::ActionFault {
                code: "INVALID_FIELD",
                ..
            }
        ));
        assert!(matches!(
            run("select Id from Invoice").unwrap_err(),
            ApiError::ActionFault {
                code: "INVALID_TYPE",
                ..
            }
        ));
    }
}
