//! Each function's role in `template.yaml` against what the tests saw it do
//! ([`crate::aws_ops`]): every recorded permission must be granted, every grant must be used
//! (by the code, or by the Lambda platform on the function's behalf), and no grant may use a
//! wildcard. Resources compare by the template's logical ids.

use crate::aws_ops::Permission;
use serde_norway::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Template parameters that appear in resources, bound to what the local stack uses.
pub const TEST_PARAMETERS: [(&str, &str); 1] =
    [("NotificationEmailDomain", crate::app::TEST_EMAIL_DOMAIN)];

/// One function as the template declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRole {
    /// The binary (`BuildProperties.Binary`), which the recorder names functions by.
    pub function: String,
    pub role: String,
    pub granted: BTreeSet<Permission>,
    /// What the platform does with the function's role: write its logs, poll its SQS queues.
    pub platform: BTreeSet<Permission>,
}

/// Why a permission is in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Granted and used by the code.
    Used,
    /// Granted for the Lambda platform (logs, the SQS event source).
    Platform,
    /// Used by the code but not granted: fails in AWS with AccessDenied.
    Missing,
    /// Granted but nothing uses it.
    Unused,
    /// Granted with a `*` in the action or resource.
    Wildcard,
}

impl Verdict {
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Missing | Self::Unused | Self::Wildcard)
    }
}

/// One function's permissions, each with its verdict.
pub type Table = BTreeMap<Permission, Verdict>;

/// Compares one role with what its function was recorded doing.
pub fn compare(role: &FunctionRole, recorded: &BTreeSet<Permission>) -> Table {
    let mut table = Table::new();
    for p in &role.granted {
        let verdict = if p.action.contains('*') || p.resource.contains('*') {
            Verdict::Wildcard
        } else if recorded.contains(p) {
            Verdict::Used
        } else if role.platform.contains(p) {
            Verdict::Platform
        } else {
            Verdict::Unused
        };
        table.insert(p.clone(), verdict);
    }
    for p in recorded.iter().chain(&role.platform) {
        table.entry(p.clone()).or_insert(Verdict::Missing);
    }
    table
}

/// Every function of the template with its role, by binary name.
pub fn roles(template: &Value) -> Result<Vec<FunctionRole>, String> {
    let resources = template["Resources"]
        .as_mapping()
        .ok_or("the template has no Resources")?;
    let mut out = Vec::new();
    for (id, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let id = id.as_str().unwrap_or("?");
        let function = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .ok_or(format!("{id} names no binary"))?
            .to_string();
        let props = &resource["Properties"];
        let role = reference(&props["Role"])?;
        let role = role.strip_suffix(".Arn").unwrap_or(&role).to_string();
        let policies = &template["Resources"][role.as_str()]["Properties"]["Policies"];
        out.push(FunctionRole {
            function,
            granted: grants(policies).map_err(|e| format!("{role}: {e}"))?,
            platform: platform(props)?,
            role,
        });
    }
    Ok(out)
}

/// The Allow statements of a role's inline policies, one permission per action × resource.
fn grants(policies: &Value) -> Result<BTreeSet<Permission>, String> {
    let mut out = BTreeSet::new();
    for policy in policies.as_sequence().ok_or("no Policies")? {
        for statement in policy["PolicyDocument"]["Statement"]
            .as_sequence()
            .ok_or("a policy without statements")?
        {
            if statement["Effect"].as_str() != Some("Allow") {
                return Err(format!("only Allow statements are expected: {statement:?}"));
            }
            for action in strings(&statement["Action"])? {
                for resource in list(&statement["Resource"]) {
                    out.insert(Permission::new(action.clone(), resource_name(resource)?));
                }
            }
        }
    }
    Ok(out)
}

/// Lambda writes the function's logs with its role, and its SQS event source mapping polls,
/// deletes and hands back messages with it (ChangeMessageVisibility for failed batch items).
fn platform(props: &Value) -> Result<BTreeSet<Permission>, String> {
    let mut out = BTreeSet::new();
    let log_group = reference(&props["LoggingConfig"]["LogGroup"])?;
    for action in ["logs:CreateLogStream", "logs:PutLogEvents"] {
        out.insert(Permission::new(action, log_group.clone()));
    }
    for event in props["Events"].as_mapping().into_iter().flatten() {
        if event.1["Type"].as_str() == Some("SQS") {
            let queue = resource_name(&event.1["Properties"]["Queue"])?;
            for action in [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueAttributes",
            ] {
                out.insert(Permission::new(action, queue.clone()));
            }
        }
    }
    Ok(out)
}

fn list(v: &Value) -> Vec<&Value> {
    match v.as_sequence() {
        Some(items) => items.iter().collect(),
        None => vec![v],
    }
}

fn strings(v: &Value) -> Result<Vec<String>, String> {
    list(v)
        .into_iter()
        .map(|a| a.as_str().map(str::to_string).ok_or(format!("{a:?}")))
        .collect()
}

/// `!Ref X` or `!GetAtt X.Attr`, as written.
fn reference(v: &Value) -> Result<String, String> {
    match v {
        Value::Tagged(t) if t.tag == "Ref" || t.tag == "GetAtt" => {
            t.value.as_str().map(str::to_string).ok_or(format!("{v:?}"))
        }
        _ => Err(format!("expected !Ref or !GetAtt, got {v:?}")),
    }
}

/// A policy resource by logical id: `!GetAtt MirrorTable.Arn` → `MirrorTable`,
/// `!Sub "${EventsTable.Arn}/index/by_account"` → `EventsTable/index/by_account`, an SES
/// identity ARN → `identity/<name>`; a plain string stays as written (e.g. `*`).
fn resource_name(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        // A parameter holding an ARN (a secret): named by the parameter.
        Value::Tagged(t) if t.tag == "Ref" => {
            t.value.as_str().map(str::to_string).ok_or(format!("{v:?}"))
        }
        Value::Tagged(t) if t.tag == "GetAtt" => {
            let target = t.value.as_str().ok_or(format!("{v:?}"))?;
            Ok(target.strip_suffix(".Arn").unwrap_or(target).to_string())
        }
        Value::Tagged(t) if t.tag == "Sub" => {
            let mut s = t.value.as_str().ok_or(format!("{v:?}"))?.to_string();
            for (name, value) in TEST_PARAMETERS {
                s = s.replace(&format!("${{{name}}}"), value);
            }
            // ${Resource.Arn} → Resource
            while let Some(start) = s.find("${") {
                let end = s[start..].find('}').ok_or(format!("{v:?}"))? + start;
                let inner = s[start + 2..end].to_string();
                let name = inner.strip_suffix(".Arn").unwrap_or(&inner).to_string();
                s.replace_range(start..=end, &name);
            }
            // arn:…:ses:<region>:<account>:identity/<name> → identity/<name>
            Ok(match s.rfind(":identity/") {
                Some(at) => s[at + 1..].to_string(),
                None => s,
            })
        }
        _ => Err(format!("unexpected resource {v:?}")),
    }
}

/// Reads the lines `function\taction\tresource` of every file in `dir`.
pub fn read_recorded(
    dir: &std::path::Path,
) -> Result<BTreeMap<String, BTreeSet<Permission>>, String> {
    let mut out: BTreeMap<String, BTreeSet<Permission>> = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        for line in text.lines() {
            let mut parts = line.split('\t');
            if let (Some(f), Some(a), Some(r)) = (parts.next(), parts.next(), parts.next()) {
                out.entry(f.to_string())
                    .or_default()
                    .insert(Permission::new(a, r));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role() -> FunctionRole {
        FunctionRole {
            function: "sync-sweep".into(),
            role: "SyncSweepRole".into(),
            granted: [
                Permission::new("dynamodb:GetItem", "StateTable"),
                Permission::new("logs:PutLogEvents", "SweepLogs"),
            ]
            .into(),
            platform: [Permission::new("logs:PutLogEvents", "SweepLogs")].into(),
        }
    }

    #[test]
    fn a_used_action_that_is_not_granted_is_missing() {
        let recorded = [
            Permission::new("dynamodb:GetItem", "StateTable"),
            Permission::new("dynamodb:BatchGetItem", "StateTable"),
        ]
        .into();
        let table = compare(&role(), &recorded);
        assert_eq!(
            table[&Permission::new("dynamodb:BatchGetItem", "StateTable")],
            Verdict::Missing
        );
        assert_eq!(
            table[&Permission::new("dynamodb:GetItem", "StateTable")],
            Verdict::Used
        );
        assert_eq!(
            table[&Permission::new("logs:PutLogEvents", "SweepLogs")],
            Verdict::Platform
        );
    }

    #[test]
    fn a_grant_nothing_uses_and_a_wildcard_fail() {
        let mut role = role();
        role.granted
            .insert(Permission::new("dynamodb:Query", "StateTable/index/*"));
        let table = compare(&role, &BTreeSet::new());
        assert_eq!(
            table[&Permission::new("dynamodb:GetItem", "StateTable")],
            Verdict::Unused
        );
        assert_eq!(
            table[&Permission::new("dynamodb:Query", "StateTable/index/*")],
            Verdict::Wildcard
        );
    }

    #[test]
    fn platform_needs_that_are_not_granted_are_missing() {
        let mut role = role();
        role.granted.clear();
        let table = compare(&role, &BTreeSet::new());
        assert_eq!(
            table[&Permission::new("logs:PutLogEvents", "SweepLogs")],
            Verdict::Missing
        );
    }

    #[test]
    fn the_template_is_read_by_logical_ids() {
        let template: Value = serde_norway::from_str(
            r#"
Resources:
  F:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: sync-worker}}
    Properties:
      Role: !GetAtt FRole.Arn
      LoggingConfig: {LogGroup: !Ref FLogs}
      Events:
        Jobs: {Type: SQS, Properties: {Queue: !GetAtt Q.Arn}}
  FRole:
    Type: AWS::IAM::Role
    Properties:
      Policies:
        - PolicyDocument:
            Statement:
              - Effect: Allow
                Action: [dynamodb:Query]
                Resource:
                  - !Sub "${EventsTable.Arn}/index/by_account"
              - Effect: Allow
                Action: ses:SendEmail
                Resource: !Sub "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${NotificationEmailDomain}"
"#,
        )
        .unwrap();
        let roles = roles(&template).unwrap();
        assert_eq!(roles.len(), 1);
        assert_eq!(roles[0].function, "sync-worker");
        assert_eq!(roles[0].role, "FRole");
        assert_eq!(
            roles[0].granted,
            [
                Permission::new("dynamodb:Query", "EventsTable/index/by_account"),
                Permission::new(
                    "ses:SendEmail",
                    format!("identity/{}", crate::app::TEST_EMAIL_DOMAIN)
                ),
            ]
            .into()
        );
        assert!(
            roles[0]
                .platform
                .contains(&Permission::new("sqs:DeleteMessage", "Q"))
        );
        assert!(
            roles[0]
                .platform
                .contains(&Permission::new("logs:CreateLogStream", "FLogs"))
        );
    }
}
